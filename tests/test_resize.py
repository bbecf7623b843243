"""MATLAB imresize(..., 'bicubic'): properties that must hold and values worked out by hand."""

import numpy as np
import pytest

from srcnn.protocol.resize import cubic, imresize, modcrop, output_size
from conftest import smooth_image


def test_cubic_kernel_is_keys_with_a_minus_half():
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5])
    expected = [1.0, 0.8671875, 0.5625, 0.2265625, 0.0, -0.0703125, -0.0625, -0.0234375, 0.0, 0.0]
    np.testing.assert_allclose(cubic(x), expected, atol=1e-15)
    np.testing.assert_allclose(cubic(-x), expected, atol=1e-15)


def test_upscale_by_two_first_sample_matches_hand_computation():
    # u = 0.75; taps at 0..3 with weights -0.0234375, 0.2265625, 0.8671875, -0.0703125 (index 0 -> 1,
    # -1 -> 2 by the symmetric border), so out[0] = 35/32 * a - 3/32 * b.
    row = np.array([[0.0, 1.0, 0.0, 0.0]])
    out = imresize(row, output_shape=(1, 8))
    assert out[0, 0] == pytest.approx(-3 / 32, abs=1e-15)
    row = np.array([[1.0, 0.0, 0.0, 0.0]])
    assert imresize(row, output_shape=(1, 8))[0, 0] == pytest.approx(35 / 32, abs=1e-15)


def test_downscale_by_two_with_antialiasing_matches_hand_computation():
    # Kernel widened to 8 taps: out[0] = .546875 x1 + .3984375 x2 + .1015625 x3 - .03515625 x4 - .01171875 x5.
    signal = np.array([[3.0, 5.0, 7.0, 11.0, 13.0, 17.0, 19.0, 23.0]])
    expected = 0.546875 * 3 + 0.3984375 * 5 + 0.1015625 * 7 - 0.03515625 * 11 - 0.01171875 * 13
    out = imresize(signal, output_shape=(1, 4))
    assert out[0, 0] == pytest.approx(expected, abs=1e-12)


def test_downscale_by_two_without_antialiasing_matches_hand_computation():
    # Plain kernel: out[0] = 0.5 x1 + 0.5625 x2 - 0.0625 x3 (the tap at index 0 mirrors to x1).
    signal = np.array([[3.0, 5.0, 7.0, 11.0, 13.0, 17.0, 19.0, 23.0]])
    out = imresize(signal, output_shape=(1, 4), antialias=False)
    assert out[0, 0] == pytest.approx(0.5 * 3 + 0.5625 * 5 - 0.0625 * 7, abs=1e-12)


def test_antialiasing_only_changes_downscaling(rng):
    img = rng.random((30, 30))
    np.testing.assert_array_equal(imresize(img, 2), imresize(img, 2, antialias=False))
    assert not np.allclose(imresize(img, 0.5), imresize(img, 0.5, antialias=False))


def test_antialiasing_suppresses_aliasing_of_fine_detail():
    # A Nyquist-rate checkerboard has no representation at a third of the size: MATLAB's
    # antialiased resize averages it to near-flat grey, the plain kernel samples it into full-contrast aliases.
    board = (np.indices((36, 36)).sum(0) % 2).astype(np.float64)
    assert np.ptp(imresize(board, 1 / 3)[3:-3, 3:-3]) < 0.1
    assert np.ptp(imresize(board, 1 / 3, antialias=False)[3:-3, 3:-3]) > 0.9


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4, 0.7, 1.5])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_constant_images_stay_constant(scale, dtype):
    img = np.full((24, 36, 3), 137, dtype=dtype)
    out = imresize(img, scale)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, 137, atol=1e-9)


@pytest.mark.parametrize(
    "shape, scale, expected",
    [((10, 10), 3, (30, 30)), ((10, 7), 1 / 3, (4, 3)), ((9, 12), 1 / 3, (3, 4)),
     ((255, 256), 1 / 3, (85, 86)), ((5, 7), 0.5, (3, 4)), ((8, 8), 2.5, (20, 20))],
)
def test_output_size_is_ceil_of_input_times_scale(shape, scale, expected):
    assert output_size(shape, scale) == expected
    assert imresize(np.zeros(shape), scale).shape == expected


def test_arbitrary_output_shape_and_color_channels(rng):
    img = rng.random((17, 23, 3))
    out = imresize(img, output_shape=(40, 11))
    assert out.shape == (40, 11, 3)
    for c in range(3):  # channels are resized independently
        np.testing.assert_allclose(out[..., c], imresize(img[..., c], output_shape=(40, 11)))


def test_up_then_down_recovers_a_smooth_signal():
    img = smooth_image(48, 48).astype(np.float64)
    for s in (2, 3, 4):
        back = imresize(imresize(img, s), 1 / s)
        assert np.abs(back - img)[4:-4, 4:-4].max() < 1.0


def test_border_is_symmetric_padding():
    # Mirroring the input about its edge (including the edge sample) must not change the result
    # near that edge: resize a mirrored extension and compare the overlapping outputs.
    rng = np.random.default_rng(5)
    row = rng.random((1, 12))
    extended = np.concatenate([row[:, ::-1], row], axis=1)  # symmetric about the left edge
    direct = imresize(row, output_shape=(1, 36))
    via_extension = imresize(extended, output_shape=(1, 72))[:, 36:]
    np.testing.assert_allclose(direct[:, :6], via_extension[:, :6], atol=1e-12)


def test_uint8_is_rounded_after_each_pass():
    img = smooth_image(21, 33, channels=3, seed=2)
    out = imresize(img, 1 / 3)
    # MATLAB: the smaller-scale dimension first (rows here, as both are equal), uint8 after each pass.
    rows = imresize(img.astype(np.float64), output_shape=(7, 33))
    rows = np.floor(np.clip(rows, 0, 255) + 0.5)
    expected = np.floor(np.clip(imresize(rows, output_shape=(7, 11)), 0, 255) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(out, np.floor(imresize(img.astype(np.float64), 1 / 3) + 0.5).astype(np.uint8))


def test_dimension_with_smaller_scale_is_resized_first(rng):
    img = rng.integers(0, 256, (20, 20), dtype=np.uint8)
    # rows x0.5 (smaller) then columns x2: computing columns first differs after uint8 rounding.
    out = imresize(img, output_shape=(10, 40))
    rows_first = imresize(imresize(img, output_shape=(10, 20)), output_shape=(10, 40))
    np.testing.assert_array_equal(out, rows_first)


def test_modcrop_crops_bottom_right():
    img = np.arange(7 * 8).reshape(7, 8)
    np.testing.assert_array_equal(modcrop(img, 3), img[:6, :6])
    assert modcrop(np.zeros((9, 12, 3)), 3).shape == (9, 12, 3)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)))
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)), 2, output_shape=(8, 8))
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)), -1)


def test_float32_stays_float32_and_agrees_with_double(rng):
    img = rng.random((31, 20, 3))
    single = imresize(img.astype(np.float32), 3)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, imresize(img, 3), atol=1e-5)
