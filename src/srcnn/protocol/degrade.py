"""Degradations that turn a high-resolution image into the network's input.

A degradation is a :class:`Degradation` object, parsed from a string by :func:`parse_degradation`.
It makes an LR image from an HR one (``lr``); ``make_input`` then upscales the LR image back to the
HR size with the exact MATLAB bicubic, which is what SRCNN restores (an LR-grid model, FSRCNN, takes
the LR image itself). Every random draw comes from the ``numpy.random.Generator`` passed in, so a
training batch is a function of (seed, step) and an evaluation is repeatable to the bit.

- ``bicubic``: MATLAB ``imresize(hr, 1/s, 'bicubic')``, as the authors' training code does.
- ``blur`` / ``blur:1.6`` / ``blur:1.0-2.0``: Gaussian blur (default sigma ``DEFAULT_BLUR_SIGMA``; a
  range draws sigma uniformly) then keep every s-th pixel starting at the centre of each s x s
  block, as the paper's text describes.
- ``subsample``: keep every s-th pixel, starting at the top-left one (plain decimation, no filter).
- ``noise`` / ``noise:10`` / ``noise:5-50``: the bicubic LR image (the image itself at scale 1)
  plus Gaussian noise of sigma in 0..255 units (default ``DEFAULT_NOISE_SIGMA``; a range draws sigma
  uniformly). Not clipped, so the documented level is exact.
- ``jpeg:75`` / ``jpeg:30-95``: the bicubic LR image, rounded to uint8 and encoded by Pillow at that
  quality (a range draws an integer quality uniformly, ends included); a Y plane is encoded as a
  grey JPEG, RGB as a colour one (Pillow's default 4:2:0 chroma subsampling).
- ``real``: with probability ``REAL_CLEAN_SHARE`` (0.2) the clean bicubic LR image, so a model trained
  on it keeps the paper's setting; otherwise a camera-then-website chain with these ranges, each drawn
  uniformly, where blur, noise and JPEG each run with probability ``REAL_STEP_SHARE`` (0.5):
  Gaussian blur of the HR image, sigma 0.2-1.5 HR pixels; down-scaling by s with bicubic (MATLAB),
  bilinear or area (Pillow), one of the three at random (skipped at scale 1); Gaussian noise,
  sigma 0-15 of 255; rounding to uint8 and JPEG at quality 40-95.

- ``A+B[+C...]``: a mixture: each image (each patch in training) draws one of the listed
  degradations with equal probability, then applies it; e.g. ``real+jpeg:40-95+bicubic`` weighs the
  `real` chain, JPEG-only and clean inputs a third each.

A degradation with a random draw (noise, jpeg or blur with a range, real, a mixture) is applied per patch in
training (``random`` is true): a fresh draw for every patch of every step. A deterministic one is
applied once per image.

All functions take and return float arrays in [0, 1] (noise may leave that range).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import SRCNNError
from .resize import imresize, modcrop

__all__ = ["DEGRADATIONS", "Degradation", "parse_degradation", "degrade", "make_input", "gaussian_window",
           "filter_separable_valid"]

DEGRADATIONS = ("bicubic", "blur", "subsample", "noise", "jpeg", "real")
DEFAULT_BLUR_SIGMA = 1.6
DEFAULT_NOISE_SIGMA = 25.0
REAL_CLEAN_SHARE = 0.2  # clean inputs still arrive; without them the model over-smooths them
# Blur, noise and JPEG each run with this probability: photos carry one, two or all three, and a
# model that only ever saw all three at once smoothed clean and JPEG-only inputs (validation, x3).
REAL_STEP_SHARE = 0.5
REAL_BLUR_SIGMA = (0.2, 1.5)
REAL_NOISE_SIGMA = (0.0, 15.0)
REAL_JPEG_QUALITY = (40, 95)
REAL_RESIZERS = ("bicubic", "bilinear", "area")


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


def _draw(rng: np.random.Generator | None, low: float, high: float) -> float:
    if low == high:
        return low
    if rng is None:
        raise ValueError("a random degradation needs a numpy Generator (rng)")
    return float(rng.uniform(low, high))


def _jpeg(lr: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    pixels = np.clip(np.round(lr * 255.0), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB").save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded, dtype=np.float64) / 255.0


def _pillow_downscale(hr: np.ndarray, scale: int, method: str) -> np.ndarray:
    from PIL import Image

    resample = Image.BILINEAR if method == "bilinear" else Image.BOX
    size = (hr.shape[1] // scale, hr.shape[0] // scale)
    planes = [hr] if hr.ndim == 2 else [hr[..., c] for c in range(hr.shape[2])]
    out = [np.asarray(Image.fromarray(p.astype(np.float32), "F").resize(size, resample), dtype=np.float64)
           for p in planes]
    return out[0] if hr.ndim == 2 else np.stack(out, axis=-1)


@dataclass(frozen=True)
class Degradation:
    """One degradation: ``name`` (one of ``DEGRADATIONS``) and its level ``low``..``high`` (blur sigma
    in HR pixels, noise sigma in 0..255, JPEG quality; equal for a fixed level; unused otherwise)."""

    name: str
    low: float = 0.0
    high: float = 0.0
    parts: tuple["Degradation", ...] = ()  # a mixture's degradations (name "mix")

    @property
    def spec(self) -> str:
        """The string that parses back to this degradation."""
        if self.name == "mix":
            return "+".join(part.spec for part in self.parts)
        if self.name in ("bicubic", "subsample", "real"):
            return self.name
        level = f"{self.low:g}" if self.low == self.high else f"{self.low:g}-{self.high:g}"
        return f"{self.name}:{level}"

    @property
    def random(self) -> bool:
        """True when it draws random numbers: applied per patch in training, seeded in evaluation."""
        return self.name in ("noise", "real", "mix") or self.low != self.high

    @property
    def task(self) -> str | None:
        """The restoration task a scale-1 model trained on it performs."""
        return {"noise": "denoise", "jpeg": "jpeg"}.get(self.name)

    def lr(self, hr: np.ndarray, scale: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """LR image from a float HR image in [0, 1] whose height and width are multiples of ``scale``."""
        hr = np.asarray(hr, dtype=np.float64)
        if hr.shape[0] % scale or hr.shape[1] % scale:
            raise ValueError(f"HR size {hr.shape[:2]} is not a multiple of scale {scale}; modcrop it first")
        if self.random and rng is None:
            rng = np.random.default_rng()
        name = self.name
        if name == "mix":
            return self.parts[int(rng.integers(len(self.parts)))].lr(hr, scale, rng)
        if name == "blur":
            offset = (scale - 1) // 2
            return _gaussian_blur(hr, _draw(rng, self.low, self.high))[offset::scale, offset::scale]
        if name == "subsample":
            return hr[::scale, ::scale].copy()
        if name == "real":
            if rng.random() < REAL_CLEAN_SHARE:
                return hr if scale == 1 else imresize(hr, 1 / scale)
            # Every draw is made whether or not its step runs, so one step's share never shifts another's.
            blur, noise = float(rng.uniform(*REAL_BLUR_SIGMA)), float(rng.uniform(*REAL_NOISE_SIGMA))
            method = REAL_RESIZERS[int(rng.integers(len(REAL_RESIZERS)))]
            quality = int(rng.integers(REAL_JPEG_QUALITY[0], REAL_JPEG_QUALITY[1] + 1))
            use_blur, use_noise, use_jpeg = rng.random(3) < REAL_STEP_SHARE
            image = _gaussian_blur(hr, blur) if use_blur else hr
            if scale > 1:
                image = imresize(image, 1 / scale) if method == "bicubic" else _pillow_downscale(image, scale, method)
            if use_noise:
                image = image + rng.normal(0.0, noise / 255.0, size=image.shape)
            return _jpeg(image, quality) if use_jpeg else image
        lr = hr if scale == 1 else imresize(hr, 1 / scale)
        if name == "noise":
            sigma = _draw(rng, self.low, self.high)
            return lr + rng.normal(0.0, sigma / 255.0, size=lr.shape)
        if name == "jpeg":
            quality = self.low if self.low == self.high else int(rng.integers(int(self.low), int(self.high) + 1))
            return _jpeg(lr, int(quality))
        return lr  # bicubic

    def network_input(self, hr: np.ndarray, scale: int, input_grid: str = "hr",
                      rng: np.random.Generator | None = None) -> np.ndarray:
        """What the network sees for a modcropped HR image: the LR image (``"lr"`` grid) or the LR
        image upscaled back to the HR size by exact bicubic (``"hr"`` grid)."""
        lr = self.lr(hr, scale, rng)
        if input_grid == "lr" or scale == 1:
            return lr
        return imresize(lr, output_shape=hr.shape[:2])


_LIMITS = {"blur": (0.0, 10.0), "noise": (0.0, 255.0), "jpeg": (1, 100)}


def parse_degradation(spec: "str | Degradation", *, blur_sigma: float = DEFAULT_BLUR_SIGMA,
                      noise_sigma: float = DEFAULT_NOISE_SIGMA) -> Degradation:
    """``bicubic``, ``blur[:S|:A-B]``, ``subsample``, ``noise[:S|:A-B]``, ``jpeg:Q|A-B``, ``real``, or a
    mixture of them joined by ``+``.
    A bare ``blur`` / ``noise`` takes ``blur_sigma`` / ``noise_sigma``. Bad specs raise a one-line
    SRCNNError."""
    if isinstance(spec, Degradation):
        return spec
    text = str(spec).strip().lower()
    if "+" in text:
        parts = tuple(parse_degradation(part, blur_sigma=blur_sigma, noise_sigma=noise_sigma)
                      for part in text.split("+"))
        if any(part.name == "mix" for part in parts):
            raise SRCNNError(f"degradation {spec!r}: a mixture's parts cannot be mixtures")
        return Degradation("mix", parts=parts)
    name, colon, level = text.partition(":")
    if name not in DEGRADATIONS:
        raise SRCNNError(f"unknown degradation {spec!r}; choose from {', '.join(DEGRADATIONS)} "
                         "(e.g. noise:10, noise:5-50, jpeg:75, blur:1.0-2.0)")
    if name in ("bicubic", "subsample", "real"):
        if level:
            raise SRCNNError(f"degradation {name!r} takes no level (got {spec!r})")
        return Degradation(name)
    if colon and not level:
        raise SRCNNError(f"degradation {spec!r} has an empty level: write {name}:N or {name}:A-B")
    if not level:
        if name == "jpeg":
            raise SRCNNError("the jpeg degradation needs a quality: jpeg:75 or a range jpeg:30-95")
        default = blur_sigma if name == "blur" else noise_sigma
        level = f"{default}"
    parts = level.split("-")
    try:
        if len(parts) not in (1, 2) or not all(parts):
            raise ValueError
        low, high = (float(parts[0]), float(parts[-1]))
    except ValueError:
        raise SRCNNError(f"bad level in degradation {spec!r}: expected a number or a range like 5-50") from None
    lo_limit, hi_limit = _LIMITS[name]
    if not (lo_limit <= low <= high <= hi_limit) or (name == "blur" and low <= 0):
        raise SRCNNError(f"degradation {spec!r}: the level must be a rising range within "
                         f"{lo_limit:g}..{hi_limit:g}" + (" and above 0" if name == "blur" else ""))
    if name == "jpeg" and (low != int(low) or high != int(high)):
        raise SRCNNError(f"degradation {spec!r}: JPEG quality is a whole number 1..100")
    return Degradation(name, low, high)


def degrade(
    hr: np.ndarray,
    scale: int,
    kind: "str | Degradation" = "bicubic",
    *,
    blur_sigma: float = DEFAULT_BLUR_SIGMA,
    noise_sigma: float = DEFAULT_NOISE_SIGMA,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """LR image from a float HR image in [0, 1] whose height and width are multiples of ``scale``."""
    try:
        degradation = parse_degradation(kind, blur_sigma=blur_sigma, noise_sigma=noise_sigma)
    except SRCNNError as exc:
        raise ValueError(str(exc)) from None
    return degradation.lr(hr, scale, rng)


def make_input(hr: np.ndarray, scale: int, kind: "str | Degradation" = "bicubic",
               **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """(network input, target): the LR image upscaled back by exact bicubic, and the modcropped HR."""
    hr = modcrop(np.asarray(hr, dtype=np.float64), scale)
    lr = degrade(hr, scale, kind, **kwargs)
    upscaled = lr if scale == 1 else imresize(lr, output_shape=hr.shape[:2])
    return upscaled, hr
