"""PSNR and SSIM on luma exactly as the SRCNN papers (and MATLAB) compute them.

Both images are reduced to MATLAB's uint8 Y (``rgb2ycbcr``; grayscale as it is), ``shave``
pixels are cut from every border, and the scores are computed on what remains.
SSIM is Wang et al. (2004): 11x11 Gaussian window with sigma 1.5, K = (0.01, 0.03), L = 255,
statistics over the 'valid' region only, the mean of the SSIM map.
"""

from __future__ import annotations

import numpy as np
from .color import rgb2y
from .degrade import filter_separable_valid, gaussian_window

__all__ = ["psnr", "ssim", "luma_for_metrics", "shave"]


def shave(image: np.ndarray, border: int) -> np.ndarray:
    if border <= 0:
        return image
    return image[border:-border, border:-border]


def luma_for_metrics(image: np.ndarray) -> np.ndarray:
    """uint8 Y plane of an RGB or grayscale uint8 image, as float64."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"metrics take uint8 images, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return rgb2y(image).astype(np.float64)


def _prepare(reference: np.ndarray, test: np.ndarray, border: int):
    ref = luma_for_metrics(reference)
    out = luma_for_metrics(test)
    if ref.shape != out.shape:
        raise ValueError(f"image sizes differ: {ref.shape} vs {out.shape}")
    return shave(ref, border), shave(out, border)


def psnr(reference: np.ndarray, test: np.ndarray, shave_border: int = 0) -> float:
    """PSNR in dB of the uint8 Y planes with ``shave_border`` pixels removed from each side."""
    ref, out = _prepare(reference, test, shave_border)
    mse = np.mean((ref - out) ** 2)
    if mse == 0:
        return float("inf")
    return float(10 * np.log10(255.0**2 / mse))


def ssim(reference: np.ndarray, test: np.ndarray, shave_border: int = 0) -> float:
    """Mean SSIM (Wang et al. 2004) of the uint8 Y planes with ``shave_border`` pixels removed."""
    ref, out = _prepare(reference, test, shave_border)
    if min(ref.shape) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after shaving, got {ref.shape}")
    window = gaussian_window(11, 1.5)
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    mu1 = filter_separable_valid(ref, window)
    mu2 = filter_separable_valid(out, window)
    sigma1_sq = filter_separable_valid(ref * ref, window) - mu1 * mu1
    sigma2_sq = filter_separable_valid(out * out, window) - mu2 * mu2
    sigma12 = filter_separable_valid(ref * out, window) - mu1 * mu2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1 * mu1 + mu2 * mu2 + c1) * (sigma1_sq + sigma2_sq + c2)
    )
    return float(ssim_map.mean())
