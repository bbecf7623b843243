"""Degradations that turn a high-resolution image into the network's input.

Each degradation makes an LR image from an HR one; ``make_input`` then upscales the LR image
back to the HR size with the exact MATLAB bicubic, which is what SRCNN restores.

- ``bicubic``: MATLAB ``imresize(hr, 1/s, 'bicubic')``, as the authors' training code does.
- ``blur``: Gaussian blur (``blur_sigma``, default ``DEFAULT_BLUR_SIGMA``) then keep every
  s-th pixel starting at the centre of each s x s block, as the paper's text describes.
- ``subsample``: keep every s-th pixel, starting at the top-left one (plain decimation, no filter).
- ``noise``: additive Gaussian noise of ``noise_sigma`` (in 0..255 units) at scale 1, so the same
  network trains as a denoiser.

All functions take and return float arrays in [0, 1] (``noise`` may leave that range; it is not clipped,
so the documented noise level is exact).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .resize import imresize, modcrop

__all__ = ["DEGRADATIONS", "degrade", "make_input", "gaussian_window", "filter_separable_valid"]

DEGRADATIONS = ("bicubic", "blur", "subsample", "noise")
DEFAULT_BLUR_SIGMA = 1.6
DEFAULT_NOISE_SIGMA = 25.0


def gaussian_window(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian; its outer product is MATLAB ``fspecial('gaussian', size, sigma)``."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def filter_separable_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Correlate the first two axes with ``window`` each, keeping only the 'valid' region."""
    rows = sliding_window_view(image, len(window), axis=0) @ window
    return sliding_window_view(rows, len(window), axis=1) @ window


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    window = gaussian_window(2 * radius + 1, sigma)
    pad = [(radius, radius), (radius, radius)] + [(0, 0)] * (image.ndim - 2)
    return filter_separable_valid(np.pad(image, pad, mode="symmetric"), window)


def degrade(
    hr: np.ndarray,
    scale: int,
    kind: str = "bicubic",
    *,
    blur_sigma: float = DEFAULT_BLUR_SIGMA,
    noise_sigma: float = DEFAULT_NOISE_SIGMA,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """LR image from a float HR image in [0, 1] whose height and width are multiples of ``scale``."""
    hr = np.asarray(hr, dtype=np.float64)
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise ValueError(f"HR size {hr.shape[:2]} is not a multiple of scale {scale}; modcrop it first")
    if kind == "bicubic":
        return imresize(hr, 1 / scale)
    if kind == "blur":
        offset = (scale - 1) // 2
        return _gaussian_blur(hr, blur_sigma)[offset::scale, offset::scale]
    if kind == "subsample":
        return hr[::scale, ::scale].copy()
    if kind == "noise":
        if scale != 1:
            raise ValueError("the noise degradation works at scale 1 (denoising)")
        rng = rng if rng is not None else np.random.default_rng()
        return hr + rng.normal(0.0, noise_sigma / 255.0, size=hr.shape)
    raise ValueError(f"unknown degradation {kind!r}; choose from {', '.join(DEGRADATIONS)}")


def make_input(hr: np.ndarray, scale: int, kind: str = "bicubic", **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """(network input, target): the LR image upscaled back by exact bicubic, and the modcropped HR."""
    hr = modcrop(np.asarray(hr, dtype=np.float64), scale)
    lr = degrade(hr, scale, kind, **kwargs)
    upscaled = lr if scale == 1 else imresize(lr, output_shape=hr.shape[:2])
    return upscaled, hr
