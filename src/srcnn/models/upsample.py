"""MATLAB's bicubic up-scaling by an integer factor, as a fixed convolution on the LR grid.

For an integer scale s, ``imresize(lr, s, 'bicubic')`` is a polyphase filter: output pixel
``i * s + p`` (0-based) is a 4-tap cubic (a = -0.5) of the LR pixels around ``i`` at the offset
``(p + 0.5) / s - 0.5``, separably in rows and columns, with MATLAB's symmetric border. Written as
one 5x5 convolution with s * s output channels and a pixel shuffle, it runs on the LR grid, in
torch, in whatever precision and device the caller uses; in float32 it matches the exact float64
``resize.imresize`` to about 1e-6. FSRCNN-style models add it as their skip connection, and the
inference engine uses it for chroma.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..protocol.resize import cubic
from . import cpu_conv

__all__ = ["BicubicUpsample", "bicubic_phase_weights", "symmetric_pad", "pixel_shuffle"]

RADIUS = 2  # LR pixels each side that a bicubic output pixel reads


def bicubic_phase_weights(scale: int) -> np.ndarray:
    """(scale, 5) taps over LR offsets -2..2 for each output phase, as MATLAB weighs them."""
    offsets = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    phases = (np.arange(scale, dtype=np.float64) + 0.5) / scale - 0.5
    weights = cubic(phases[:, None] - offsets[None, :])
    return weights / weights.sum(axis=1, keepdims=True)


def symmetric_pad(x: torch.Tensor, pad: int, extra_right: int = 0) -> torch.Tensor:
    """MATLAB's symmetric border (the edge pixel repeated, then mirrored) on the last two axes;
    torch's 'reflect' would skip the edge pixel. ``extra_right`` zero columns follow (whole column
    groups for a column-grouped convolution, whose outputs there are dropped)."""
    if pad == 0 and not extra_right:
        return x
    h, w = x.shape[-2:]
    if min(h, w) < pad:  # tiny images mirror more than once: MATLAB's index map, gathered
        for axis in (-2, -1):
            n = x.shape[axis]
            mirror = torch.cat([torch.arange(n), torch.arange(n - 1, -1, -1)])
            index = mirror[torch.remainder(torch.arange(-pad, n + pad), 2 * n)].to(x.device)
            x = x.index_select(x.ndim + axis, index)
        return F.pad(x, (0, extra_right)) if extra_right else x
    # one buffer, filled in place: fewer passes and allocations than concatenating the flipped edges
    out = x.new_empty(x.shape[:-2] + (h + 2 * pad, w + 2 * pad + extra_right))
    out[..., pad : pad + h, pad : pad + w] = x
    out[..., :pad, pad : pad + w] = x[..., :pad, :].flip(-2)
    out[..., pad + h :, pad : pad + w] = x[..., h - pad :, :].flip(-2)
    out[..., :pad] = out[..., pad : 2 * pad].flip(-1)
    out[..., pad + w : 2 * pad + w] = out[..., w : w + pad].flip(-1)
    out[..., 2 * pad + w :] = 0
    return out


def pixel_shuffle(x: torch.Tensor, scale: int) -> torch.Tensor:
    """``F.pixel_shuffle``, the same values, as a view and one copy, which eager CPU runs do faster
    than torch's own kernel. Under torch.compile, inductor's lowering of ``F.pixel_shuffle`` is the
    faster one, so it is kept there."""
    if torch.compiler.is_compiling():
        return F.pixel_shuffle(x, scale)
    n, c, h, w = x.shape
    c //= scale * scale
    x = x.view(n, c, scale, scale, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(n, c, h * scale, w * scale)


class BicubicUpsample(nn.Module):
    """(N, C, H, W) -> (N, C, H * scale, W * scale), MATLAB's bicubic; no parameters to train."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = int(scale)
        taps = torch.from_numpy(bicubic_phase_weights(self.scale))  # (s, 5), float64
        kernel = taps[:, None, :, None] * taps[None, :, None, :]  # (s, s, 5, 5): row phase, col phase
        # Kept in float64 outside the module's buffers, so that a bf16 copy of a model (model.to(bf16))
        # does not round the taps; each call casts them to the input's dtype and device.
        self.kernel = kernel.reshape(self.scale**2, 1, 5, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1:
            return x
        return pixel_shuffle(self.phases(x), self.scale)

    def phases(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C * scale^2, H, W): the output before its pixel shuffle, each channel's
        scale^2 phases together, as ``pixel_shuffle`` (and a sub-pixel layer's output) orders them."""
        n, c, h, w = x.shape
        planes = x.reshape(n * c, 1, h, w)
        kernel = self.kernel.to(device=planes.device, dtype=planes.dtype)
        if torch.compiler.is_compiling():
            phases = F.conv2d(symmetric_pad(planes, RADIUS), kernel)
        elif (group := cpu_conv.column_group(self.scale**2)) > 1 and cpu_conv.groups_columns(planes, one_channel=True):
            # x2's 4 phases fill a quarter of oneDNN's 16-channel block: 4 columns grouped run
            # several times faster, within 3e-7 of the plain sums and the same at every offset, so
            # bands and tiles stay bit-identical (tests/test_cpu_conv.py)
            planes = symmetric_pad(planes, RADIUS, extra_right=-w % group)
            grouped = self._grouped_kernel(group, planes)
            phases = cpu_conv.ungroup_columns(cpu_conv.conv(planes, grouped, None, column_stride=group), group, w)
        else:  # oneDNN's fused op where it applies, handed the plane channels-last (faster here)
            phases = cpu_conv.conv(symmetric_pad(planes, RADIUS), kernel, None)
        return phases.reshape(n, c * self.scale**2, h, w)

    def _grouped_kernel(self, group: int, like: torch.Tensor) -> torch.Tensor:
        key = (like.dtype, like.device)
        if getattr(self, "_grouped", (None,))[0] != key:  # made once per dtype and device
            self._grouped = (key, cpu_conv.column_grouped(self.kernel.to(device=like.device, dtype=like.dtype), group))
        return self._grouped[1]
