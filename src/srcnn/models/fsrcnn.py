"""FSRCNN (Dong, Loy, Tang, ECCV 2016): SRCNN's successor that works on the LR image itself.

feature extraction 5x5 -> d, shrinking 1x1 -> s, m mapping layers 3x3 (s -> s), expanding 1x1 -> d,
each followed by PReLU, then one up-sampling layer: the paper's 9x9 transposed convolution with
stride = scale (``upsampler="deconv"``) or its sub-pixel equivalent (ESPCN: a 3x3 convolution to
scale^2 channels and a pixel shuffle, ``"subpixel"``), which runs several times faster on a CPU.
``residual=True`` adds MATLAB's exact bicubic up-scaling of the input (computed on the LR grid), so
the network learns only the detail bicubic misses. As for SRCNN, every layer replicates its input's
border, so tiles cut with ``receptive_radius`` of overlap give exactly the whole-image result.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import cpu_conv
from .exact import width_independent_kernels
from .upsample import RADIUS as BICUBIC_RADIUS
from .upsample import BicubicUpsample, pixel_shuffle

__all__ = ["FSRCNNConfig", "FSRCNN"]

UPSAMPLERS = ("subpixel", "deconv")
ACTIVATIONS = ("prelu", "relu")
DECONV_SIZE = 9


@dataclass(frozen=True)
class FSRCNNConfig:
    """Args:
        scale: the up-scaling factor (the last layer depends on it).
        d: feature maps of the LR feature extraction and of the expanding layer (56; FSRCNN-s: 32).
        s: feature maps after shrinking, in the mapping layers (12; FSRCNN-s: 5).
        m: number of 3x3 mapping layers (4; FSRCNN-s: 1).
        channels: 1 (Y, the papers' choice) or 3 (RGB).
        upsampler: "subpixel" (3x3 conv + pixel shuffle) or "deconv" (the paper's 9x9 transposed conv).
        activation: "prelu" (the paper) or "relu".
        residual: add the exact bicubic up-scaling of the input to the output.
    """

    scale: int = 3
    d: int = 56
    s: int = 12
    m: int = 4
    channels: int = 1
    upsampler: str = "subpixel"
    activation: str = "prelu"
    residual: bool = True

    family = "fsrcnn"
    input_grid = "lr"  # the network takes the LR image itself

    def __post_init__(self):
        if self.scale < 1:
            raise ValueError(f"scale must be at least 1, got {self.scale}")
        if min(self.d, self.s) < 1 or self.m < 0:
            raise ValueError(f"FSRCNN needs d, s >= 1 and m >= 0, got ({self.d}, {self.s}, {self.m})")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (Y) or 3 (RGB), got {self.channels}")
        if self.upsampler not in UPSAMPLERS:
            raise ValueError(f"upsampler must be one of {', '.join(UPSAMPLERS)}, got {self.upsampler!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")

    @property
    def arch(self) -> str:
        return f"fsrcnn-{self.d}-{self.s}-{self.m}"

    @property
    def upscale_factor(self) -> int:
        """Output pixels per input pixel along each side."""
        return self.scale

    @property
    def deconv_centre(self) -> int:
        """The 9x9 kernel's tap that falls on an LR pixel's own position for output phase 0."""
        return DECONV_SIZE // 2 - (self.scale - 1) // 2

    @property
    def deconv_radius(self) -> int:
        """LR pixels each side that the 9x9 stride-``scale`` transposed convolution reads: the
        largest offset t whose tap ``a + centre - t * scale`` lies in the kernel for some phase a."""
        r, c0 = self.scale, self.deconv_centre
        return max(abs(t) for t in range(-DECONV_SIZE, DECONV_SIZE + 1)
                   if any(0 <= a + c0 - t * r < DECONV_SIZE for a in range(r)))

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context each output pixel sees on one side."""
        last = 1 if self.upsampler == "subpixel" else self.deconv_radius
        net = 2 + self.m + last
        return max(net, BICUBIC_RADIUS) if self.residual else net

    def to_metadata(self) -> dict[str, str]:
        return {"family": self.family, "arch": self.arch, "d": str(self.d), "s": str(self.s), "m": str(self.m),
                "channels": str(self.channels), "upsampler": self.upsampler, "activation": self.activation,
                "residual": str(self.residual).lower()}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> "FSRCNNConfig":
        return cls(scale=int(meta["scale"]), d=int(meta["d"]), s=int(meta["s"]), m=int(meta["m"]),
                   channels=int(meta["channels"]), upsampler=meta["upsampler"], activation=meta["activation"],
                   residual=meta.get("residual", "true") == "true")


def _prelu_padded(x: torch.Tensor, slope: torch.Tensor, pad: int, extra: int = 0) -> torch.Tensor:
    """``F.pad(F.prelu(x, slope), (pad, pad + extra, pad, pad), mode="replicate")`` in fewer passes
    over memory: on a channels-last map, each row is w * c values, so the slopes are one row long
    (ATen's PReLU vectorises that view; per channel over c = 12 it ran many times slower), and the
    result is copied straight into the padded buffer's interior. Compiled, or on other layouts, the
    plain ops (inductor fuses them)."""
    n, c, h, w = x.shape
    if n != 1 or pad == 0 or torch.compiler.is_compiling() or not x.is_contiguous(memory_format=torch.channels_last):
        y = F.prelu(x, slope.reshape(-1))
        return F.pad(y, (pad, pad + extra, pad, pad), mode="replicate") if pad or extra else y
    rows = x.permute(0, 2, 3, 1).view(h, w * c)
    padded = torch.empty((n, c, h + 2 * pad, w + 2 * pad + extra), dtype=x.dtype, device=x.device,
                         memory_format=torch.channels_last)
    # one pass where max(u, w * u) took two and a temporary (`benchmarks/realtime.py --video-stages`
    # times the network per frame); the copy into the padded buffer is cheap
    padded.permute(0, 2, 3, 1)[0, pad : pad + h, pad : pad + w].view(h, w * c).copy_(
        F.prelu(rows, slope.reshape(-1).repeat(w)))
    padded[:, :, :pad, pad : pad + w] = padded[:, :, pad : pad + 1, pad : pad + w]
    padded[:, :, pad + h :, pad : pad + w] = padded[:, :, pad + h - 1 : pad + h, pad : pad + w]
    padded[..., :pad] = padded[..., pad : pad + 1]
    padded[..., pad + w :] = padded[..., pad + w - 1 : pad + w]
    return padded


class _FoldedLayers(nn.Module):
    """FSRCNN's layers up to the sub-pixel phases, rewritten for inference (FSRCNN.fold_for_inference).

    The two wide PReLUs (d maps, after feature extraction and after expanding) cost more than all the
    convolutions (measured), so they disappear: PReLU(x) = (1 - w) * ReLU(x) + w * x, and the layer
    after takes the linear part w * x through a small convolution of its own from the narrow map the
    wide one was made from (a 5x5 convolution of the 1-channel input; a 3x3 of the s mapped maps). The
    ReLU is fused into the wide convolution. The narrow PReLUs (s maps) run as they are, written
    straight into the next layer's replicate padding (``_prelu_padded``). Mathematically the same
    network; in float32 within rounding of the original (tested), in bf16 as close to it as bf16 is.
    """

    def __init__(self, model: "FSRCNN"):
        super().__init__()
        body, acts = list(model.body), list(model.acts)
        weights = [conv.weight.detach().clone().float() for conv in body]
        biases = [conv.bias.detach().clone().float() for conv in body]
        last_weight, last_bias = (t.detach().clone().float() for t in model._phase_weights())
        slopes = [act.weight.detach().float() for act in acts]
        narrow = range(1, len(body) - 1)  # layers 1 .. m + 1, whose PReLUs stay (on s maps, cheap)
        # Wide layer 0 (feature extraction) into the shrinking 1x1: a ReLU branch and a linear bypass.
        w0, shrink = slopes[0], weights[1][:, :, 0, 0]
        self.register_buffer("head_weight", weights[0])
        self.register_buffer("head_bias", biases[0])
        self.register_buffer("shrink_weight", (shrink * (1 - w0))[:, :, None, None])
        self.register_buffer("shrink_bypass", torch.einsum("od,dikl->oikl", shrink * w0, weights[0]))
        self.register_buffer("shrink_bias", biases[1] + (shrink * w0) @ biases[0])
        self.register_buffer("slopes", torch.stack([slopes[i] for i in narrow]).unsqueeze(-1).unsqueeze(-1)
                             if len(narrow) else torch.zeros(0))
        self.maps = nn.ParameterList(nn.Parameter(weights[i], requires_grad=False) for i in range(2, len(body) - 1))
        self.map_biases = nn.ParameterList(nn.Parameter(biases[i], requires_grad=False)
                                           for i in range(2, len(body) - 1))
        # Wide expanding layer into the up-sampling layer, likewise (its input, the mapped maps, padded once).
        expand, w6 = weights[-1][:, :, 0, 0], slopes[-1]
        self.register_buffer("expand_weight", weights[-1])
        self.register_buffer("expand_bias", biases[-1])
        self.register_buffer("last_weight", last_weight * (1 - w6).view(1, -1, 1, 1))
        self.register_buffer("last_bypass", torch.einsum("odkl,di->oikl", last_weight * w6.view(1, -1, 1, 1), expand))
        self.register_buffer("last_bias", last_bias + torch.einsum("odkl,d->o", last_weight * w6.view(1, -1, 1, 1),
                                                                   biases[-1]))
        self.last_pad = last_weight.shape[-1] // 2
        self.column_group = cpu_conv.column_group(last_weight.shape[0])
        if self.column_group > 1:  # the CPU's form of the two up-sampling convolutions (cpu_conv.column_grouped)
            self.register_buffer("last_weight_grouped", cpu_conv.column_grouped(self.last_weight, self.column_group))
            self.register_buffer("last_bypass_grouped", cpu_conv.column_grouped(self.last_bypass, self.column_group))
            self.register_buffer("last_bias_grouped", self.last_bias.repeat(self.column_group))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The LR input (in the layers' dtype and layout) -> the phases before the pixel shuffle."""
        p = self.head_weight.shape[-1] // 2
        x = F.pad(x, (p, p, p, p), mode="replicate")
        wide = cpu_conv.conv(x, self.head_weight, self.head_bias, relu=True)
        y = cpu_conv.conv(wide, self.shrink_weight, self.shrink_bias)
        y.add_(cpu_conv.conv(x, self.shrink_bypass, None))
        # each narrow activation comes out padded for the layer after it (replicate padding commutes
        # with the 1x1 expanding layer and its ReLU, so the up-sampling layer's padding goes there)
        group = self.column_group if cpu_conv.groups_columns(x) else 1
        width = x.shape[-1] - 2 * p
        pads = [1] * len(self.maps) + [self.last_pad]
        extras = [0] * len(self.maps) + [-width % group]  # whole column groups for the last layer
        y = _prelu_padded(y, self.slopes[0], pads[0], extras[0])
        for weight, bias, slope, pad, extra in zip(self.maps, self.map_biases, self.slopes[1:], pads[1:], extras[1:]):
            y = _prelu_padded(cpu_conv.conv(y, weight, bias), slope, pad, extra)
        wide = cpu_conv.conv(y, self.expand_weight, self.expand_bias, relu=True)
        if group == 1:
            phases = cpu_conv.conv(wide, self.last_weight, self.last_bias)
            return phases.add_(cpu_conv.conv(y, self.last_bypass, None))
        phases = cpu_conv.conv(wide, self.last_weight_grouped, self.last_bias_grouped, column_stride=group)
        phases.add_(cpu_conv.conv(y, self.last_bypass_grouped, None, column_stride=group))
        return cpu_conv.ungroup_columns(phases, group, width)


class FSRCNN(nn.Module):
    def __init__(self, config: FSRCNNConfig = FSRCNNConfig()):
        super().__init__()
        self.config = config
        c, d, s = config.channels, config.d, config.s
        widths = [(c, d, 5), (d, s, 1)] + [(s, s, 3)] * config.m + [(s, d, 1)]
        self.body = nn.ModuleList(nn.Conv2d(i, o, k) for i, o, k in widths)
        self.acts = nn.ModuleList(self._activation(o) for _, o, _ in widths)
        r = config.scale
        if config.upsampler == "subpixel":
            self.last = nn.Conv2d(d, c * r * r, 3)
        else:
            self.last = nn.ConvTranspose2d(d, c, DECONV_SIZE, stride=r)
        self.skip = BicubicUpsample(r) if config.residual else None
        self.folded: _FoldedLayers | None = None  # set by fold_for_inference

    def _activation(self, width: int) -> nn.Module:
        return nn.PReLU(width, init=0.25) if self.config.activation == "prelu" else nn.ReLU()

    @property
    def receptive_radius(self) -> int:
        return self.config.receptive_radius

    train_crop = 0  # every layer pads, so training scores the whole patch

    @property
    def last_layer(self) -> nn.Module:
        return self.last

    def forward(self, x: torch.Tensor, same_size: bool = True) -> torch.Tensor:
        """x: LR image (N, C, H, W) in [0, 1] -> (N, C, H * scale, W * scale). ``same_size`` is
        accepted for the trainer's sake; FSRCNN always pads, so both give the full output."""
        return pixel_shuffle(self.output_phases(x), self.config.scale)

    def output_phases(self, x: torch.Tensor) -> torch.Tensor:
        """The output before its pixel shuffle: (N, C * scale^2, H, W) on the LR grid, in the input's
        dtype (``pixel_shuffle`` of it is ``forward``). The picture pipeline rounds these and
        shuffles them into its uint8 output in one pass."""
        with width_independent_kernels(self, x):
            return self._output_phases(x)

    def _output_phases(self, x: torch.Tensor) -> torch.Tensor:
        inp = x
        x = x.to(self.body[0].weight.dtype)  # a bf16 copy computes in bf16, answers in the caller's dtype
        if self.folded is not None:
            phases = self.folded(x)
        else:
            for conv, act in zip(self.body, self.acts):
                p = conv.kernel_size[0] // 2
                if p:
                    x = F.pad(x, (p, p, p, p), mode="replicate")
                x = act(conv(x))
            phases = self._phases(x)
        if self.skip is None:
            return phases.to(inp.dtype)
        # added on the LR grid, before the one pixel shuffle: the same sums. In place into the
        # bicubic's phases, which the low-precision phases are widened into without a copy of their own
        skip = self.skip.phases(inp)
        if skip.dtype == inp.dtype and not torch.is_grad_enabled():
            return skip.add_(phases)
        return phases.to(inp.dtype) + skip  # training (autocast too) as it always ran

    def _phases(self, x: torch.Tensor) -> torch.Tensor:
        """The up-sampling layer before its pixel shuffle: (N, C * scale^2, H, W) on the LR grid."""
        weight, bias = self._phase_weights()
        pad = weight.shape[-1] // 2
        return F.conv2d(F.pad(x, (pad,) * 4, mode="replicate"), weight, bias)

    def _phase_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The up-sampling layer as a convolution on the LR grid with C * scale^2 output channels."""
        if self.config.upsampler == "subpixel":
            return self.last.weight, self.last.bias
        return self._deconv_as_subpixel()

    def _deconv_as_subpixel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The transposed convolution's exact sub-pixel form: a convolution on the LR grid with one
        output channel per (channel, row phase, column phase), then a pixel shuffle (Shi et al. 2016).
        Output pixel ``i * r + a`` takes input ``i + t`` through tap ``a + c0 - t * r`` of the 9x9
        kernel, where ``c0`` puts the kernel's centre on each LR pixel's centre (as closely as an even
        scale allows). Running it this way is several times faster on a CPU; the weights stay the
        paper's layer, and the gradient flows to them through this gather."""
        r, c0, k = self.config.scale, self.config.deconv_centre, DECONV_SIZE
        q = self.config.deconv_radius
        t = torch.arange(-q, q + 1)
        taps = torch.arange(r)[:, None] + c0 - t[None, :] * r  # (phase, offset) -> kernel tap
        valid = (taps >= 0) & (taps < k)
        index = taps.clamp(0, k - 1).to(self.last.weight.device)
        mask = valid.to(self.last.weight.dtype).to(self.last.weight.device)
        w = self.last.weight  # (d, c, 9, 9): ConvTranspose2d's (in, out, kh, kw)
        w = w[:, :, index]  # (d, c, r, 2q+1, 9): rows gathered by (row phase, row offset)
        w = w[..., index]  # (d, c, r, 2q+1, r, 2q+1)
        w = w * mask[:, :, None, None] * mask[None, None, :, :]
        w = w.permute(1, 2, 4, 0, 3, 5)  # (c, row phase, col phase, d, row offset, col offset)
        weight = w.reshape(-1, w.shape[3], 2 * q + 1, 2 * q + 1)
        bias = self.last.bias.repeat_interleave(r * r)
        return weight, bias

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def fold_for_inference(self) -> None:
        """Switch this model, for inference only, to a faster form of the same function
        (``_FoldedLayers``: no pass over the wide maps for their PReLUs, ReLUs fused into the
        convolutions). Call it in float32, then cast: the folded weights are computed from the float32
        ones. The inference engine applies it to its own low-precision copy, never to a model being
        trained; PReLU networks only (a ReLU network has nothing to fold)."""
        if self.config.activation == "prelu":
            self.folded = _FoldedLayers(self)

    @torch.no_grad()
    def init_weights(self, scheme: str = "kaiming") -> None:
        """He-normal for the layers before an activation (the FSRCNN paper), a small last layer."""
        for conv in self.body:
            nn.init.kaiming_normal_(conv.weight, a=0.25 if self.config.activation == "prelu" else 0.0)
            nn.init.zeros_(conv.bias)
        nn.init.normal_(self.last.weight, 0.0, 1e-3)
        nn.init.zeros_(self.last.bias)
