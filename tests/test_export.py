import numpy as np
import pytest

from srcnn.apps.cli import main
from srcnn.models import SRCNN, SRCNNConfig
from srcnn.models.weights import save_model

ort = pytest.importorskip("onnxruntime")


def test_onnx_export_matches_pytorch_clamped_at_any_size(tmp_path, capsys):
    import onnx
    import torch

    torch.manual_seed(0)
    model = SRCNN(SRCNNConfig.from_arch("9-5-5", residual=True))
    model.init_weights("kaiming")
    save_model(model, tmp_path / "m.safetensors", scale=3)
    assert main(["export", "--model", str(tmp_path / "m.safetensors"), "--format", "onnx",
                 "-o", str(tmp_path / "m.onnx")]) == 0
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for shape in [(1, 1, 53, 71), (2, 1, 30, 19)]:
        x = np.random.default_rng(1).random(shape, dtype=np.float32)
        raw = model(torch.from_numpy(x)).detach().numpy()
        expected = np.clip(raw, 0, 1)  # the graph clamps to [0, 1]
        got = session.run(None, {"input": x})[0]
        assert got.shape == expected.shape
        assert (raw > 1).any() or (raw < 0).any(), "the example should exercise the clamp"
        assert got.min() >= 0 and got.max() <= 1
        assert np.abs(got - expected).max() < 1e-4
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["arch"] == "9-5-5" and meta["scale"] == "3"
