"""`srcnn batch`: the same files as `srcnn upscale`, on Ray Data and in one process; faults; reruns; S3."""

import faulthandler
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import shapes_image
from srcnn.apps import batch, cli
from srcnn.apps.batch import MANIFEST_NAME

BROKEN = "broken.png"
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
          "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray (2 CPUs) for the whole module; the batch command joins it instead of starting its own."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    faulthandler.dump_traceback_later(600, exit=True)  # a hung cluster ends the run instead of CI's clock
    saved = {k: os.environ.get(k) for k in S3_ENV}
    os.environ.update(S3_ENV)  # before ray.init: the workers inherit the emulator's credentials
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
    faulthandler.cancel_dump_traceback_later()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A dozen small images (RGB, grey, RGBA, PNG and JPEG, two in a subfolder) and one truncated file."""
    root = tmp_path_factory.mktemp("batch-in")
    (root / "sub").mkdir()
    for i in range(8):
        Image.fromarray(shapes_image(i, size=24)).save(root / f"rgb{i}.png")
    Image.fromarray(shapes_image(20, size=24)[:, :, 0]).save(root / "grey.png")
    rgba = np.dstack([shapes_image(21, size=24), shapes_image(22, size=24)[:, :, 1]])
    Image.fromarray(rgba, mode="RGBA").save(root / "alpha.png")
    Image.fromarray(shapes_image(23, size=24)).save(root / "sub" / "deep.png")
    Image.fromarray(shapes_image(24, size=24)).save(root / "sub" / "photo.jpg", quality=90)  # stays JPEG (--ext auto)
    whole = (root / "rgb0.png").read_bytes()
    (root / BROKEN).write_bytes(whole[: len(whole) // 2])
    return root


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory) -> Path:
    """What `srcnn upscale` writes for the folder (fp32); it too reports the broken file."""
    out = tmp_path_factory.mktemp("batch-ref") / "out"
    assert cli.main(["upscale", str(folder), "-o", str(out), "--scale", "2", "--precision", "fp32", "--quiet"]) != 0
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST_NAME}


def _batch(folder, out, engine, *extra) -> int:
    return cli.main(["batch", str(folder), "-o", str(out), "--scale", "2", "--precision", "fp32", "--engine", engine,
                     "--quiet", *extra])


def test_ray_writes_the_files_srcnn_upscale_writes_and_lists_the_broken_one(ray_local, folder, reference,
                                                                           tmp_path, capsys):
    out = tmp_path / "out"
    assert _batch(folder, out, "ray", "--workers", "2") == 1
    expected = _files(reference)
    assert len(expected) == 12 and "sub/photo.jpg" in expected
    assert _files(out) == expected  # byte for byte, same names
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert [f["input"] for f in manifest["failed"]] == [BROKEN]
    assert "truncated" in manifest["failed"][0]["reason"]
    assert (manifest["done"], manifest["skipped"], manifest["inputs"]) == (12, 0, 13)
    # Two actors; on a busy machine the first one up may take every file before the second starts.
    assert 1 <= len(manifest["workers"]) <= 2 and all(w["peak_rss_mib"] > 0 for w in manifest["workers"])
    err = capsys.readouterr().err
    assert f"{BROKEN}: cannot read image" in err


def test_a_rerun_skips_what_is_done_and_rewrites_nothing(ray_local, folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert _batch(folder, out, "ray") == 1
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != MANIFEST_NAME}
    capsys.readouterr()
    assert _batch(folder, out, "ray") == 1  # the broken file is tried again and fails again
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != MANIFEST_NAME} == before
    assert "upscaled 0, skipped 12, failed 1 of 13" in capsys.readouterr().out


def test_a_worker_that_dies_is_restarted_and_its_files_done(ray_local, folder, reference, tmp_path, monkeypatch):
    marker = tmp_path / "died"

    class DiesOnce(batch._RayUpscaleWorker):  # defined here, so Ray ships it to the worker by value
        def __call__(self, rows):
            if not marker.exists():
                marker.touch()
                os._exit(1)  # the worker process ends as if killed, its files unfinished
            return super().__call__(rows)

    monkeypatch.setattr(batch, "_RayUpscaleWorker", DiesOnce)
    out = tmp_path / "out"
    assert _batch(folder, out, "ray", "--workers", "1") == 1  # 1: the broken file, nothing else
    assert marker.exists()
    assert _files(out) == _files(reference)


def test_local_engine_writes_the_same_files(folder, reference, tmp_path, capsys):
    out = tmp_path / "out"
    assert _batch(folder, out, "local") == 1
    assert _files(out) == _files(reference)
    assert BROKEN in capsys.readouterr().err


def test_partial_output_left_by_a_killed_write_does_not_count_as_done(folder, reference, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".rgb1.png.x1y2.png").write_bytes(b"half a png")  # atomic_output's temporary name
    assert _batch(folder, out, "local") == 1
    assert (out / "rgb1.png").read_bytes() == (reference / "rgb1.png").read_bytes()


def test_without_ray_the_ray_engine_says_how_to_install_it(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    assert _batch(folder, tmp_path / "out", "ray") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install -e ".[ray]"' in err[0]
    assert not (tmp_path / "out").exists()


def test_bad_usage_exits_2_with_one_line(tmp_path, capsys):
    assert _batch(tmp_path / "missing", tmp_path / "out", "local") == 2
    assert capsys.readouterr().err.strip() == f"srcnn: {tmp_path / 'missing'}: no such folder"
    assert cli.main(["batch", str(tmp_path), "-o", str(tmp_path / "o"), "--scale", "2", "--engine", "local",
                     "--workers", "2"]) == 2


def test_ray_client_addresses_are_refused_in_one_line(folder, tmp_path, capsys):
    pytest.importorskip("ray")
    assert _batch(folder, tmp_path / "out", "ray", "--address", "ray://head.example:10001") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--address auto" in err[0]


@pytest.fixture(scope="module")
def s3(ray_local):
    """A bucket on moto's S3 server, on loopback; skipped where moto[server] is not installed."""
    moto_server = pytest.importorskip("moto.server")
    import pyarrow.fs as pafs

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    fs = pafs.S3FileSystem(access_key="testing", secret_key="testing", region="us-east-1", scheme="http",
                           endpoint_override=f"{host}:{port}", allow_bucket_creation=True)
    fs.create_dir("pictures")
    yield fs, f"endpoint_override={host}:{port}&scheme=http&region=us-east-1"
    server.stop()


def test_ray_reads_and_writes_s3(s3, folder, reference, capsys):
    fs, options = s3
    for rel in ("rgb2.png", "alpha.png", "sub/deep.png", BROKEN):
        with fs.open_output_stream(f"pictures/in/{rel}") as stream:
            stream.write((folder / rel).read_bytes())
    args = ["batch", f"s3://pictures/in?{options}", "-o", f"s3://pictures/out?{options}", "--scale", "2",
            "--precision", "fp32", "--engine", "ray", "--quiet"]
    assert cli.main(args) == 1
    for rel in ("rgb2.png", "alpha.png", "sub/deep.png"):
        with fs.open_input_stream(f"pictures/out/{rel}") as stream:
            assert stream.read() == (reference / rel).read_bytes()
    with fs.open_input_stream(f"pictures/out/{MANIFEST_NAME}") as stream:
        manifest = json.loads(stream.read())
    assert [f["input"] for f in manifest["failed"]] == [BROKEN] and manifest["done"] == 3
    assert f"s3://pictures/in/{BROKEN}: cannot read image" in capsys.readouterr().err
    assert cli.main(args) == 1  # a rerun skips what S3 already holds
    assert "upscaled 0, skipped 3, failed 1 of 4" in capsys.readouterr().out
