import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SRCNN_DATA", REPO.parent / "shared" / "data"))


def data_set(name: str) -> Path:
    """A folder of the shared image sets, or a clean skip when it is not on this machine."""
    folder = DATA / name
    if not folder.is_dir():
        pytest.skip(f"image set {name} not found under {DATA} (set SRCNN_DATA)")
    return folder


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def smooth_image(h: int, w: int, channels: int = 0, seed: int = 0) -> np.ndarray:
    """A band-limited uint8 test image (sums of low-frequency sinusoids)."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for _ in range(channels or 1):
        img = np.zeros((h, w))
        for _ in range(4):
            fy, fx, ph = r.uniform(0.01, 0.08), r.uniform(0.01, 0.08), r.uniform(0, 6.28)
            img += r.uniform(10, 40) * np.sin(2 * np.pi * (fy * y + fx * x) + ph)
        planes.append(np.clip(128 + img, 0, 255))
    out = np.stack(planes, axis=2) if channels else planes[0]
    return np.floor(out + 0.5).astype(np.uint8)


def shapes_image(seed: int, size: int = 72) -> np.ndarray:
    """Random rectangles and ellipses: sharp edges that bicubic blurs and a network can restore."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.integers(0, size - 8, 2)
        x1, y1 = x0 + rng.integers(4, 30), y0 + rng.integers(4, 30)
        shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
        shape((int(x0), int(y0), int(x1), int(y1)), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return np.asarray(image)


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    train_dir, val_dir = root / "train", root / "val"
    train_dir.mkdir()
    val_dir.mkdir()
    for i in range(12):
        Image.fromarray(shapes_image(i)).save(train_dir / f"img{i:02d}.png")
    for i in range(3):
        Image.fromarray(shapes_image(100 + i)).save(val_dir / f"val{i}.png")
    return train_dir, val_dir


def export_and_compare_onnx(model, scale: int, folder: Path):
    """Save ``model``, export it with `srcnn export`, and check ONNX Runtime against PyTorch at two
    sizes and batch counts (shape, and values within 1e-4 after the export's clamp to [0, 1]).
    Returns the .onnx path, for checks of its metadata."""
    ort = pytest.importorskip("onnxruntime")
    import torch

    from srcnn.apps.cli import main
    from srcnn.models.weights import save_model

    save_model(model, folder / "m.safetensors", scale=scale)
    assert main(["export", "--model", str(folder / "m.safetensors"), "-o", str(folder / "m.onnx")]) == 0
    session = ort.InferenceSession(str(folder / "m.onnx"), providers=["CPUExecutionProvider"])
    for shape in [(1, 1, 29, 41), (2, 1, 13, 9)]:
        x = np.random.default_rng(2).random(shape, dtype=np.float32)
        with torch.no_grad():
            expected = np.clip(model(torch.from_numpy(x)).numpy(), 0, 1)
        got = session.run(None, {"input": x})[0]
        assert got.shape == (shape[0], 1, shape[2] * scale, shape[3] * scale)
        assert np.abs(got - expected).max() < 1e-4
    return folder / "m.onnx"
