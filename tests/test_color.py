import numpy as np
import pytest

from srcnn.protocol.color import quantize, rgb2y, rgb2ycbcr, round_to_integer, ycbcr2rgb


@pytest.mark.parametrize("rgb, ycbcr", [
    ((0, 0, 0), (16, 128, 128)),
    ((255, 255, 255), (235, 128, 128)),
    ((255, 0, 0), (81, 90, 240)),     # MATLAB: rgb2ycbcr(uint8([255 0 0]))
    ((0, 255, 0), (145, 54, 34)),
    ((0, 0, 255), (41, 240, 110)),
])
def test_uint8_values_match_matlab_bt601_studio_range(rgb, ycbcr):
    px = np.array(rgb, dtype=np.uint8).reshape(1, 1, 3)
    np.testing.assert_array_equal(rgb2ycbcr(px)[0, 0], ycbcr)
    assert rgb2y(px)[0, 0] == ycbcr[0]


def test_luma_formula_with_rounding_half_away_from_zero():
    rgb = np.random.default_rng(0).integers(0, 256, (50, 50, 3), dtype=np.uint8)
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    expected = np.floor(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255 + 0.5)
    np.testing.assert_array_equal(rgb2y(rgb), expected)
    np.testing.assert_array_equal(rgb2ycbcr(rgb)[..., 0], expected)


def test_float_round_trip_is_exact():
    rgb = np.random.default_rng(1).random((8, 9, 3))
    np.testing.assert_allclose(ycbcr2rgb(rgb2ycbcr(rgb)), rgb, atol=1e-12)


def test_uint8_round_trip_is_within_one_level():
    rgb = np.random.default_rng(2).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    back = ycbcr2rgb(rgb2ycbcr(rgb)).astype(int)
    assert np.abs(back - rgb).max() <= 2  # studio range has fewer levels than full range
    assert np.mean(np.abs(back - rgb)) < 0.6


def test_grayscale_is_its_own_luma():
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert rgb2y(gray) is gray


def test_non_rgb_shapes_are_rejected():
    with pytest.raises(ValueError):
        rgb2ycbcr(np.zeros((4, 4), dtype=np.uint8))


def test_rounding_is_half_away_from_zero_and_saturates_for_both_depths():
    x = np.array([-3.0, 0.49, 0.5, 1.5, 2.5, 254.5, 300.0])
    np.testing.assert_array_equal(round_to_integer(x), [0, 0, 1, 2, 3, 255, 255])
    assert round_to_integer(np.array([65534.5, 70000.0]), np.uint16).tolist() == [65535, 65535]
    assert round_to_integer(x).dtype == np.uint8
    np.testing.assert_array_equal(quantize(np.array([0.0, 0.6 / 255, 1.0, 1.2])), [0, 1, 255, 255])
