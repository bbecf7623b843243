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


class _SlopeMax(nn.Module):
    """max(x, w * x) per channel: a PReLU for slopes w <= 1 (see FSRCNN.fold_for_inference)."""

    def __init__(self, slope: torch.Tensor):
        super().__init__()
        self.register_buffer("slope", slope.detach().reshape(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, x * self.slope)


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
        with width_independent_kernels(self, x):
            return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        inp = x
        x = x.to(self.body[0].weight.dtype)  # a bf16 copy computes in bf16, answers in the caller's dtype
        for conv, act in zip(self.body, self.acts):
            p = conv.kernel_size[0] // 2
            if p:
                x = F.pad(x, (p, p, p, p), mode="replicate")
            x = act(conv(x))
        phases = self._phases(x).to(inp.dtype)
        if self.skip is not None:  # added on the LR grid, before the one pixel shuffle: the same sums
            phases = phases + self.skip.phases(inp)
        return pixel_shuffle(phases, self.config.scale)

    def _phases(self, x: torch.Tensor) -> torch.Tensor:
        """The up-sampling layer before its pixel shuffle: (N, C * scale^2, H, W) on the LR grid."""
        if self.config.upsampler == "subpixel":
            weight, bias, pad = self.last.weight, self.last.bias, 1
        else:
            weight, bias = self._deconv_as_subpixel()
            pad = weight.shape[-1] // 2
        return F.conv2d(F.pad(x, (pad,) * 4, mode="replicate"), weight, bias)

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
        """Rewrite this model in place, for inference only, into one that gives bit-identical outputs
        faster: each PReLU becomes ``max(u, w * u)``, two plain element-wise passes, where ATen's bf16
        PReLU kernel on channels-last maps runs several times slower (benchmarks/realtime.py). That form
        is a PReLU only for slopes w <= 1; a channel with w > 1 has min(x, w * x) = -max(u, w * u) for
        u = -x, so its convolution's weights and bias are negated (u comes out instead of x) and so are
        the next layer's weights for that input channel. Negating is exact, so every value matches.
        The inference engine applies it to its own low-precision copy, never to a model being trained."""
        if self.config.activation != "prelu":
            return
        following = [*self.body[1:], self.last]
        for conv, act, after in zip(self.body, self.acts, following, strict=True):
            sign = torch.where(act.weight > 1, -1.0, 1.0).to(act.weight.dtype)
            conv.weight.mul_(sign.view(-1, 1, 1, 1))
            conv.bias.mul_(sign)
            # the next layer reads this channel as its input: dim 1 of a convolution's weight, dim 0 of
            # a transposed convolution's
            after.weight.mul_(sign.view(-1, 1, 1, 1) if isinstance(after, nn.ConvTranspose2d)
                              else sign.view(1, -1, 1, 1))
        self.acts = nn.ModuleList(_SlopeMax(act.weight) for act in self.acts)

    @torch.no_grad()
    def init_weights(self, scheme: str = "kaiming") -> None:
        """He-normal for the layers before an activation (the FSRCNN paper), a small last layer."""
        for conv in self.body:
            nn.init.kaiming_normal_(conv.weight, a=0.25 if self.config.activation == "prelu" else 0.0)
            nn.init.zeros_(conv.bias)
        nn.init.normal_(self.last.weight, 0.0, 1e-3)
        nn.init.zeros_(self.last.bias)
