"""FSRCNN, the LR-grid family: exact bicubic skip, tiles and bands, training, transfer, export, errors."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import export_and_compare_onnx, smooth_image
from srcnn.apps.cli import main
from srcnn.inference import Upscaler, make_upscaler
from srcnn.models import FSRCNN, FSRCNNConfig
from srcnn.models.upsample import BicubicUpsample, pixel_shuffle
from srcnn.protocol.resize import imresize
from srcnn.training.train import TrainConfig, train
from srcnn.models.weights import load_model, save_model


def random_fsrcnn(scale: int, seed: int = 0, **config) -> FSRCNN:
    torch.manual_seed(seed)
    model = FSRCNN(FSRCNNConfig(scale=scale, **config))
    model.init_weights()
    with torch.no_grad():  # weights far from their init, so every layer matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("shape", [(17, 23), (1, 1), (2, 5), (6, 1)])
def test_bicubic_layer_is_matlabs_imresize(scale, shape):
    lr = np.random.default_rng(0).random(shape)
    expected = imresize(lr, output_shape=(shape[0] * scale, shape[1] * scale))
    got = BicubicUpsample(scale)(torch.from_numpy(lr).float()[None, None])[0, 0].numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5


def test_a_bf16_copy_keeps_the_bicubic_taps_exact():
    layer = BicubicUpsample(3).to(torch.bfloat16)
    lr = torch.rand(1, 1, 9, 11)
    exact = BicubicUpsample(3)(lr)
    assert torch.allclose(layer(lr.double()).float(), exact, atol=1e-6)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_transposed_convolution_runs_as_its_exact_sub_pixel_form(scale):
    model = random_fsrcnn(scale, upsampler="deconv")
    x = torch.randn(1, 56, 11, 13)
    q = model.config.deconv_radius + 2  # any padding at least the kernel's reach gives the same centre
    with torch.no_grad():
        full = model.last(F.pad(x, (q,) * 4, mode="replicate"))
        got = pixel_shuffle(model._phases(x), scale)
    top = q * scale + model.config.deconv_centre
    reference = full[..., top : top + 11 * scale, top : top + 13 * scale]
    assert torch.allclose(got, reference, atol=1e-4 * float(reference.abs().max()))


@pytest.mark.parametrize("upsampler", ["subpixel", "deconv"])
@pytest.mark.parametrize("m", [0, 4])
def test_the_folded_inference_form_computes_the_same_function(upsampler, m):
    model = random_fsrcnn(3, upsampler=upsampler, m=m)
    with torch.no_grad():  # slopes on both sides of 1 (and below 0): every channel kind is folded
        for act in model.acts:
            act.weight.copy_(torch.linspace(-0.5, 2.5, act.weight.numel()))
    folded = copy.deepcopy(model)
    folded.fold_for_inference()
    assert folded.folded is not None
    x = torch.rand(1, 1, 29, 37)
    with torch.no_grad():
        reference = model(x)
        # float32: the same sums, regrouped (these random weights give outputs in the tens)
        assert (folded(x) - reference).abs().max() <= 1e-5 * reference.abs().max()
        # bf16 (weights folded in float32, then cast, as the engine does): no further from float32
        # than the unfolded network in bf16 is
        cl = torch.channels_last
        plain_bf16 = copy.deepcopy(model).to(torch.bfloat16).to(memory_format=cl)
        folded_bf16 = folded.to(torch.bfloat16).to(memory_format=cl)
        x = x.contiguous(memory_format=cl)
        error = (folded_bf16(x) - reference).abs().mean()
        assert error <= 2 * (plain_bf16(x) - reference).abs().mean() + 1e-4


def test_the_engine_folds_only_its_own_low_precision_copy():
    model = random_fsrcnn(3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    engine = Upscaler(model, 3, precision="bf16")
    assert engine.net.folded is not None and model.folded is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert engine.model is model


@pytest.mark.parametrize("scale, upsampler", [(2, "subpixel"), (3, "subpixel"), (3, "deconv"), (4, "subpixel"),
                                              (4, "deconv")])
# (84, 116) / 17 and (93, 262) / 10 caught x2's column-grouped last layer summing differently in a tile
@pytest.mark.parametrize("shape, tile", [((45, 67), 16), ((31, 50), 7), ((53, 47), 27), ((84, 116), 17),
                                         ((93, 262), 10)])
def test_tiles_are_bit_identical_to_the_whole_image_in_fp32(scale, upsampler, shape, tile):
    model = random_fsrcnn(scale, upsampler=upsampler)
    lr = np.random.default_rng(1).random(shape).astype(np.float32)
    whole = Upscaler(model, scale, tile=0)(lr)
    tiled = Upscaler(model, scale, tile=tile * scale)(lr)
    assert whole.shape == (shape[0] * scale, shape[1] * scale)
    np.testing.assert_array_equal(tiled, whole)


@pytest.mark.parametrize("model_name", ["fsrcnn", "srcnn"])
def test_pictures_do_not_depend_on_where_the_bands_fall(monkeypatch, model_name):
    import srcnn.inference.pipeline

    image = smooth_image(41, 37, channels=3)
    upscaler = make_upscaler(3, model_name, precision="fp32")
    whole = upscaler.upscale_array(image)
    monkeypatch.setattr(srcnn.inference.pipeline, "BAND_PIXELS", 5 * 37 * 9)  # five LR rows a band
    np.testing.assert_array_equal(upscaler.upscale_array(image), whole)


def test_the_picture_path_matches_the_exact_per_plane_path_within_one_level():
    from srcnn.protocol.color import quantize, ycbcr2rgb

    image = smooth_image(30, 44, channels=3)
    upscaler = make_upscaler(3, "fsrcnn", precision="fp32")
    y, cbcr = upscaler._luma_and_chroma(image.astype(np.float32) / 255)
    exact = quantize(ycbcr2rgb(np.concatenate([y[:, :, None], cbcr], axis=2)))
    fast = upscaler.upscale_array(image)
    assert np.abs(fast.astype(int) - exact).max() <= 1
    assert (fast != exact).mean() < 0.001


def test_fsrcnn_trains_on_lr_patches_lowers_the_loss_and_beats_bicubic(tiny_set, tmp_path):
    import csv

    from srcnn.study.evaluate import evaluate_folder, summary

    train_dir, val_dir = tiny_set
    cfg = TrainConfig(data=[str(train_dir)], val_data=[str(val_dir)], out=str(tmp_path / "run"), scale=3,
                      family="fsrcnn", dsm=(32, 5, 1), patch_size=24, batch_size=16, steps=300, warmup_steps=20,
                      val_every=100, lr=3e-3, precision="fp32", seed=0)
    best = train(cfg, progress=False)
    with open(tmp_path / "run" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    model, meta = load_model(best, scale=3)
    assert meta["family"] == "fsrcnn" and model.config.input_grid == "lr"
    bicubic = summary(evaluate_folder(val_dir, 3, Upscaler(None, 3)))["mean"]["psnr"]
    trained = summary(evaluate_folder(val_dir, 3, Upscaler(model, 3)))["mean"]["psnr"]
    assert trained > bicubic + 0.3, (trained, bicubic)


def test_transfer_to_another_scale_trains_only_the_last_layer(tiny_set, tmp_path):
    train_dir, val_dir = tiny_set
    source = random_fsrcnn(3, d=32, s=5, m=1)
    save_model(source, tmp_path / "x3.safetensors", scale=3)
    cfg = TrainConfig(data=[str(train_dir)], val_data=[str(val_dir)], out=str(tmp_path / "x2"), scale=2,
                      family="fsrcnn", dsm=(32, 5, 1), init_from=str(tmp_path / "x3.safetensors"),
                      train_layers="last", patch_size=24, batch_size=8, steps=20, warmup_steps=5, val_every=20,
                      precision="fp32")
    train(cfg, progress=False)
    from srcnn.training.train import load_checkpoint  # the final state, not the best one

    trained = FSRCNN(FSRCNNConfig(scale=2, d=32, s=5, m=1))
    optimizer = torch.optim.Adam([p for p in trained.last_layer.parameters()])
    load_checkpoint(tmp_path / "x2" / "checkpoint.safetensors", trained, optimizer)
    before = source.state_dict()
    for name, value in trained.state_dict().items():
        if name.startswith("last."):
            assert value.shape != before[name].shape or not torch.equal(value, before[name])
        else:
            assert torch.equal(value, before[name]), f"{name} changed although only the last layer trains"


@pytest.mark.parametrize("upsampler", ["subpixel", "deconv"])
def test_onnx_export_of_fsrcnn_matches_pytorch_at_any_size(tmp_path, upsampler):
    import onnx

    path = export_and_compare_onnx(random_fsrcnn(3, upsampler=upsampler), 3, tmp_path)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["family"] == "fsrcnn" and meta["input_grid"] == "lr" and meta["scale"] == "3"


def test_weights_of_another_scale_or_family_are_one_line_errors(tmp_path, capsys):
    from PIL import Image

    save_model(random_fsrcnn(3), tmp_path / "f3.safetensors", scale=3)
    Image.fromarray(smooth_image(20, 20, channels=3)).save(tmp_path / "in.png")
    args = ["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")]
    assert main(args + ["--scale", "2", "--model", str(tmp_path / "f3.safetensors")]) == 2
    assert "for x3, not x2" in capsys.readouterr().err
    assert main(args + ["--scale", "2", "--model", "fsrcnn-s"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no shipped fsrcnn-s model for x2" in err
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "odd.safetensors"),
              metadata={"format": "srcnn", "family": "esrgan", "scale": "2"})
    assert main(args + ["--scale", "2", "--model", str(tmp_path / "odd.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown model family" in err
    assert not (tmp_path / "out.png").exists()
