"""srcnn restore (scale-1 models, same path as upscale) and srcnn evaluate --degradation."""

import json

import numpy as np
import pytest
from PIL import Image

from srcnn.apps.cli import main
from srcnn.models import SRCNN, SRCNNConfig
from srcnn.models.weights import read_metadata, save_model
from conftest import smooth_image


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0]


def tiny_model(path, scale, **extra):
    model = SRCNN(SRCNNConfig.from_arch("9-1-5", 8, 4, residual=True))
    model.init_weights("kaiming")
    save_model(model, path, scale=scale, **extra)
    return path


@pytest.fixture
def denoiser(tmp_path):
    return tiny_model(tmp_path / "denoise.safetensors", 1, task="denoise")


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "I;16"])
def test_restore_keeps_size_and_mode(tmp_path, capsys, denoiser, mode):
    if mode == "I;16":
        image = Image.fromarray((smooth_image(21, 30, seed=3).astype(np.uint16) * 257))
    elif mode == "RGBA":
        rgba = np.dstack([smooth_image(21, 30, channels=3, seed=3), smooth_image(21, 30, seed=4)])
        image = Image.fromarray(rgba, "RGBA")
    else:
        image = Image.fromarray(smooth_image(21, 30, channels=3 if mode == "RGB" else None, seed=3))
    src = tmp_path / "in.png"
    image.save(src)
    code, out, err = run(capsys, "restore", src, "-o", tmp_path / "out.png", "--task", "denoise", "--model", denoiser,
                         "--threads", "1")
    assert code == 0, err
    with Image.open(src) as a, Image.open(tmp_path / "out.png") as b:
        assert b.size == a.size and b.mode == a.mode


def test_restore_folder_to_folder_as_upscale_does(tmp_path, capsys, denoiser):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(smooth_image(20, 24, seed=1)).save(folder / "a.png")
    Image.fromarray(smooth_image(20, 24, channels=3, seed=2)).save(folder / "b.jpg")
    code, out, err = run(capsys, "restore", folder, "-o", tmp_path / "out", "--task", "denoise", "--model", denoiser,
                         "--threads", "1")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.jpg"]
    # an existing output is refused, as in upscale
    code, _, err = run(capsys, "restore", folder, "-o", tmp_path / "out", "--task", "denoise", "--model", denoiser)
    assert_one_line_error(code, err, "exists")


def test_scale_1_weights_given_to_upscale_is_one_line(tmp_path, capsys, denoiser):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(20, 24)).save(src)
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "out.png", "--scale", "3", "--model", denoiser)
    assert_one_line_error(code, err, "restoration model", "srcnn restore")
    assert not (tmp_path / "out.png").exists()


def test_bad_restore_inputs_are_one_line(tmp_path, capsys, denoiser):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(20, 24)).save(src)
    sr = tiny_model(tmp_path / "x3.safetensors", 3)
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "restore", src, "-o", out, "--task", "denoise", "--model", sr)
    assert_one_line_error(code, err, "super-resolution model", "srcnn upscale --scale 3")
    code, _, err = run(capsys, "restore", src, "-o", out, "--task", "sharpen", "--model", denoiser)
    assert_one_line_error(code, err, "unknown task")
    code, _, err = run(capsys, "restore", src, "-o", out, "--task", "jpeg", "--model", denoiser)
    assert_one_line_error(code, err, "task denoise, not jpeg")
    assert not out.exists()


def test_training_at_scale_1_writes_the_task(tmp_path):
    from srcnn.training.train import task_metadata
    from srcnn.training.train_config import TrainConfig

    assert task_metadata(TrainConfig(scale=1, degradation="noise:0-50")) == {"task": "denoise"}
    assert task_metadata(TrainConfig(scale=1, degradation="jpeg:5-90")) == {"task": "jpeg"}
    assert task_metadata(TrainConfig(scale=3, degradation="jpeg:75")) == {}
    path = tiny_model(tmp_path / "w.safetensors", 1, **task_metadata(TrainConfig(scale=1, degradation="noise")))
    assert read_metadata(path)["task"] == "denoise"


def evaluate(capsys, folder, out, *extra):
    code, _, err = run(capsys, "evaluate", folder, "--scale", "2", "--method", "bicubic", "--json", out, *extra)
    assert code == 0, err
    return json.loads(out.read_text())


def test_evaluate_degradation_is_repeatable_to_the_bit_per_seed(tmp_path, capsys):
    folder = tmp_path / "set"
    folder.mkdir()
    Image.fromarray(smooth_image(40, 44, channels=3, seed=1)).save(folder / "one.png")
    Image.fromarray(smooth_image(36, 30, seed=2)).save(folder / "two.png")
    clean = evaluate(capsys, folder, tmp_path / "c.json")
    first = evaluate(capsys, folder, tmp_path / "a.json", "--degradation", "noise:10", "--seed", "4")
    again = evaluate(capsys, folder, tmp_path / "b.json", "--degradation", "noise:10", "--seed", "4")
    other = evaluate(capsys, folder, tmp_path / "d.json", "--degradation", "noise:10", "--seed", "5")
    assert first == again
    assert first["images"] != other["images"]
    assert first["degradation"] == "noise:10" and first["seed"] == 4
    assert clean["degradation"] == "bicubic"
    assert first["mean"]["psnr"] < clean["mean"]["psnr"]
    jpeg = evaluate(capsys, folder, tmp_path / "j.json", "--degradation", "jpeg:10")
    assert jpeg["mean"]["psnr"] < clean["mean"]["psnr"]


def test_evaluate_bad_degradation_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", str(tmp_path), "--scale", "2", "--degradation", "jpeg:500"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "jpeg:500" in err and "Traceback" not in err


@pytest.mark.parametrize("task, degradation", [("denoise", "noise:25"), ("jpeg", "jpeg:20")])
def test_restore_without_model_runs_the_shipped_restorer_and_improves_the_input(tmp_path, capsys, task, degradation):
    """The shipped model of --task is the default, and it makes a degraded image closer to the clean one."""
    from srcnn.protocol.degrade import parse_degradation
    from srcnn.protocol.metrics import psnr

    clean = smooth_image(64, 72, seed=5)
    degraded = parse_degradation(degradation).lr(clean / 255.0, 1, np.random.default_rng(0))
    src = tmp_path / "in.png"
    Image.fromarray(np.clip(np.round(degraded * 255), 0, 255).astype(np.uint8)).save(src)
    code, _, err = run(capsys, "restore", src, "-o", tmp_path / "out.png", "--task", task, "--threads", "1", "--quiet")
    assert code == 0, err
    restored = np.asarray(Image.open(tmp_path / "out.png"))
    noisy = np.asarray(Image.open(src))
    assert psnr(clean, restored, 1) > psnr(clean, noisy, 1)


def test_model_real_picks_the_real_model_of_the_scale_and_restorers_are_refused_by_upscale(tmp_path, capsys):
    from srcnn.models.weights import find_weights, resolve_model

    for scale in (2, 3, 4):
        _, meta = resolve_model("real", scale)
        assert meta["scale"] == str(scale) and find_weights("real", scale).name.endswith(f"REAL_X{scale}")
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(20, 24)).save(src)
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "out.png", "--scale", "3", "--model", "denoise")
    assert_one_line_error(code, err, "no shipped denoise model for x3")
