"""Export a model to ONNX with dynamic height and width (input: bicubic-upscaled image in [0, 1])."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .atomic import atomic_output
from .errors import SRCNNError
from .models import SRCNN

__all__ = ["export_onnx"]


class _SameSize(torch.nn.Module):
    """Pins forward(same_size=True) so the traced graph has the replicate padding of inference."""

    def __init__(self, model: SRCNN):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, same_size=True)


def export_onnx(model: SRCNN, path: str | Path, metadata: dict[str, str] | None = None, opset: int = 17) -> Path:
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
        for key, value in {"format": "srcnn", **model.config.to_metadata(), **(metadata or {})}.items():
            proto.metadata_props.add(key=key, value=str(value))
        onnx.save(proto, str(tmp))
    return Path(path)
