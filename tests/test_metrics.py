import math

import numpy as np
import pytest

from srcnn.protocol.metrics import psnr, ssim


def test_psnr_of_a_known_error():
    ref = np.full((20, 20), 100, dtype=np.uint8)
    out = ref.copy()
    out[::2] += 4  # half the pixels off by 4: MSE = 8
    assert psnr(ref, out) == pytest.approx(10 * math.log10(255**2 / 8))


def test_psnr_of_identical_images_is_infinite_and_ssim_is_one():
    img = np.random.default_rng(0).integers(0, 256, (30, 30, 3), dtype=np.uint8)
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0)


def test_border_shave_ignores_errors_in_the_border():
    ref = np.random.default_rng(1).integers(20, 230, (40, 40), dtype=np.uint8)
    out = ref.copy()
    out[:3, :] = 0
    out[:, -3:] = 255
    assert psnr(ref, out, shave_border=3) == math.inf
    assert psnr(ref, out, shave_border=2) < 30


def test_scores_are_on_luma_of_rgb_images():
    rng = np.random.default_rng(2)
    ref = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = ref.copy()
    out[..., 0], out[..., 2] = ref[..., 2], ref[..., 0]  # swapping R and B changes luma a little
    swapped_y = 16 + (65.481 * ref[..., 2] + 128.553 * ref[..., 1] + 24.966 * ref[..., 0]) / 255
    ref_y = 16 + (65.481 * ref[..., 0] + 128.553 * ref[..., 1] + 24.966 * ref[..., 2]) / 255
    mse = np.mean((np.floor(ref_y + 0.5) - np.floor(swapped_y + 0.5)) ** 2)
    assert psnr(ref, out) == pytest.approx(10 * math.log10(255**2 / mse))


def test_ssim_matches_a_direct_computation_of_wang_et_al():
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 256, (24, 26), dtype=np.uint8)
    out = np.clip(ref + rng.normal(0, 10, ref.shape), 0, 255).astype(np.uint8)
    x = np.arange(11) - 5
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    w = g / g.sum()
    a, b = ref.astype(float), out.astype(float)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(24 - 10):
        for j in range(26 - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * pa * pa).sum() - ma**2, (w * pb * pb).sum() - mb**2
            cov = (w * pa * pb).sum() - ma * mb
            values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    assert ssim(ref, out) == pytest.approx(np.mean(values), abs=1e-12)


def test_ssim_drops_with_noise():
    rng = np.random.default_rng(4)
    ref = rng.integers(50, 200, (40, 40), dtype=np.uint8)
    mild = np.clip(ref + rng.normal(0, 3, ref.shape), 0, 255).astype(np.uint8)
    strong = np.clip(ref + rng.normal(0, 30, ref.shape), 0, 255).astype(np.uint8)
    assert 1 > ssim(ref, mild) > ssim(ref, strong) > 0


def test_mismatched_sizes_and_float_images_are_rejected():
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))
    with pytest.raises(TypeError):
        psnr(np.zeros((4, 4)), np.zeros((4, 4)))
