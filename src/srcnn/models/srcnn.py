"""The SRCNN network: patch extraction, non-linear mapping, reconstruction.

``SRCNNConfig`` names an architecture the way the papers do: filter sizes "9-5-5" (or "9-3-1-5"
for the TPAMI depth study, one more mapping layer per extra size) and widths n1, n2 (and more
for extra mapping layers). Every convolution replicates the border of its input before filtering,
as the authors' inference code does (``imfilter(..., 'same', 'replicate')``), so the output has
the input's size; training may switch that off and score only the valid centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import cpu_conv

__all__ = ["SRCNNConfig", "SRCNN", "parse_arch"]


def parse_arch(arch: str) -> tuple[int, ...]:
    """'9-5-5' -> (9, 5, 5). Odd filter sizes only, at least three layers."""
    try:
        sizes = tuple(int(part) for part in arch.split("-"))
    except ValueError:
        raise ValueError(f"architecture must look like 9-5-5, got {arch!r}") from None
    if len(sizes) < 3 or any(s < 1 or s % 2 == 0 for s in sizes):
        raise ValueError(f"architecture needs at least three odd filter sizes, got {arch!r}")
    return sizes


@dataclass(frozen=True)
class SRCNNConfig:
    kernel_sizes: tuple[int, ...] = (9, 5, 5)
    widths: tuple[int, ...] = (64, 32)  # n1, n2[, n22, ...]: one per layer but the last
    channels: int = 1  # 1: Y channel (the paper's choice); 3: RGB
    residual: bool = False  # add the (bicubic) input to the output: a global skip, not a new layer

    family = "srcnn"
    input_grid = "hr"  # the network takes the bicubic-upscaled image
    upscale_factor = 1  # and returns an image of the same size

    def __post_init__(self):
        object.__setattr__(self, "kernel_sizes", tuple(int(k) for k in self.kernel_sizes))
        object.__setattr__(self, "widths", tuple(int(n) for n in self.widths))
        if len(self.widths) != len(self.kernel_sizes) - 1:
            raise ValueError(
                f"{len(self.kernel_sizes)} layers need {len(self.kernel_sizes) - 1} widths, got {self.widths}"
            )
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (Y) or 3 (RGB), got {self.channels}")

    @classmethod
    def from_arch(cls, arch: str = "9-5-5", n1: int = 64, n2: int = 32, channels: int = 1,
                  residual: bool = False, extra_widths: tuple[int, ...] = ()) -> "SRCNNConfig":
        sizes = parse_arch(arch)
        widths = (n1, n2) + tuple(extra_widths)
        # Deeper nets of the depth study repeat n2 for the extra mapping layers unless told otherwise.
        widths = widths + (n2,) * (len(sizes) - 1 - len(widths))
        return cls(sizes, widths[: len(sizes) - 1], channels, residual)

    @property
    def arch(self) -> str:
        return "-".join(str(k) for k in self.kernel_sizes)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context each output pixel sees on one side (8 for 9-5-5)."""
        return sum(k // 2 for k in self.kernel_sizes)

    def to_metadata(self) -> dict[str, str]:
        return {
            "family": self.family,
            "arch": self.arch,
            "widths": "-".join(str(n) for n in self.widths),
            "channels": str(self.channels),
            "residual": str(self.residual).lower(),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> "SRCNNConfig":
        return cls(
            kernel_sizes=parse_arch(meta["arch"]),
            widths=tuple(int(n) for n in meta["widths"].split("-")),
            channels=int(meta["channels"]),
            residual=meta.get("residual", "false") == "true",
        )


def _column_group(conv: nn.Conv2d, x: torch.Tensor) -> int:
    """The reconstruction layer's one output channel fills a sixteenth of oneDNN's blocks: where
    ``cpu_conv.groups_columns`` allows (bf16 CPU inference), and eagerly, it runs column-grouped
    (16 columns' outputs as one pixel's channels)."""
    if not cpu_conv.groups_columns(x) or torch.compiler.is_compiling():
        return 1
    return cpu_conv.column_group(conv.out_channels)


def _conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    if conv.out_channels == 1 and x.device.type == "cpu" and not torch.backends.mkldnn.enabled:
        # PyTorch's own CPU kernel for one output channel (a matrix-vector product) sums in an order
        # that depends on the image's width; two channels take the matrix path, whose order does not.
        # (oneDNN is off only in width_independent_kernels, where tiles must equal the whole image.)
        return F.conv2d(x, conv.weight.expand(2, -1, -1, -1), conv.bias.expand(2))[:, :1]
    return conv(x)


class SRCNN(nn.Module):
    def __init__(self, config: SRCNNConfig = SRCNNConfig()):
        super().__init__()
        self.config = config
        channels = (config.channels,) + config.widths + (config.channels,)
        self.layers = nn.ModuleList(
            nn.Conv2d(c_in, c_out, k) for c_in, c_out, k in zip(channels[:-1], channels[1:], config.kernel_sizes)
        )

    def forward(self, x: torch.Tensor, same_size: bool = True) -> torch.Tensor:
        """x: bicubic-upscaled image (N, C, H, W) in [0, 1].

        same_size=True replicates each layer's border so the output is (H, W); False runs
        'valid' convolutions and returns the centre, receptive_radius pixels smaller per side.
        """
        inp = x
        x = x.to(self.layers[0].weight.dtype)  # a bf16 copy of the model computes in bf16 ...
        last = len(self.layers) - 1
        for i, conv in enumerate(self.layers):
            group = _column_group(conv, x) if i == last and same_size else 1
            if same_size:
                p = conv.kernel_size[0] // 2
                width = x.shape[-1]
                x = F.pad(x, (p, p + -width % group, p, p), mode="replicate")
            if group > 1:
                weight = cpu_conv.column_grouped(conv.weight, group)
                x = cpu_conv.ungroup_columns(cpu_conv.conv(x, weight, conv.bias.repeat(group), column_stride=group),
                                             group, width)
            else:
                x = _conv(conv, x)
            if i < last:
                x = F.relu(x)
        x = x.to(inp.dtype)  # ... but answers, and adds the skip, in the caller's precision
        if self.config.residual:
            r = 0 if same_size else self.config.receptive_radius
            x = x + (inp[..., r : inp.shape[-2] - r, r : inp.shape[-1] - r] if r else inp)
        return x

    @property
    def receptive_radius(self) -> int:
        return self.config.receptive_radius

    @property
    def train_crop(self) -> int:
        """Target pixels per side that forward(same_size=False) leaves out (valid convolutions)."""
        return self.config.receptive_radius

    @property
    def last_layer(self) -> nn.Module:
        return self.layers[-1]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def init_weights(self, scheme: str = "paper") -> None:
        """'paper': N(0, 0.001) weights, zero biases (the papers). 'kaiming': He-normal for the
        ReLU layers and a small reconstruction layer, which trains far faster with Adam."""
        for i, conv in enumerate(self.layers):
            if scheme == "paper":
                nn.init.normal_(conv.weight, 0.0, 0.001)
            elif scheme == "kaiming":
                if i < len(self.layers) - 1:
                    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                else:
                    fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
                    nn.init.normal_(conv.weight, 0.0, 0.1 / math.sqrt(fan_in))
            else:
                raise ValueError(f"unknown initialisation {scheme!r}: use 'paper' or 'kaiming'")
            nn.init.zeros_(conv.bias)
