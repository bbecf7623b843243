"""The cascade family: a scale-1 restorer, then an LR-grid up-scaler, as one model."""

import csv

import numpy as np
import pytest
import torch

from conftest import export_and_compare_onnx
from srcnn.apps.cli import main
from srcnn.inference import Upscaler
from srcnn.models import SRCNN, Cascade, CascadeConfig, FSRCNN, FSRCNNConfig, SRCNNConfig
from srcnn.training.train import TrainConfig, train
from srcnn.models.weights import load_model, save_model


def _perturbed(model):
    with torch.no_grad():  # weights far from their init, so every layer matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def random_restorer(seed: int = 0, perturbed: bool = True) -> SRCNN:
    torch.manual_seed(seed)
    model = SRCNN(SRCNNConfig((3, 3, 3), (16, 16), residual=True))
    model.init_weights("kaiming")  # near the identity: a small last layer on top of the skip
    return _perturbed(model) if perturbed else model.eval()


def random_cascade(scale: int, upsampler: str = "subpixel", seed: int = 0) -> Cascade:
    restorer = random_restorer(seed)
    upscaler = FSRCNN(FSRCNNConfig(scale=scale, d=16, s=5, m=1, upsampler=upsampler))
    upscaler.init_weights()
    _perturbed(upscaler)
    return Cascade(CascadeConfig(restorer.config, upscaler.config), restorer, upscaler).eval()


def test_the_cascade_is_its_up_scaler_applied_to_its_restorers_output(monkeypatch):
    model = random_cascade(3)
    x = torch.rand(1, 1, 19, 23)
    with torch.no_grad():
        got = model(x)
        monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)  # as the cascade runs in fp32
        assert torch.equal(got, model.upscaler(model.restorer(x)))
    assert model.config.input_grid == "lr" and model.config.upscale_factor == 3
    assert model.receptive_radius == model.restorer.receptive_radius + model.upscaler.receptive_radius


@pytest.mark.parametrize("scale, upsampler", [(2, "subpixel"), (3, "deconv"), (4, "subpixel")])
@pytest.mark.parametrize("shape, tile", [((45, 67), 16), ((31, 50), 7)])
def test_tiles_are_bit_identical_to_the_whole_image_in_fp32(scale, upsampler, shape, tile):
    model = random_cascade(scale, upsampler)
    lr = np.random.default_rng(1).random(shape).astype(np.float32)
    whole = Upscaler(model, scale, tile=0)(lr)
    tiled = Upscaler(model, scale, tile=tile * scale)(lr)
    assert whole.shape == (shape[0] * scale, shape[1] * scale)
    np.testing.assert_array_equal(tiled, whole)


def test_weights_files_keep_both_parts(tmp_path):
    model = random_cascade(3, "deconv")
    save_model(model, tmp_path / "c.safetensors", scale=3)
    loaded, meta = load_model(tmp_path / "c.safetensors", scale=3)
    assert isinstance(loaded, Cascade) and loaded.config == model.config
    assert meta["family"] == "cascade" and meta["restorer.arch"] == "3-3-3" and meta["upscaler.d"] == "16"
    x = torch.rand(1, 1, 11, 13)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_a_restorer_trains_in_front_of_an_fsrcnn_lowers_the_loss_and_beats_bicubic(tiny_set, tmp_path):
    from srcnn.study.evaluate import evaluate_folder, summary

    train_dir, val_dir = tiny_set
    restorer = random_restorer(perturbed=False)  # as a trained restorer is on clean input
    save_model(restorer, tmp_path / "restorer.safetensors", scale=1)
    cfg = TrainConfig(data=[str(train_dir)], val_data=[str(val_dir)], out=str(tmp_path / "run"), scale=3,
                      family="fsrcnn", dsm=(32, 5, 1), restorer=str(tmp_path / "restorer.safetensors"),
                      patch_size=24, batch_size=16, steps=300, warmup_steps=20, val_every=100, lr=3e-3,
                      precision="fp32", seed=0)
    best = train(cfg, progress=False)
    with open(tmp_path / "run" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    model, meta = load_model(best, scale=3)
    assert isinstance(model, Cascade) and meta["restorer.arch"] == "3-3-3"
    changed = [not torch.equal(a, b) for a, b in zip(model.restorer.state_dict().values(),
                                                     restorer.state_dict().values(), strict=True)]
    assert any(changed), "the restorer did not train with the up-scaler"
    bicubic = summary(evaluate_folder(val_dir, 3, Upscaler(None, 3)))["mean"]["psnr"]
    trained = summary(evaluate_folder(val_dir, 3, Upscaler(model, 3)))["mean"]["psnr"]
    assert trained > bicubic + 0.3, (trained, bicubic)


def test_onnx_export_of_a_cascade_matches_pytorch_at_any_size(tmp_path):
    export_and_compare_onnx(random_cascade(3, "deconv"), 3, tmp_path)


def test_a_restorer_that_up_scales_is_a_one_line_error(tiny_set, tmp_path, capsys):
    train_dir, _ = tiny_set
    upscaler = FSRCNN(FSRCNNConfig(scale=3, d=16, s=5, m=1))
    save_model(upscaler, tmp_path / "x3.safetensors", scale=3)
    code = main(["train", "--data", str(train_dir), "--out", str(tmp_path / "run"), "--family", "fsrcnn",
                 "--scale", "3", "--restorer", str(tmp_path / "x3.safetensors"), "--steps", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not a scale-1 restorer" in err, err


def test_a_cascade_needs_an_lr_grid_up_scaler():
    with pytest.raises(ValueError, match="must take the LR image"):
        CascadeConfig(SRCNNConfig((3, 3, 3), (16, 16)), SRCNNConfig())


def test_another_cascades_restorer_goes_in_front_of_a_new_up_scaler(tmp_path):
    from srcnn.training.train import build_model

    x3 = random_cascade(3)
    save_model(x3, tmp_path / "c3.safetensors", scale=3)
    model = build_model(TrainConfig(scale=2, family="fsrcnn", dsm=(16, 5, 1), restorer=str(tmp_path / "c3.safetensors")))
    assert isinstance(model, Cascade) and model.config.upscale_factor == 2
    for name, value in x3.restorer.state_dict().items():
        assert torch.equal(model.restorer.state_dict()[name], value), name
