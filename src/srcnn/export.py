"""Export a model to ONNX with dynamic height and width.

The contract (also in the README and ``srcnn export --help``): input ``input``, float32, (N, C, H, W)
with dynamic N, H, W, in [0, 1]: the Y plane (C = 1; RGB for a 3-channel model) on the model's input
grid, which the graph's metadata names (``input_grid``): "hr", the bicubic-upscaled image (SRCNN), or
"lr", the low-resolution image itself (FSRCNN); output ``output``, (N, C, H * f, W * f) with f = 1 for
"hr" and f = ``scale`` for "lr", clamped to [0, 1] as the PyTorch path's rounding does.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .io.atomic import atomic_output
from .errors import SRCNNError
from torch import nn

__all__ = ["export_onnx"]


class _SameSize(torch.nn.Module):
    """Pins forward(same_size=True) so the traced graph has the replicate padding of inference, and
    clamps to [0, 1], so a consumer of the graph gets a valid image plane without knowing to clamp."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, same_size=True).clamp(0.0, 1.0)


def export_onnx(model: nn.Module, path: str | Path, metadata: dict[str, str] | None = None, opset: int = 17) -> Path:
    try:
        import onnx
    except ImportError:
        raise SRCNNError("ONNX export needs the onnx package: pip install 'srcnn[export]'") from None
    example = torch.rand(1, model.config.channels, 37, 41)
    with atomic_output(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
            torch.onnx.export(_SameSize(model.float().eval()), (example,), str(tmp), dynamo=False,
                              opset_version=opset, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                            "output": {0: "batch", 2: "height", 3: "width"}})
        proto = onnx.load(str(tmp))
        about = {"format": "srcnn", "input_grid": model.config.input_grid, **model.config.to_metadata()}
        for key, value in {**about, **(metadata or {})}.items():
            proto.metadata_props.add(key=key, value=str(value))
        onnx.save(proto, str(tmp))
    return Path(path)
