"""MATLAB ``rgb2ycbcr`` / ``ycbcr2rgb`` (ITU-R BT.601, studio range).

The papers measure PSNR on the Y of MATLAB's ``rgb2ycbcr``: Y in [16, 235], not the full-range
JPEG luma that PIL's "YCbCr" mode gives. uint8 images are rounded half away from zero, as MATLAB
does; float images are taken in [0, 1] and returned unrounded in [0, 1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["rgb2ycbcr", "ycbcr2rgb", "rgb2y", "to_plane", "quantize"]

_RGB2YCBCR = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
_OFFSET = np.array([16.0, 128.0, 128.0])
_YCBCR2RGB = np.linalg.inv(_RGB2YCBCR)


def round_to_integer(x: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """Values on the integer scale -> uint8 or uint16, saturating and rounding half away from zero,
    as MATLAB's uint8() / uint16() do (np.round would round half to even). The one place this rounding
    is written."""
    peak = np.iinfo(dtype).max
    return np.floor(np.clip(x, 0, peak) + 0.5).astype(dtype)


def quantize(image: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """[0, 1] float -> uint8 or uint16, rounded as MATLAB does (``round_to_integer``)."""
    return round_to_integer(image * np.iinfo(dtype).max, dtype)


def _as_float(image: np.ndarray) -> np.ndarray:
    # float32 stays float32 (big frames); anything else is computed in double.
    return image if image.dtype == np.float32 else image.astype(np.float64)


def _check_rgb(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {image.shape}")


def rgb2ycbcr(image: np.ndarray) -> np.ndarray:
    """RGB -> YCbCr. uint8 in, uint8 out; float in [0, 1] in, float in [0, 1] out."""
    image = np.asarray(image)
    _check_rgb(image)
    if image.dtype == np.uint8:
        ycbcr = image.astype(np.float64) @ (_RGB2YCBCR.T / 255.0) + _OFFSET
        return round_to_integer(ycbcr)
    image = _as_float(image)
    return image @ (_RGB2YCBCR.T / 255.0).astype(image.dtype) + (_OFFSET / 255.0).astype(image.dtype)


def rgb2y(image: np.ndarray) -> np.ndarray:
    """Only the Y (luma) plane of :func:`rgb2ycbcr`; grayscale (H, W) images are returned as they are."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    if image.dtype == np.uint8:
        return round_to_integer(image.astype(np.float64) @ (_RGB2YCBCR[0] / 255.0) + _OFFSET[0])
    image = _as_float(image)
    return image @ (_RGB2YCBCR[0] / 255.0).astype(image.dtype) + image.dtype.type(_OFFSET[0] / 255.0)


def ycbcr2rgb(image: np.ndarray) -> np.ndarray:
    """YCbCr -> RGB, the inverse of :func:`rgb2ycbcr`. uint8 in, uint8 out; float in, float out."""
    image = np.asarray(image)
    _check_rgb(image)
    if image.dtype == np.uint8:
        rgb = (image.astype(np.float64) - _OFFSET) @ (_YCBCR2RGB.T * 255.0)
        return round_to_integer(rgb)
    image = _as_float(image)
    return (image - (_OFFSET / 255.0).astype(image.dtype)) @ (_YCBCR2RGB.T * 255.0).astype(image.dtype)


def to_plane(image: np.ndarray, channels: int = 1) -> np.ndarray:
    """What a network of ``channels`` sees of a uint8 image: its Y (the papers' choice) or RGB
    (grayscale repeated into three channels)."""
    if channels == 1:
        return rgb2y(image)
    return image if image.ndim == 3 else np.dstack([image] * 3)
