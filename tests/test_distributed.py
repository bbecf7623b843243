"""torchrun + DDP: the same weights as one process, resume across world sizes, streamed data."""

import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

from srcnn.training.train import TrainConfig, train
from conftest import shapes_image

COMMON = ["--scale", "3", "--arch", "9-1-5", "--n1", "16", "--n2", "8", "--patch-size", "24",
          "--batch-size", "8", "--warmup-steps", "5", "--lr", "3e-3", "--precision", "fp32", "--quiet"]


def srcnn_train(args, nproc=1, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if nproc == 1:
        cmd = [sys.executable, "-m", "srcnn", "train", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "srcnn", "train", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def last_weights(run_dir):
    from safetensors.torch import load_file

    return {k[6:]: v for k, v in load_file(str(run_dir / "checkpoint.safetensors")).items() if k.startswith("model.")}


def assert_close(a, b, tol=1e-5):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=tol, rtol=0), (key, (a[key] - b[key]).abs().max())


@pytest.mark.parametrize("stream", [False, True])
def test_two_processes_match_one_with_the_same_global_batch(tiny_set, tmp_path, stream):
    train_dir, val_dir = tiny_set
    data = ["--data", str(train_dir), "--val-data", str(val_dir), *COMMON, "--steps", "12", "--val-every", "6"]
    data += ["--stream", "--workers", "0"] if stream else []
    srcnn_train([*data, "--out", str(tmp_path / "one")])
    srcnn_train([*data, "--out", str(tmp_path / "two")], nproc=2)
    assert_close(last_weights(tmp_path / "one"), last_weights(tmp_path / "two"))


def test_two_process_run_resumes_with_one_process(tiny_set, tmp_path):
    train_dir, val_dir = tiny_set
    data = ["--data", str(train_dir), "--val-data", str(val_dir), *COMMON, "--steps", "16", "--val-every", "4"]
    srcnn_train([*data, "--out", str(tmp_path / "straight")])
    srcnn_train([*data, "--out", str(tmp_path / "moved"), "--stop-at", "10"], nproc=2)  # checkpoint at 8
    srcnn_train([*data, "--out", str(tmp_path / "moved"), "--resume"])
    steps = [line.split(",")[0] for line in (tmp_path / "moved" / "log.csv").read_text().splitlines()[1:]]
    assert steps == ["4", "8", "12", "16"]
    assert_close(last_weights(tmp_path / "straight"), last_weights(tmp_path / "moved"))


@pytest.mark.parametrize("stream", [False, True])
def test_a_corrupt_image_is_logged_and_skipped(tiny_set, tmp_path, caplog, stream):
    train_dir = tmp_path / "train"
    train_dir.mkdir()
    for i in range(4):
        Image.fromarray(shapes_image(i)).save(train_dir / f"ok{i}.png")
    good = (train_dir / "ok0.png").read_bytes()
    (train_dir / "broken.png").write_bytes(good[: len(good) // 3])
    cfg = TrainConfig(data=[str(train_dir)], val_data=[str(tiny_set[1])], out=str(tmp_path / "run"), scale=3,
                      arch="9-1-5", n1=8, n2=4, patch_size=24, batch_size=8, steps=6, val_every=6,
                      precision="fp32", stream=stream, workers=0)
    with caplog.at_level("WARNING"):
        train(cfg, progress=False)
    assert any("broken.png" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "run" / "best.safetensors").exists()


def test_streamed_patches_match_in_memory_pairs_away_from_region_borders(tiny_set):
    """A streamed patch is degraded from a region, not the whole image; its centre must agree."""
    from srcnn.training.data import StreamingPatches
    from srcnn.io.imageio import list_images

    from srcnn.protocol.degrade import make_input
    from srcnn.protocol.resize import modcrop

    for scale in (2, 3, 4):
        source = StreamingPatches(list_images(tiny_set[0]), scale, 16, 4, augment=False)
        x, y = source.batch(0)
        assert x.shape == y.shape == (4, 1, 16, 16)
        o = (source.region_size() - 16) // 2
        for k in range(4):
            plane, r, c = source.locate(0, k)
            whole_input, whole_target = make_input(modcrop(plane, scale) / 255.0, scale)
            window = (slice(r + o, r + o + 16), slice(c + o, c + o + 16))
            assert torch.allclose(y[k, 0].double(), torch.from_numpy(whole_target[window]), atol=1e-6)
            assert torch.allclose(x[k, 0].double(), torch.from_numpy(whole_input[window]), atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_training_runs_on_cuda(tiny_set, tmp_path):
    cfg = TrainConfig(data=[str(tiny_set[0])], val_data=[str(tiny_set[1])], out=str(tmp_path / "cuda"), scale=3,
                      arch="9-5-5", patch_size=48, batch_size=32, steps=50, val_every=50, device="cuda")
    best = train(cfg, progress=False)
    assert best.exists()


def test_streaming_skips_images_smaller_than_the_rounded_region(tmp_path, caplog):
    from srcnn.training.data import StreamingPatches

    source = StreamingPatches([tmp_path / "small.png", tmp_path / "big.png"], 3, 16, 8, augment=False)
    small = 16 + 2 * source.margin  # patch + margins, but below the region rounded up to the scale
    assert small < source.region_size()
    Image.fromarray(shapes_image(1, small)).save(tmp_path / "small.png")
    Image.fromarray(shapes_image(2, 96)).save(tmp_path / "big.png")
    with caplog.at_level("WARNING"):
        for step in range(4):  # 32 draws: the small image is picked, and must be skipped, not crash
            x, _ = source.batch(step)
            assert x.shape == (8, 1, 16, 16)
    assert any("small.png" in r.getMessage() for r in caplog.records)
