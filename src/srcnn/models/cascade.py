"""A cascade: a scale-1 restorer cleans the LR image, then an LR-grid up-scaler enlarges it.

For real photos (noise, JPEG artefacts) one small network must both clean and sharpen, and the
shipped ones traded clean quality against degraded quality. Here the restorer (an SRCNN-family
network at scale 1, e.g. the deep denoiser) works on the LR grid, where it is cheap, and the
up-scaler (FSRCNN, input grid "lr") enlarges what it returns; the two are trained together. Both
replicate their borders at every layer, so the cascade's receptive radius on the LR grid is the sum
of theirs and tiles stay exact. Weights files keep each part's metadata under a ``restorer.`` or
``upscaler.`` prefix and its tensors under the same module names.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .exact import width_independent_kernels

__all__ = ["CascadeConfig", "Cascade"]

PARTS = ("restorer", "upscaler")


@dataclass(frozen=True)
class CascadeConfig:
    restorer: object  # the config of a scale-1 network (upscale_factor 1)
    upscaler: object  # the config of a network on the LR grid (input_grid "lr")

    family = "cascade"
    input_grid = "lr"

    def __post_init__(self):
        if self.restorer.upscale_factor != 1:
            raise ValueError(f"a cascade's restorer must keep the size (scale 1), got a {self.restorer.arch} "
                             f"that up-scales x{self.restorer.upscale_factor}")
        if self.upscaler.input_grid != "lr":
            raise ValueError(f"a cascade's up-scaler must take the LR image (FSRCNN), got {self.upscaler.family}")
        if self.restorer.channels != self.upscaler.channels:
            raise ValueError(f"restorer and up-scaler disagree on channels ({self.restorer.channels} and "
                             f"{self.upscaler.channels})")

    @property
    def scale(self) -> int:
        return self.upscaler.scale

    @property
    def channels(self) -> int:
        return self.upscaler.channels

    @property
    def upscale_factor(self) -> int:
        return self.upscaler.upscale_factor

    @property
    def arch(self) -> str:
        return f"{self.restorer.arch}+{self.upscaler.arch}"

    @property
    def receptive_radius(self) -> int:
        return self.restorer.receptive_radius + self.upscaler.receptive_radius

    def to_metadata(self) -> dict[str, str]:
        meta = {"family": self.family, "arch": self.arch, "channels": str(self.channels)}
        for part in PARTS:
            meta.update({f"{part}.{k}": v for k, v in getattr(self, part).to_metadata().items()})
        return meta

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> "CascadeConfig":
        from . import FAMILIES  # the parts may be of any family

        parts = {}
        for part, scale in zip(PARTS, ("1", meta["scale"])):
            sub = {k[len(part) + 1:]: v for k, v in meta.items() if k.startswith(part + ".")}
            sub["scale"] = scale
            parts[part] = FAMILIES[sub.get("family", "srcnn")][0].from_metadata(sub)
        return cls(**parts)


class Cascade(nn.Module):
    def __init__(self, config: CascadeConfig, restorer: nn.Module | None = None, upscaler: nn.Module | None = None):
        """``restorer`` / ``upscaler``: trained parts to take over (else untrained ones are built)."""
        super().__init__()
        from . import FAMILIES

        self.config = config
        self.restorer = restorer if restorer is not None else FAMILIES[config.restorer.family][1](config.restorer)
        self.upscaler = upscaler if upscaler is not None else FAMILIES[config.upscaler.family][1](config.upscaler)

    @property
    def receptive_radius(self) -> int:
        return self.config.receptive_radius

    train_crop = 0  # both parts pad every layer, so training scores the whole patch

    @property
    def last_layer(self) -> nn.Module:
        return self.upscaler.last_layer

    def forward(self, x: torch.Tensor, same_size: bool = True) -> torch.Tensor:
        """x: LR image (N, C, H, W) in [0, 1] -> (N, C, H * scale, W * scale)."""
        with width_independent_kernels(self, x):
            return self.upscaler(self.restorer(x, same_size=True))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def init_weights(self, scheme: str = "kaiming") -> None:
        self.restorer.init_weights(scheme)
        self.upscaler.init_weights(scheme)
