"""Inference: ``engine`` runs any model family on a plane (device, precision, tiles, compile);
``pipeline`` turns pictures, video planes and float images into planes and back (colour, chroma,
alpha, bands) and holds the bicubic baseline. ``upscale`` and ``Upscaler`` are the Python API."""

from .engine import Engine, bf16_supported, resolve_device, resolve_precision
from .pipeline import METHODS, SCALES, Upscaler, make_upscaler, upscale

__all__ = ["Engine", "Upscaler", "upscale", "make_upscaler", "SCALES", "METHODS", "bf16_supported",
           "resolve_precision", "resolve_device"]
