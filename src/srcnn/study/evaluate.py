"""Score an upscaling method on a folder of HR images with the papers' protocol.

For every image (the authors' ``demo_SR.m``): Y of MATLAB ``rgb2ycbcr`` (grayscale as it is),
``modcrop`` to the scale, LR = exact bicubic down-scaling of Y in floating point, the method
upscales LR back, the result is rounded to uint8, and PSNR / SSIM are taken with ``scale`` pixels
shaved from every border. This gives the published bicubic numbers (Set5 33.66 / 30.39 / 28.42).
"""

from __future__ import annotations

import zlib

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..protocol.color import quantize, to_plane
from ..io.imageio import list_images, read_image
from ..protocol.metrics import psnr, ssim
from ..protocol.degrade import Degradation, parse_degradation
from ..protocol.resize import modcrop

__all__ = ["ImageScore", "evaluate_plane", "evaluate_images", "evaluate_folder", "summary"]

# A method takes the LR plane (float, [0, 1]) and the scale and returns the upscaled plane.
PlaneUpscaler = Callable[[np.ndarray, int], np.ndarray]


@dataclass
class ImageScore:
    name: str
    psnr: float
    ssim: float


def evaluate_plane(hr_plane: np.ndarray, scale: int, method: PlaneUpscaler,
                   degradation: "str | Degradation" = "bicubic", *, rng: np.random.Generator | None = None,
                   **degrade_kwargs) -> tuple[float, float]:
    """(PSNR, SSIM) of ``method`` on one uint8 HR plane (Y, or RGB for RGB models), LR made by
    ``degradation``; the scores are on the luma of the rounded result. A random degradation draws
    from ``rng`` (default: seed 0, the same draw every validation)."""
    hr = modcrop(hr_plane, scale)
    degradation = parse_degradation(degradation, **degrade_kwargs)
    if degradation.random and rng is None:
        rng = np.random.default_rng(0)
    lr = degradation.lr(hr.astype(np.float64) / 255.0, scale, rng)
    sr = method(lr, scale)
    if sr.shape != hr.shape:
        raise ValueError(f"method returned {sr.shape}, expected {hr.shape}")
    sr8 = quantize(sr)
    return psnr(hr, sr8, scale), ssim(hr, sr8, scale)


def evaluate_images(images: Iterable[tuple[str, np.ndarray]], scale: int, method: PlaneUpscaler,
                    degradation: "str | Degradation" = "bicubic", seed: int = 0) -> list[ImageScore]:
    """Score ``method`` on (name, uint8 image) pairs. A random ``degradation`` draws from a Generator
    seeded by (``seed``, the image's name), so a score is repeatable to the bit whatever the order
    or the other images."""
    channels = getattr(method, "channels", 1)
    degradation = parse_degradation(degradation)
    scores = []
    for name, image in images:
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        p, s = evaluate_plane(to_plane(image, channels), scale, method, degradation, rng=rng)
        scores.append(ImageScore(name, p, s))
    return scores


def evaluate_folder(data_dir: str | Path, scale: int, method: PlaneUpscaler,
                    degradation: "str | Degradation" = "bicubic", seed: int = 0) -> list[ImageScore]:
    paths = list_images(data_dir)
    return evaluate_images(((p.stem, read_image(p)) for p in paths), scale, method, degradation, seed)


def summary(scores: list[ImageScore]) -> dict:
    """The ``--json`` document: per-image scores and their mean."""
    return {
        "mean": {
            "psnr": float(np.mean([s.psnr for s in scores])),
            "ssim": float(np.mean([s.ssim for s in scores])),
        },
        "images": [{"name": s.name, "psnr": s.psnr, "ssim": s.ssim} for s in scores],
    }
