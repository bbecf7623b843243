"""Reading and writing image files, with our errors instead of tracebacks."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import SRCNNError

__all__ = ["IMAGE_SUFFIXES", "list_images", "read_image", "open_image", "save_image_atomic"]

IMAGE_SUFFIXES = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}


def list_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder``, sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SRCNNError(f"{folder}: not a folder")
    pattern = "**/*" if recursive else "*"
    paths = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SRCNNError(f"{folder}: no images found")
    return paths


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image (EXIF orientation applied), or raise SRCNNError."""
    path = Path(path)
    if not path.exists():
        raise SRCNNError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            image.load()  # decode now, so a truncated file fails here and not half-way through
            return ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise SRCNNError(f"{path}: cannot read image ({exc})") from None


def read_image(path: str | Path) -> np.ndarray:
    """uint8 array, (H, W) for grayscale or (H, W, 3) for colour."""
    image = open_image(path)
    if image.mode not in ("L", "RGB"):
        image = image.convert("L" if image.mode in ("1", "I", "I;16", "F") else "RGB")
    return np.asarray(image)


def save_image_atomic(image: Image.Image, path: str | Path, **params) -> None:
    """Write via a temporary file in the same folder, then rename: never a partial output."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise SRCNNError(f"{path}: unknown image format {path.suffix!r}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise SRCNNError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format=fmt, **params)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SRCNNError(f"{path}: cannot write ({exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
