"""The CLI contract: file->file, files/folder->folder, and one-line errors with no partial output."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from srcnn.apps.cli import main
from srcnn.models import SRCNN, SRCNNConfig
from srcnn.protocol.resize import imresize
from srcnn.models.weights import save_model
from conftest import smooth_image


def write(path, array):
    Image.fromarray(array).save(path)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def weights(tmp_path):
    model = SRCNN(SRCNNConfig.from_arch("9-1-5", 8, 4, residual=True))
    model.init_weights("kaiming")
    path = tmp_path / "x3.safetensors"
    save_model(model, path, scale=3)
    return path


def test_upscale_file_to_file_with_bicubic(tmp_path, capsys):
    src = write(tmp_path / "in.png", smooth_image(20, 30, channels=3))
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "out.png", "--scale", "3", "--method", "bicubic")
    assert code == 0, err
    out = np.asarray(Image.open(tmp_path / "out.png"))
    np.testing.assert_array_equal(out, imresize(smooth_image(20, 30, channels=3), 3))


def test_upscale_with_a_weights_file(tmp_path, capsys, weights):
    src = write(tmp_path / "in.png", smooth_image(20, 30))
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "out.jpg", "--scale", "3", "--model", weights)
    assert code == 0, err
    out = Image.open(tmp_path / "out.jpg")
    assert out.format == "JPEG" and out.mode == "L" and out.size == (90, 60)


def test_upscale_folder_to_folder_keeps_paths_and_formats(tmp_path, capsys):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    write(folder / "a.bmp", smooth_image(10, 12, channels=3))
    write(folder / "sub" / "b.jpg", smooth_image(8, 9, channels=3))
    code, _, err = run(capsys, "upscale", folder, "-o", tmp_path / "out", "--scale", "2", "--method", "bicubic")
    assert code == 0, err
    assert Image.open(tmp_path / "out" / "a.bmp").size == (24, 20)
    assert Image.open(tmp_path / "out" / "sub" / "b.jpg").size == (18, 16)
    code, _, err = run(capsys, "upscale", folder, "-o", tmp_path / "png", "--scale", "2", "--method", "bicubic",
                       "--ext", "png")
    assert code == 0, err
    assert Image.open(tmp_path / "png" / "a.png").format == "PNG"
    assert Image.open(tmp_path / "png" / "sub" / "b.png").format == "PNG"


def test_several_files_to_a_folder(tmp_path, capsys):
    a = write(tmp_path / "a.png", smooth_image(10, 10))
    b = write(tmp_path / "b.tif", smooth_image(11, 10))
    code, _, err = run(capsys, "upscale", a, b, "-o", tmp_path / "out", "--scale", "4", "--method", "bicubic")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.tif"]


def test_evaluate_prints_a_table_and_writes_json(tmp_path, capsys):
    folder = tmp_path / "set"
    folder.mkdir()
    write(folder / "one.png", smooth_image(40, 44, channels=3, seed=1))
    write(folder / "two.png", smooth_image(36, 30, seed=2))
    code, out, err = run(capsys, "evaluate", folder, "--scale", "2", "--method", "bicubic", "--json", tmp_path / "r.json")
    assert code == 0, err
    assert "one" in out and "two" in out and "mean" in out
    result = json.loads((tmp_path / "r.json").read_text())
    assert [i["name"] for i in result["images"]] == ["one", "two"]
    mean = np.mean([i["psnr"] for i in result["images"]])
    assert result["mean"]["psnr"] == pytest.approx(mean)
    assert 0 < result["mean"]["ssim"] <= 1


def test_missing_input_is_one_line_error(tmp_path, capsys):
    code, _, err = run(capsys, "upscale", tmp_path / "nope.png", "-o", tmp_path / "o.png", "--scale", "2", "--method", "bicubic")
    assert_one_line_error(code, err, "nope.png")
    assert not (tmp_path / "o.png").exists()


def test_truncated_image_leaves_no_output(tmp_path, capsys):
    src = write(tmp_path / "full.png", smooth_image(64, 64, channels=3))
    data = src.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    code, _, err = run(capsys, "upscale", tmp_path / "cut.png", "-o", tmp_path / "o.png", "--scale", "2", "--method", "bicubic")
    assert_one_line_error(code, err, "cut.png")
    assert list(tmp_path.glob("o.png*")) == [] and list(tmp_path.glob(".o.png*")) == []


def test_not_an_image_is_one_line_error(tmp_path, capsys):
    (tmp_path / "text.png").write_text("hello")
    code, _, err = run(capsys, "upscale", tmp_path / "text.png", "-o", tmp_path / "o.png", "--scale", "2", "--method", "bicubic")
    assert_one_line_error(code, err, "text.png")


def test_unsupported_scale_is_one_line_error(tmp_path, capsys):
    src = write(tmp_path / "in.png", smooth_image(10, 10))
    with pytest.raises(SystemExit) as exc:
        main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--scale", "5"])
    _, err = capsys.readouterr()
    assert_one_line_error(exc.value.code, err, "--scale")


def test_weights_for_another_scale_are_refused(tmp_path, capsys, weights):
    src = write(tmp_path / "in.png", smooth_image(10, 10))
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "o.png", "--scale", "2", "--model", weights)
    assert_one_line_error(code, err, "x3, not x2")
    assert not (tmp_path / "o.png").exists()


def test_weights_that_are_not_ours_are_refused(tmp_path, capsys):
    src = write(tmp_path / "in.png", smooth_image(10, 10))
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a safetensors file at all")
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "o.png", "--scale", "2", "--model", bogus)
    assert_one_line_error(code, err, "bogus.safetensors")
    code, _, err = run(capsys, "evaluate", tmp_path, "--scale", "2", "--model", tmp_path / "absent.safetensors")
    assert_one_line_error(code, err, "absent.safetensors")


def test_folder_with_a_bad_file_upscales_the_rest_and_exits_1(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "good.png", smooth_image(10, 10))
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code, out, err = run(capsys, "upscale", folder, "-o", tmp_path / "out", "--scale", "2", "--method", "bicubic")
    assert code == 1 and "bad.png" in err  # 1: some inputs failed, the others were written
    assert "wrote 1 of 2 files" in out and "failed 1" in out
    assert (tmp_path / "out" / "good.png").exists() and not (tmp_path / "out" / "bad.png").exists()


def test_console_command_runs(tmp_path):
    src = write(tmp_path / "in.png", smooth_image(12, 12, channels=3))
    done = subprocess.run([sys.executable, "-m", "srcnn", "upscale", str(src), "-o", str(tmp_path / "o.png"),
                           "--scale", "2", "--method", "bicubic"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "o.png").size == (24, 24)


def test_ensemble_with_bicubic_is_one_line_error(tmp_path, capsys):
    src = write(tmp_path / "in.png", smooth_image(10, 10))
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "o.png", "--scale", "2", "--method", "bicubic",
                       "--ensemble")
    assert_one_line_error(code, err, "--ensemble")
    assert not (tmp_path / "o.png").exists()


def test_ensemble_upscale_and_evaluate_run_the_eight_symmetries(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    torch_model = SRCNN(SRCNNConfig.from_arch("9-1-5", 8, 4, residual=True))
    torch_model.init_weights("kaiming")
    save_model(torch_model, model, scale=2)
    (tmp_path / "set").mkdir()
    src = write(tmp_path / "set" / "in.png", smooth_image(20, 24, channels=3))
    plain, _, _ = run(capsys, "upscale", src, "-o", tmp_path / "plain.png", "--scale", "2", "--model", model)
    code, _, _ = run(capsys, "upscale", src, "-o", tmp_path / "ens.png", "--scale", "2", "--model", model, "--ensemble")
    assert plain == code == 0
    a, b = np.asarray(Image.open(tmp_path / "plain.png")), np.asarray(Image.open(tmp_path / "ens.png"))
    assert a.shape == b.shape == (40, 48, 3) and not np.array_equal(a, b)
    code, out, _ = run(capsys, "evaluate", tmp_path / "set", "--scale", "2", "--model", model, "--ensemble")
    assert code == 0 and "in" in out


def test_a_reader_that_goes_away_ends_the_command_quietly(monkeypatch, capsys):
    """`srcnn models | head -1`: the pipe closes under the listing; no traceback, exit 141 (as SIGPIPE)."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE
    closed = os.fdopen(write_end, "w", buffering=1)
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        assert main(["models"]) == 141
    finally:
        closed.close()
    assert "Traceback" not in capsys.readouterr().err
