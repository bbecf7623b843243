"""Convolutions for CPU inference, run the way oneDNN runs them fastest (measured on this project's
machines): unpadded (the callers pad as their border rule says), with a ReLU fused in as a oneDNN
post-op, and, where a layer has fewer output channels than oneDNN's block, with neighbouring columns
grouped into the block (``column_grouped``). Inference only: the fused op has no autograd. Elsewhere
(CUDA, no oneDNN) the same functions fall back to ``F.conv2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["CHANNEL_BLOCK", "bf16_supported", "conv", "column_group", "groups_columns", "column_grouped",
           "ungroup_columns"]

_FUSED_CONV = getattr(torch.ops.mkldnn, "_convolution_pointwise", None) if torch.backends.mkldnn.is_available() else None


def bf16_supported() -> bool:
    """True where the CPU has native bf16 matrix units (AMX or AVX-512 BF16) that oneDNN uses."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


# oneDNN's bf16 convolutions refuse to run on a CPU without AVX-512 or AVX-NE-CONVERT (an AVX2-only
# AMD EPYC, say): there bf16 takes ATen's own path, slow but exact to its rounding.
_FUSED_DTYPES = (torch.float32, torch.bfloat16) if bf16_supported() else (torch.float32,)


def conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, relu: bool = False,
         column_stride: int = 1) -> torch.Tensor:
    """An unpadded convolution, with its ReLU fused into it on the CPU (oneDNN's post-op: no extra
    pass over the wide maps). A one-channel input is handed over with channels-last strides: without
    them oneDNN took the plain path, several times slower on the 5x5 head (measured). Where autograd
    or the ONNX exporter's tracing needs it, for other dtypes and off the CPU, ``F.conv2d``."""
    if (_FUSED_CONV is not None and x.device.type == "cpu" and x.dtype in _FUSED_DTYPES and not x.requires_grad
            and not torch.jit.is_tracing()):
        if x.shape[1] == 1 and x.stride(1) != 1:  # a one-channel map: say channels-last, as oneDNN wants
            n, _, h, w = x.shape
            x = x.contiguous().as_strided(x.shape, (h * w, 1, w, 1))
        return _FUSED_CONV(x, weight, bias, [0, 0], [1, column_stride], [1, 1], 1, "relu" if relu else "none",
                           [], "")
    y = F.conv2d(x, weight, bias, stride=(1, column_stride))
    return y.relu_() if relu else y


# oneDNN's CPU convolutions compute output channels in blocks of 16 (bf16, AVX-512 and AMX), so a
# last layer with 4 outputs (x2's phases) wastes three quarters of every block. Grouping g = 16 /
# outputs neighbouring columns fills the block (`benchmarks/realtime.py --video-stages` times x2's
# frames).
CHANNEL_BLOCK = 16


def column_group(outputs: int) -> int:
    """How many neighbouring columns a layer with ``outputs`` channels groups into one block (1: none)."""
    return CHANNEL_BLOCK // outputs if outputs < CHANNEL_BLOCK and CHANNEL_BLOCK % outputs == 0 else 1


def groups_columns(x: torch.Tensor, one_channel: bool = False) -> bool:
    """Whether a convolution of ``x`` may run column-grouped: inference on the CPU, in bf16, or in
    float32 too for a ``one_channel`` input. For x2's 56-map last layer oneDNN summed a grouped column
    in another order in a float32 tile than in the whole image (tiles must be bit-identical there);
    over one channel's taps the sums came out the same at every offset (the bicubic's, tested).
    Training and the ONNX exporter take the plain layer."""
    dtypes = (torch.float32, torch.bfloat16) if one_channel else (torch.bfloat16,)
    return (x.device.type == "cpu" and x.dtype in dtypes and not torch.is_grad_enabled()
            and not torch.jit.is_tracing())


def column_grouped(weight: torch.Tensor, group: int) -> torch.Tensor:
    """A (o, i, k, k) kernel -> (group * o, i, k, k + group - 1): output channel ``s * o + j`` is kernel
    j moved s columns right. Run with column stride ``group``, it gives the plain convolution's
    outputs for ``group`` neighbouring columns as one pixel's channels, already in channels-last
    order; the zero taps it adds change no sum."""
    o, i, k, _ = weight.shape
    grouped = weight.new_zeros(group, o, i, k, k + group - 1)
    for shift in range(group):
        grouped[shift, ..., shift : shift + k] = weight
    return grouped.reshape(group * o, i, k, k + group - 1)


def ungroup_columns(y: torch.Tensor, group: int, width: int) -> torch.Tensor:
    """The output of a ``column_grouped`` convolution, (n, group * o, h, w'), -> (n, o, h, width): a
    view of the same memory in channels-last order, less the columns past ``width``."""
    y = y.contiguous(memory_format=torch.channels_last)
    n, go, h, w = y.shape
    o = go // group
    return y.as_strided((n, o, h, w * group), (h * w * go, 1, w * go, o))[..., :width]
