"""Model families, one per file, and the one place that maps a family's name to its classes.

Every family's config says which grid its network takes (``input_grid``: "hr" for the
bicubic-upscaled image, SRCNN; "lr" for the LR image itself, FSRCNN), how much it up-scales
(``upscale_factor``) and its ``receptive_radius`` on its input grid. The trainer, evaluator,
upscaler and exporter read those, never the family's name.
"""

from __future__ import annotations

from .cascade import Cascade, CascadeConfig
from .fsrcnn import FSRCNN, FSRCNNConfig
from .srcnn import SRCNN, SRCNNConfig, parse_arch

__all__ = ["SRCNN", "SRCNNConfig", "FSRCNN", "FSRCNNConfig", "Cascade", "CascadeConfig", "FAMILIES", "parse_arch", "model_from_metadata"]

# family name -> (config class, model class). Files without a 'family' key are SRCNN.
FAMILIES = {"srcnn": (SRCNNConfig, SRCNN), "fsrcnn": (FSRCNNConfig, FSRCNN), "cascade": (CascadeConfig, Cascade)}


def model_from_metadata(meta: dict[str, str]):
    """An untrained model of the architecture a weights file's metadata describes."""
    family = meta.get("family", "srcnn")
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r} (known: {', '.join(FAMILIES)})")
    config_cls, model_cls = FAMILIES[family]
    return model_cls(config_cls.from_metadata(meta))
