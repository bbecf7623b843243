"""srcnn.study.restoration_study on tiny synthetic grey images: the anchors, the seeding, the skipped cells."""

import json
import math
import sys

import numpy as np
import pytest

from srcnn.study import restoration_study as rs
from srcnn.protocol.degrade import parse_degradation
from srcnn.protocol.color import quantize
from srcnn.protocol.metrics import psnr, ssim
from conftest import shapes_image, smooth_image


def mid_grey(seed: int, size: int = 48) -> np.ndarray:
    """A gentle uint8 plane far from 0 and 255, so Gaussian noise is (almost) never clipped."""
    return (128 + (smooth_image(size, size, seed=seed).astype(np.int16) - 128) // 4).astype(np.uint8)


@pytest.fixture
def images():
    return [("a", mid_grey(1)), ("b", mid_grey(2, 40))]


def test_noisy_input_psnr_is_the_noise_level(images):
    sigma = 10
    cell = rs.score_method(images, 1, rs.identity_method(), f"noise:{sigma}")
    assert cell.images == 2
    # MSE of Gaussian noise is sigma^2 (plus 1/12 from rounding): PSNR = 20 log10(255 / sigma)
    assert cell.psnr == pytest.approx(20 * math.log10(255 / sigma), abs=0.3)


def test_identity_scores_the_degraded_input_itself(images):
    cell = rs.score_method(images, 1, rs.identity_method(), "jpeg:20")
    degradation = parse_degradation("jpeg:20")
    decoded = [(hr, quantize(degradation.lr(hr / 255.0, 1))) for _, hr in images]
    assert cell.psnr == pytest.approx(np.mean([psnr(hr, jpg, 1) for hr, jpg in decoded]), abs=1e-9)
    assert cell.ssim == pytest.approx(np.mean([ssim(hr, jpg, 1) for hr, jpg in decoded]), abs=1e-9)


def test_every_method_sees_the_same_seeded_draw(images):
    seen = {}

    def recorder(key):
        def method(lr, scale):
            seen.setdefault(key, []).append(lr.copy())
            return lr
        return method

    first = rs.score_method(images, 1, recorder("first"), "noise:25", seed=3)
    second = rs.score_method(images, 1, recorder("second"), "noise:25", seed=3)
    other_seed = rs.score_method(images, 1, recorder("other"), "noise:25", seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(seen["first"], seen["second"]))
    assert first.psnr == second.psnr
    assert not np.array_equal(seen["first"][0], seen["other"][0]) and other_seed.psnr != first.psnr
    # The draw depends on the image's name, not on its place in the list.
    rs.score_method(images[::-1], 1, recorder("reversed"), "noise:25", seed=3)
    assert np.array_equal(seen["reversed"][1], seen["first"][0])


def test_opencv_nlm_denoises_with_h_tuned_on_other_images(images):
    pytest.importorskip("cv2")
    tuning = [("t", mid_grey(7, 56))]
    h = rs.tune_nlm_h(tuning, 25)
    assert h in [f * 25 for f in rs.NLM_H_FACTORS]
    table = rs.denoising_table(images, [25], "denoise", {25: h}, bm3d_sigmas=[])
    cells = table[25]
    assert cells["opencv"].psnr > cells["input"].psnr + 3
    assert isinstance(cells["bm3d"], rs.Skipped) and "bm3d-sigmas" in cells["bm3d"].note
    assert f"(h={h:g})" in rs.denoising_markdown(table, {25: h}, "denoise")


def test_bm3d_denoises(images):
    pytest.importorskip("bm3d")
    cell = rs.score_method(images[1:], 1, rs.bm3d_method(25), "noise:25")
    noisy = rs.score_method(images[1:], 1, rs.identity_method(), "noise:25")
    assert cell.psnr > noisy.psnr + 3 and cell.seconds > 0


def test_missing_packages_and_unshipped_models_are_noted_not_raised(images, monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # import bm3d now raises ImportError
    monkeypatch.setitem(sys.modules, "cv2", None)
    monkeypatch.setattr(rs, "find_weights", lambda alias, scale: None)  # no model of any kind has shipped
    assert rs.tune_nlm_h(images, 15) is None
    table = rs.denoising_table(images, [15], "denoise", {15: None})
    assert table[15]["bm3d"].note.startswith("not installed") and table[15]["opencv"].note.startswith("not installed")
    assert "no shipped `denoise` model" in table[15]["ours"].note
    assert isinstance(table[15]["input"], rs.MethodScore)
    markdown = rs.denoising_markdown(table, {15: None}, "denoise")
    assert markdown.count("not installed") == 2 and "no shipped `denoise` model" in markdown
    jpeg = rs.jpeg_table(images, [10], "jpeg")
    assert "no shipped `jpeg` model" in rs.jpeg_markdown(jpeg, "jpeg")
    json.dumps(rs.table_dict(table))  # the --json document holds the notes too


def test_gain_is_model_minus_bicubic_on_the_same_input(monkeypatch):
    images = rs.grey_images([("s", shapes_image(3, 48))])
    table = rs.gain_table(images, ["fsrcnn"], [3], ["bicubic", "jpeg:50"])
    for degradation, gain in table["fsrcnn"][3].items():
        bicubic = rs.score_method(images, 3, rs.make_upscaler(3, method="bicubic"), degradation)
        assert gain.bicubic.psnr == bicubic.psnr
        assert gain.db == pytest.approx(gain.model.psnr - bicubic.psnr)
    assert table["fsrcnn"][3]["bicubic"].db > 0  # the clean model beats bicubic on a clean input
    markdown = rs.gain_markdown(table, ["bicubic", "jpeg:50"])
    assert "| `fsrcnn` | x3 |" in markdown and "| Bicubic PSNR (dB) | x3 |" in markdown

    monkeypatch.setattr(rs, "find_weights", lambda alias, scale: None)
    skipped = rs.gain_table(images, ["real"], [3], ["bicubic"])
    assert "no shipped `real` model for x3" in skipped["real"][3]["bicubic"].note


def test_center_crops():
    image = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30)
    (name, crop), = rs.center_crops([("x", image)], 10)
    assert name == "x" and crop.shape == (10, 10) and crop[0, 0] == image[5, 10]
    assert rs.center_crops([("x", image)], 64)[0][1].shape == (20, 30)
