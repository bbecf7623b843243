"""Reading and writing image files, with our errors instead of tracebacks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_output
from ..errors import SRCNNError

__all__ = ["IMAGE_SUFFIXES", "DEFAULT_QUALITY", "QUALITY_FORMATS", "NO_ALPHA_FORMATS", "image_format", "Picture",
           "list_images", "image_size", "ImageTooLarge", "load_picture", "picture_from_pil", "picture_to_pil",
           "save_picture", "read_image", "open_image", "save_image_atomic", "write_text_atomic"]

IMAGE_SUFFIXES = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}
CARRIED_INFO = ("icc_profile", "exif", "dpi")  # what an upscaled picture keeps of its source's metadata
QUALITY_FORMATS = ("JPEG", "WEBP")  # the formats that take a quality
DEFAULT_QUALITY = 95  # Pillow's own default (75) visibly degrades an upscaled photo
NO_ALPHA_FORMATS = ("JPEG", "BMP", "PPM")  # alpha written to these is dropped, with a warning

log = logging.getLogger(__name__)


def image_format(path: str | Path) -> str | None:
    """Pillow's format name for a file name's extension ('JPEG' for x.jpg), or None."""
    return Image.registered_extensions().get(Path(path).suffix.lower())


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
    except Image.DecompressionBombError as exc:
        raise SRCNNError(f"{path}: {exc} (raise the limit with --max-pixels if you trust it)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SRCNNError(f"{path}: cannot read image ({exc})") from None


class ImageTooLarge(SRCNNError):
    """An image whose header claims more pixels than Pillow's decompression-bomb limit."""


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) read from the file's header, without decoding the pixels, or SRCNNError
    (ImageTooLarge past Pillow's decompression-bomb limit, ``Image.MAX_IMAGE_PIXELS``)."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            return image.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{path}: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SRCNNError(f"{path}: cannot read image ({exc})") from None


@dataclass
class Picture:
    """An image as the upscaler sees it, with what must survive to the output file.

    pixels: uint8 or uint16, (H, W) grey or (H, W, 3) RGB; alpha: the same dtype, (H, W), or None;
    info: Pillow save parameters to carry over (ICC profile, EXIF without its orientation, dpi).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    info: dict = field(default_factory=dict)


def _is_16bit_colour(image: Image.Image) -> bool:
    # Pillow decodes 16-bit RGB(A) PNG / TIFF into 8-bit "RGB"; only the raw mode tells.
    return image.mode in ("RGB", "RGBA") and any(";16" in str(t.args) for t in getattr(image, "tile", []) or [])


def _read_16bit_colour(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import cv2  # only for 16-bit colour, which Pillow cannot hold

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None or data.dtype != np.uint16 or data.ndim != 3:
        raise SRCNNError(f"{path}: cannot read 16-bit colour image")
    rgb = np.ascontiguousarray(data[:, :, 2::-1])
    return rgb, (data[:, :, 3].copy() if data.shape[2] == 4 else None)


def load_picture(path: str | Path) -> Picture:
    """Decode any image Pillow reads into a Picture (see :func:`picture_from_pil`), EXIF
    orientation applied; 16-bit colour, which Pillow cannot hold, is read at 16 bits."""
    path = Path(path)
    image = open_image(path)
    with Image.open(path) as probe:
        sixteen_colour = _is_16bit_colour(probe)
        orientation = probe.getexif().get(0x0112, 1)
    if sixteen_colour:
        pixels, alpha = _read_16bit_colour(path)
        # Pillow's copy was turned upright by exif_transpose; turn OpenCV's the same way.
        pixels, alpha = _orient(pixels, orientation), (None if alpha is None else _orient(alpha, orientation))
        return Picture(pixels, alpha, _carried_info(image))
    return picture_from_pil(image)


def picture_from_pil(image: Image.Image) -> Picture:
    """A Pillow image as a Picture: palette, CMYK and other modes converted to grey or RGB; alpha
    kept apart; 16-bit grey kept at 16 bits; ICC profile, EXIF and dpi carried."""
    info = _carried_info(image)
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        image = image.convert("RGB")
        info.pop("icc_profile", None)  # a CMYK profile does not describe the RGB result
    elif mode == "1":
        image = image.convert("L")
    elif mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return Picture(np.clip(np.asarray(image), 0, 65535).astype(np.uint16), None, info)
    if mode == "LA":
        return Picture(np.asarray(image.getchannel("L")), np.asarray(image.getchannel("A")), info)
    if mode == "RGBA":
        return Picture(np.asarray(image.convert("RGB")), np.asarray(image.getchannel("A")), info)
    if mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return Picture(np.asarray(image), None, info)


def picture_to_pil(picture: Picture) -> Image.Image:
    """A Picture of 8-bit pixels or 16-bit grey as a Pillow image (RGBA / LA when it has alpha)."""
    pixels, alpha = picture.pixels, picture.alpha
    if pixels.dtype == np.uint16 and (pixels.ndim == 3 or alpha is not None):
        raise SRCNNError("Pillow cannot hold 16-bit colour or 16-bit alpha; use save_picture")
    if alpha is not None:
        image = Image.fromarray(np.dstack([pixels, alpha]), mode="RGBA" if pixels.ndim == 3 else "LA")
    else:
        image = Image.fromarray(pixels)  # uint16 grey becomes Pillow's "I;16"
    image.info.update({k: v for k, v in picture.info.items() if k in CARRIED_INFO})
    return image


def _carried_info(image: Image.Image) -> dict:
    info = {k: image.info[k] for k in ("icc_profile", "dpi") if k in image.info}
    exif = image.getexif()
    if exif:
        info["exif"] = exif.tobytes()  # exif_transpose already dropped the orientation tag
    return info


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation tag to an array read without Pillow."""
    # The same transpositions as Pillow's ImageOps.exif_transpose, for tags 2 to 8.
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.rot90(a, -1),
           7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1], 8: lambda a: np.rot90(a)}
    return np.ascontiguousarray(ops.get(orientation, lambda a: a)(array))


def read_image(path: str | Path) -> np.ndarray:
    """uint8 array, (H, W) for grayscale or (H, W, 3) for colour (16-bit images are scaled to 8 bits)."""
    pixels = load_picture(path).pixels
    if pixels.dtype == np.uint16:
        pixels = np.floor(pixels / 257.0 + 0.5).astype(np.uint8)
    return pixels


# zlib level of written PNGs: level 1 encodes an upscaled 4K frame about 7 times faster than Pillow's
# default 6, for files 15-35 % larger (OpenCV's default is 1 too). Lossless either way.
PNG_COMPRESS_LEVEL = 1


def save_picture(picture: Picture, path: str | Path, quality: int | None = None) -> None:
    """Write a Picture atomically: 16 bits where the format holds them (PNG, TIFF), alpha where it
    holds alpha (elsewhere dropped with a logged warning), the carried metadata, and ``quality``
    for JPEG / WebP (default ``DEFAULT_QUALITY``; refused for other formats)."""
    path = Path(path)
    fmt = image_format(path)
    if fmt is None:
        raise SRCNNError(f"{path}: unknown image format {path.suffix!r}")
    pixels, alpha = picture.pixels, picture.alpha
    deep = pixels.dtype == np.uint16
    if deep and fmt not in ("PNG", "TIFF"):  # JPEG, WebP, BMP hold 8 bits
        pixels = np.floor(pixels / 257.0 + 0.5).astype(np.uint8)
        alpha = None if alpha is None else np.floor(alpha / 257.0 + 0.5).astype(np.uint8)
        deep = False
    if quality is not None and fmt not in QUALITY_FORMATS:
        raise SRCNNError(f"{path}: {fmt} takes no quality (only {' and '.join(QUALITY_FORMATS)} do)")
    if fmt in NO_ALPHA_FORMATS and alpha is not None:
        log.warning(f"warning: {path}: {fmt} has no alpha channel; transparency dropped (use .png to keep it)")
        alpha = None
    if deep and (pixels.ndim == 3 or alpha is not None):
        _save_16bit_colour_atomic(pixels, alpha, path)
        return
    image = picture_to_pil(Picture(pixels, alpha))
    params = {k: v for k, v in picture.info.items() if k in CARRIED_INFO}
    if fmt in QUALITY_FORMATS:
        params["quality"] = DEFAULT_QUALITY if quality is None else quality
    if fmt == "PNG":
        params["compress_level"] = PNG_COMPRESS_LEVEL
    save_image_atomic(image, path, **params)


def _save_16bit_colour_atomic(pixels: np.ndarray, alpha: np.ndarray | None, path: Path) -> None:
    import cv2

    rgb = pixels if pixels.ndim == 3 else np.dstack([pixels] * 3)
    bgr = rgb[:, :, ::-1]
    data = np.ascontiguousarray(np.dstack([bgr, alpha]) if alpha is not None else bgr)
    with atomic_output(path) as tmp:
        params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESS_LEVEL] if path.suffix.lower() == ".png" else []
        if not cv2.imwrite(str(tmp), data, params):
            raise SRCNNError(f"{path}: cannot write 16-bit image")


def save_image_atomic(image: Image.Image, path: str | Path, **params) -> None:
    """Write via a temporary file in the same folder, then rename: never a partial output."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise SRCNNError(f"{path}: unknown image format {path.suffix!r}")
    with atomic_output(path) as tmp:
        try:
            image.save(tmp, format=fmt, **params)
        except (OSError, ValueError) as exc:
            raise SRCNNError(f"{path}: cannot write ({exc})") from None


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)
