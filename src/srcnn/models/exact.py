"""fp32 CPU inference whose sums do not depend on the image's width, so tiles stay bit-identical."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def width_independent_kernels(model: nn.Module, x: torch.Tensor):
    """For fp32 inference on the CPU, run PyTorch's own convolution kernels instead of oneDNN's:
    oneDNN picks kernels by image width for narrow layers, and their sums then differ in the last
    bits between a tile and the whole image. Training, bf16 (oneDNN's speed) and other devices are
    left as they are."""
    weight = next(model.parameters())
    if model.training or x.device.type != "cpu" or weight.dtype != torch.float32 \
            or torch.is_autocast_enabled("cpu"):
        yield
        return
    was = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = was
