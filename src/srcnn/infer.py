"""Running a trained SRCNN on images: bicubic up-scaling, then the network on luma.

``upscale(image, scale)`` is the Python API behind ``srcnn upscale``: a PIL image or a NumPy array
in, the same kind out, exactly ``scale`` times larger. Colour images send Y through the network and
Cb/Cr through bicubic only, as the paper does; grayscale stays grayscale.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .color import rgb2y, rgb2ycbcr, ycbcr2rgb
from .errors import SRCNNError
from .evaluate import to_uint8
from .model import SRCNN
from .resize import imresize
from .weights import resolve_model

__all__ = ["Upscaler", "upscale", "SCALES", "METHODS", "bf16_supported", "resolve_precision"]

SCALES = (2, 3, 4)
METHODS = ("srcnn", "bicubic")


def bf16_supported() -> bool:
    """True where the CPU has native bf16 matrix units (AMX or AVX-512 BF16)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """'fp32' -> None (no autocast); 'bf16' -> bfloat16; 'auto' -> bf16 on CUDA or a bf16-capable CPU."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" or bf16_supported() else None
    raise ValueError(f"precision must be fp32, bf16 or auto, got {precision!r}")


class Upscaler:
    """A model bound to a scale: call it with an LR plane (float, [0, 1]) to get the SR plane."""

    def __init__(self, model: SRCNN | None, scale: int, precision: str = "fp32", device: str | torch.device = "cpu"):
        if scale not in SCALES and not (model is not None and scale == 1):
            raise SRCNNError(f"unsupported scale {scale}: choose from {', '.join(map(str, SCALES))}")
        self.model = model
        self.scale = scale
        self.device = torch.device(device)
        self.autocast_dtype = resolve_precision(precision, self.device)
        if model is not None:
            self.model = model.to(self.device).eval()

    @property
    def channels(self) -> int:
        return 1 if self.model is None else self.model.config.channels

    @torch.no_grad()
    def restore(self, upscaled: np.ndarray) -> np.ndarray:
        """Run the network on a bicubic-upscaled (H, W) or (H, W, C) float plane."""
        x = torch.from_numpy(np.ascontiguousarray(upscaled, dtype=np.float32))
        x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
        x = x.to(self.device)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            y = self.model(x)
        y = y.float()[0].cpu().numpy()
        return y[0] if upscaled.ndim == 2 else y.transpose(1, 2, 0)

    def upscale_image(self, image):
        """A PIL image or uint8 (H, W) / (H, W, 3) array in, the same kind out, ``scale`` times larger."""
        if isinstance(image, Image.Image):
            return Image.fromarray(self.upscale_array(_pil_to_array(image)))
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
            raise SRCNNError(f"expected a uint8 (H, W) or (H, W, 3) array, got {array.dtype} {array.shape}")
        return self.upscale_array(array)

    def upscale_array(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W) or (H, W, 3) -> uint8. Colour: Y through the network, CbCr by bicubic."""
        s = self.scale
        h, w = image.shape[:2]
        if self.model is None:
            return imresize(image, output_shape=(h * s, w * s))  # plain bicubic on uint8, like MATLAB
        if self.channels == 3:
            rgb = image if image.ndim == 3 else np.dstack([image] * 3)
            out = to_uint8(self(rgb.astype(np.float64) / 255.0))
            return out if image.ndim == 3 else rgb2y(out)
        if image.ndim == 2:
            return to_uint8(self(image.astype(np.float64) / 255.0))
        ycbcr = rgb2ycbcr(image.astype(np.float64) / 255.0)
        y = self(ycbcr[:, :, 0])
        cbcr = imresize(ycbcr[:, :, 1:], output_shape=(h * s, w * s))
        return to_uint8(ycbcr2rgb(np.dstack([y, cbcr])))

    def __call__(self, lr: np.ndarray, scale: int | None = None) -> np.ndarray:
        scale = self.scale if scale is None else scale
        if scale != self.scale:
            raise ValueError(f"this upscaler is for x{self.scale}, not x{scale}")
        h, w = lr.shape[:2]
        up = lr if scale == 1 else imresize(lr, output_shape=(h * scale, w * scale))
        return up if self.model is None else self.restore(up)


def _pil_to_array(image: Image.Image) -> np.ndarray:
    if image.mode not in ("L", "RGB"):
        image = image.convert("L" if image.mode in ("1", "I", "I;16", "F") else "RGB")
    return np.asarray(image)


def upscale(image, scale: int = 3, model: str | SRCNN | None = None, method: str = "srcnn",
            precision: str = "fp32", device: str = "cpu"):
    """Upscale a PIL image or a uint8 NumPy array by ``scale``; returns the same kind.

    ``model`` is a shipped model's name, a weights file, an ``SRCNN`` instance, or None for the
    shipped default of that scale. ``method='bicubic'`` is the MATLAB-exact bicubic baseline.
    """
    return make_upscaler(scale, model, method, precision, device).upscale_image(image)


def make_upscaler(scale: int, model: str | SRCNN | None = None, method: str = "srcnn",
                  precision: str = "fp32", device: str = "cpu") -> Upscaler:
    if scale not in SCALES:
        raise SRCNNError(f"unsupported scale {scale}: choose from {', '.join(map(str, SCALES))}")
    if method == "bicubic":
        return Upscaler(None, scale)
    if method != "srcnn":
        raise SRCNNError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    if not isinstance(model, SRCNN):
        model, _ = resolve_model(model, scale)
    return Upscaler(model, scale, precision, device)
