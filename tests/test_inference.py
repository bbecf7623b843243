"""The Python API: a PIL image or an array in, the same kind out, exactly scale times larger."""

import numpy as np
import pytest
import torch
from PIL import Image

import srcnn
from srcnn.protocol.color import rgb2ycbcr, round_to_integer
from srcnn.inference import Upscaler
from srcnn.models import SRCNN, SRCNNConfig
from srcnn.protocol.resize import imresize
from conftest import smooth_image


def identity_model() -> SRCNN:
    """A residual SRCNN with zero weights: output == bicubic input, so results are predictable."""
    model = SRCNN(SRCNNConfig.from_arch("9-1-5", 16, 8, residual=True))
    for conv in model.layers:
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    return model


def random_model() -> SRCNN:
    """Untrained but well-behaved: a small random residual on top of bicubic."""
    torch.manual_seed(0)
    model = SRCNN(SRCNNConfig.from_arch("9-1-5", 16, 8, residual=True))
    model.init_weights("kaiming")
    return model


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_pil_in_pil_out_with_exact_size(scale):
    image = Image.fromarray(smooth_image(17, 23, channels=3))
    out = srcnn.upscale(image, scale=scale, model=random_model())
    assert isinstance(out, Image.Image) and out.mode == "RGB"
    assert out.size == (23 * scale, 17 * scale)


def test_array_in_array_out_and_grayscale_stays_grayscale():
    gray = smooth_image(20, 21)
    out = srcnn.upscale(gray, scale=3, model=random_model())
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (60, 63)
    pil = srcnn.upscale(Image.fromarray(gray), scale=2, model=random_model())
    assert pil.mode == "L" and pil.size == (42, 40)


def test_pil_images_are_read_as_files_are_alpha_kept_and_16_bit_grey_kept():
    rgb = smooth_image(12, 14, channels=3)
    alpha = smooth_image(12, 14, seed=5)
    rgba = Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
    out = srcnn.upscale(rgba, scale=2, model=random_model())
    assert out.mode == "RGBA" and out.size == (28, 24)
    np.testing.assert_array_equal(np.asarray(out)[..., 3], imresize(alpha, 2))  # alpha by bicubic alone
    deep = Image.fromarray((smooth_image(10, 11).astype(np.uint16) * 257))
    assert deep.mode.startswith("I;16")
    assert srcnn.upscale(deep, scale=3, method="bicubic").mode.startswith("I;16")
    assert srcnn.upscale(Image.fromarray(rgb).convert("P"), scale=2, method="bicubic").mode == "RGB"


def test_bicubic_method_is_the_matlab_resize():
    rgb = smooth_image(15, 16, channels=3)
    np.testing.assert_array_equal(srcnn.upscale(rgb, scale=3, method="bicubic"), imresize(rgb, 3))


def test_colour_goes_y_through_the_network_and_cbcr_through_bicubic():
    rgb = smooth_image(16, 18, channels=3, seed=3)
    brighten = identity_model()  # bicubic + a constant 0.05 on whatever passes through the network
    torch.nn.init.constant_(brighten.layers[-1].bias, 0.05)
    out = srcnn.upscale(rgb, scale=2, model=brighten)
    ycbcr_lr = rgb2ycbcr(rgb.astype(np.float64) / 255)
    cbcr = imresize(ycbcr_lr[..., 1:], 2)
    y = imresize(ycbcr_lr[..., 0], 2) + 0.05
    out_ycbcr = rgb2ycbcr(out.astype(np.float64) / 255)
    # One uint8 rounding of RGB sits between: agreement to about one grey level.
    assert np.abs(out_ycbcr[..., 0] - y).max() < 1.5 / 255
    assert np.abs(out_ycbcr[..., 1:] - cbcr).max() < 2.5 / 255


def test_ycbcr_planes_go_luma_through_the_network_and_each_chroma_plane_by_bicubic_at_its_own_size():
    """Video's 4:2:0 planes: the luma as a grey picture, the chroma (half size) by MATLAB's bicubic."""
    luma = (smooth_image(16, 20) * 255).round().astype(np.uint8)
    cb, cr = ((smooth_image(8, 10, seed=s) * 255).round().astype(np.uint8) for s in (1, 2))
    brighten = identity_model()
    torch.nn.init.constant_(brighten.layers[-1].bias, 0.05)
    upscaler = Upscaler(brighten, 2)
    big_luma, big_cb, big_cr = upscaler.upscale_planes(luma, cb, cr)
    np.testing.assert_array_equal(big_luma, upscaler.upscale_array(luma))
    assert big_luma.shape == (32, 40) and big_cb.shape == big_cr.shape == (16, 20)
    for small, big in ((cb, big_cb), (cr, big_cr)):
        exact = round_to_integer(imresize(small.astype(np.float64), output_shape=(16, 20)))
        np.testing.assert_array_equal(big, exact)



@pytest.mark.parametrize("model_name, scale", [("fsrcnn", 2), ("srcnn", 3)])
def test_video_luma_rows_unchanged_since_the_last_frame_are_copied_with_the_same_values(model_name, scale):
    """``upscale_planes(..., previous=...)``: only the rows within the network's reach of a changed row
    go through it again; the frame comes out exactly as when computed whole. ``upscale_planes_since``
    names the rows it left to copy."""
    from srcnn.inference import make_upscaler

    upscaler = make_upscaler(scale, model_name, precision="fp32")
    earlier = (smooth_image(60, 44) * 0.9).astype(np.uint8)
    frame = earlier.copy()
    frame[30:33, 5:9] += 40  # a small change in three rows
    chroma = (smooth_image(30, 22, seed=1),) * 2
    earlier_out = upscaler.upscale_planes(earlier, *chroma)[0]
    ran = []
    band = upscaler._band
    upscaler._band = lambda pixels: ran.append(pixels.shape[0]) or band(pixels)
    reused = upscaler.upscale_planes(frame, *chroma, previous=(earlier, earlier_out))
    halo = upscaler._band_halo()
    assert ran == [(33 + halo) - (30 - halo) + 2 * halo]  # one band: the changed rows, +-halo, and its context
    upscaler._band = band
    whole = upscaler.upscale_planes(frame, *chroma)
    for a, b in zip(reused, whole, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(reused[0], earlier_out)
    ran.clear()
    upscaler._band = lambda pixels: ran.append(pixels.shape[0]) or band(pixels)
    same = upscaler.upscale_planes(earlier, *chroma, previous=(earlier, earlier_out))[0]
    assert ran == [] and np.array_equal(same, earlier_out)  # a still frame: no network at all
    upscaler._band = band
    _, kept = upscaler.upscale_planes_since(frame, *chroma, earlier=earlier)
    assert kept == [(0, 30 - halo), (33 + halo, 60)]
    assert upscaler.upscale_planes_since(frame, *chroma, earlier=None)[1] == []  # the first frame: all of it


def test_changed_row_runs_cover_each_changed_row_and_its_reach():
    from srcnn.inference.pipeline import changed_row_runs

    earlier = np.zeros((20, 4), np.uint8)
    frame = earlier.copy()
    frame[[0, 9, 10, 19], 1] = 1
    assert changed_row_runs(frame, earlier, 2) == [(0, 3), (7, 13), (17, 20)]
    assert changed_row_runs(frame, earlier, 5) == [(0, 20)]
    assert changed_row_runs(earlier, earlier, 2) == []
    assert changed_row_runs(frame, np.zeros((21, 4), np.uint8), 2) == [(0, 20)]  # another size: all of it
    assert changed_row_runs(frame[:3], earlier[:3], 7) == [(0, 3)]  # fewer rows than the reach

def test_identity_network_reproduces_bicubic_on_luma():
    gray = smooth_image(18, 18, seed=4)
    out = srcnn.upscale(gray, scale=3, model=identity_model())
    expected = np.floor(np.clip(imresize(gray.astype(np.float64) / 255, 3) * 255, 0, 255) + 0.5)
    np.testing.assert_array_equal(out, expected)


def test_bad_api_input_is_refused():
    with pytest.raises(srcnn.SRCNNError, match="unsupported scale"):
        srcnn.upscale(smooth_image(8, 8), scale=5, method="bicubic")
    with pytest.raises(srcnn.SRCNNError, match="uint8"):
        srcnn.upscale(np.zeros((8, 8), np.float32), scale=2, method="bicubic")
    with pytest.raises(srcnn.SRCNNError, match="unknown method"):
        srcnn.upscale(smooth_image(8, 8), scale=2, method="lanczos")


@pytest.mark.parametrize("shape, tile", [((45, 67), 16), ((50, 50), 7), ((33, 80), 32), ((64, 64), 64)])
def test_tiled_result_is_bit_identical_to_the_whole_image_in_fp32(shape, tile):
    torch.manual_seed(1)
    model = SRCNN(SRCNNConfig.from_arch("9-5-5", 16, 8))
    model.init_weights("kaiming")
    plane = np.random.default_rng(2).random(shape)
    whole = Upscaler(model, 2, tile=0).restore(plane)
    tiled = Upscaler(model, 2, tile=tile).restore(plane)
    np.testing.assert_array_equal(tiled, whole)


def test_tiles_are_automatic_above_a_size():
    up = Upscaler(random_model(), 2)
    assert up._tile_size(512, 512) == 0 and up._tile_size(2160, 3840) > 0
    assert Upscaler(random_model(), 2, tile=0)._tile_size(4000, 4000) == 0


def test_bf16_path_stays_close_to_fp32_and_leaves_the_model_in_fp32():
    model = random_model()
    plane = smooth_image(40, 40).astype(np.float64) / 255
    fast = Upscaler(model, 2, precision="bf16").restore(plane)
    exact = Upscaler(model, 2, precision="fp32").restore(plane)
    assert model.layers[0].weight.dtype == torch.float32
    assert np.abs(fast - exact).max() < 2 / 255


def test_16_bit_grey_pil_image_stays_16_bit():
    grey = (smooth_image(12, 14).astype(np.uint16) * 257)
    out = srcnn.upscale(Image.fromarray(grey), scale=2, method="bicubic")
    assert out.mode.startswith("I;16") and out.size == (28, 24)
    assert np.asarray(out).max() > 255


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_compiled_network_gives_the_eager_pixels(precision):
    """torch.compile fuses the band pipeline; the pixels stay those of the eager path (a fused fp32
    sum may round a value sitting on a half-level the other way: at most one level)."""
    from srcnn.models import FSRCNN, FSRCNNConfig

    torch.manual_seed(0)
    model = FSRCNN(FSRCNNConfig(scale=2, d=16, s=8, m=2))
    rng = np.random.default_rng(0)
    for image in (rng.integers(0, 256, (19, 27, 3), dtype=np.uint8), rng.integers(0, 256, (19, 27), dtype=np.uint8)):
        eager = Upscaler(model, 2, precision).upscale_array(image)
        compiled = Upscaler(model, 2, precision, compile=True).upscale_array(image)
        assert compiled.shape == eager.shape and compiled.dtype == eager.dtype
        assert np.abs(compiled.astype(int) - eager.astype(int)).max() <= 1


def test_a_picture_is_one_band_when_compiled_so_one_compile_serves_every_frame():
    upscaler = Upscaler(random_model(), 2, compile=True)
    assert upscaler._band_rows(360, 640) >= 360  # a 640x360 frame at x2: one shape
    assert upscaler._band_rows(1080, 1920) < 1080  # above 1080p out, even compiled pictures go in bands
    assert Upscaler(random_model(), 2)._band_rows(720, 1280) < 720  # eager: bands bound the memory


def test_where_compiling_fails_the_network_runs_eagerly_with_one_line(monkeypatch, capsys):
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("InductorError: no working C++ compiler\nmore detail")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    image = smooth_image(12, 14, channels=3)
    expected = Upscaler(random_model(), 3).upscale_array(image)
    upscaler = Upscaler(random_model(), 3, compile=True)
    assert np.array_equal(upscaler.upscale_array(image), expected)
    assert np.array_equal(upscaler.upscale_array(image), expected)  # and stays eager without a second warning
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["srcnn: torch.compile is unavailable here (InductorError: no working C++ compiler); running eagerly"]


def _dihedral(plane: np.ndarray, turns: int, mirror: bool) -> np.ndarray:
    out = np.rot90(plane, turns)
    return out[:, ::-1] if mirror else out


def _undo_dihedral(plane: np.ndarray, turns: int, mirror: bool) -> np.ndarray:
    return np.rot90(plane[:, ::-1] if mirror else plane, -turns)


@pytest.mark.parametrize("family", ["srcnn", "fsrcnn"])
def test_self_ensemble_averages_the_network_over_the_eight_symmetries(family):
    from srcnn.models import FSRCNN, FSRCNNConfig

    torch.manual_seed(0)
    model = random_model() if family == "srcnn" else FSRCNN(FSRCNNConfig(scale=2, d=16, s=8, m=2))
    plane = np.random.default_rng(3).random((13, 17))
    plain = Upscaler(model, 2)
    expected = np.mean([_undo_dihedral(plain(np.ascontiguousarray(_dihedral(plane, t, m))), t, m)
                        for t in range(4) for m in (False, True)], axis=0)
    ensembled = Upscaler(model, 2, ensemble=True)(plane)
    assert ensembled.shape == (26, 34)
    np.testing.assert_allclose(ensembled, expected, atol=1e-6)
    assert np.abs(ensembled - plain(plane)).max() > 1e-4  # an untrained network is not symmetric: it did change


@pytest.mark.parametrize("shape, tile", [((45, 67), 16), ((33, 80), 32)])
def test_self_ensemble_tiles_are_bit_identical_to_the_whole_image_in_fp32(shape, tile):
    from srcnn.models import FSRCNN, FSRCNNConfig

    torch.manual_seed(1)
    model = FSRCNN(FSRCNNConfig(scale=3, d=16, s=8, m=2))
    plane = np.random.default_rng(2).random(shape)
    whole = Upscaler(model, 3, tile=0, ensemble=True).restore(plane)
    tiled = Upscaler(model, 3, tile=tile, ensemble=True).restore(plane)
    np.testing.assert_array_equal(tiled, whole)


def test_self_ensemble_without_a_network_is_refused():
    with pytest.raises(srcnn.errors.SRCNNError, match="--ensemble"):
        srcnn.upscale(smooth_image(8, 8), scale=2, method="bicubic", ensemble=True)


def test_a_read_only_image_upscales_without_a_warning():
    import warnings

    image = smooth_image(12, 14, channels=3)
    image.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = Upscaler(random_model(), 2).upscale_array(image)
    assert out.shape == (24, 28, 3)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("layout", ["channels_last", "contiguous"])
@pytest.mark.parametrize("peak", [255.0, 65535.0])
def test_rounding_and_shuffling_in_one_pass_gives_the_rounded_pixel_shuffle(scale, layout, peak):
    from srcnn.inference.pipeline import _round_half_up, _round_shuffled
    from srcnn.models.upsample import pixel_shuffle

    torch.manual_seed(0)
    phases = (torch.rand(1, scale * scale, 13, 21) * 1.2 - 0.1) * peak + 0.5  # values past both ends saturate
    if layout == "channels_last":
        phases = phases.contiguous(memory_format=torch.channels_last)
    expected = _round_half_up(pixel_shuffle(phases.clone(), scale)[0, 0], peak)
    got = _round_shuffled(phases[0].clone(), scale, peak)
    assert got.dtype == expected.dtype and torch.equal(got, expected)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_an_lr_grid_models_grey_plane_gives_the_rounded_network_output(scale, dtype, precision):
    """A grey plane (a video's luma) takes the network's phases and rounds and shuffles them in one
    pass: the same pixels as rounding the network's pixel-shuffled output."""
    from srcnn.inference.pipeline import _round_half_up
    from srcnn.models.weights import resolve_model

    model, _ = resolve_model("fsrcnn", scale)
    upscaler = Upscaler(model, scale, precision)
    peak = float(np.iinfo(dtype).max)
    grey = np.random.default_rng(scale).integers(0, int(peak) + 1, (37, 53)).astype(dtype)
    with torch.inference_mode():
        plain = upscaler._run(torch.from_numpy(grey.astype(np.float32))[None, None] / peak)
    expected = _round_half_up(plain[0, 0] * peak + 0.5, peak).numpy().astype(dtype)
    got = upscaler.upscale_array(grey)
    assert got.dtype == dtype and np.array_equal(got, expected)
