"""Inputs of every kind come out with the right mode, size, depth and orientation."""

import numpy as np
import pytest
from PIL import Image

from srcnn.apps.cli import main
from srcnn.io.imageio import load_picture, save_picture, Picture
from conftest import smooth_image


def upscale(tmp_path, src, name="out.png", *extra):
    out = tmp_path / name
    code = main(["upscale", str(src), "-o", str(out), "--scale", "2", "--method", "bicubic", "--quiet", *extra])
    assert code == 0
    return out


def test_rgba_keeps_an_upscaled_alpha(tmp_path):
    rgba = np.dstack([smooth_image(20, 24, channels=3), np.tile(np.linspace(0, 255, 24, dtype=np.uint8), (20, 1))])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = Image.open(upscale(tmp_path, tmp_path / "a.png"))
    assert out.mode == "RGBA" and out.size == (48, 40)
    alpha = np.asarray(out.getchannel("A")).astype(int)
    assert alpha[:, 0].max() < 10 and alpha[:, -1].min() > 245  # the ramp survives


def test_grayscale_stays_grayscale(tmp_path):
    Image.fromarray(smooth_image(20, 24)).save(tmp_path / "g.png")
    out = Image.open(upscale(tmp_path, tmp_path / "g.png"))
    assert out.mode == "L" and out.size == (48, 40)


def test_16_bit_grey_png_is_processed_and_written_at_16_bits(tmp_path):
    grey = (smooth_image(20, 24).astype(np.uint16) * 257 + 100).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    out = Image.open(upscale(tmp_path, tmp_path / "g16.png"))
    assert out.mode.startswith("I") and out.size == (48, 40)
    values = np.asarray(out)
    assert values.max() > 255 and len(np.unique(values % 257)) > 2  # real 16-bit values, not 8-bit x 257


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_colour_is_processed_and_written_at_16_bits(tmp_path, suffix):
    import cv2

    rgb = smooth_image(20, 24, channels=3).astype(np.uint16) * 257 + 77
    cv2.imwrite(str(tmp_path / f"c16{suffix}"), rgb[:, :, ::-1].copy())
    picture = load_picture(tmp_path / f"c16{suffix}")
    assert picture.pixels.dtype == np.uint16 and picture.pixels.shape == (20, 24, 3)
    np.testing.assert_array_equal(picture.pixels, rgb)
    out = upscale(tmp_path, tmp_path / f"c16{suffix}", f"out{suffix}")
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and back.shape == (40, 48, 3)


def insert_png_exif(path, orientation: int) -> None:
    """Add an eXIf chunk to a PNG written by OpenCV (which cannot write EXIF itself)."""
    import struct
    import zlib

    exif = Image.Exif()
    exif[0x0112] = orientation
    body = exif.tobytes()
    body = body[6:] if body.startswith(b"Exif\x00\x00") else body
    chunk = b"eXIf" + body
    raw = path.read_bytes()
    iend = raw.rindex(b"IEND") - 4
    path.write_bytes(raw[:iend] + struct.pack(">I", len(body)) + chunk
                     + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF) + raw[iend:])


def test_16_bit_colour_with_an_exif_flip_is_turned_upright(tmp_path):
    import cv2

    rgb = smooth_image(20, 24, channels=3).astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "flip.png"), rgb[:, :, ::-1].copy())
    insert_png_exif(tmp_path / "flip.png", 3)  # stored upside down
    picture = load_picture(tmp_path / "flip.png")
    assert picture.pixels.dtype == np.uint16
    np.testing.assert_array_equal(picture.pixels, rgb[::-1, ::-1])


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(smooth_image(20, 30, channels=3))  # 30 wide, 20 high
    exif = image.getexif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    image.save(tmp_path / "rot.jpg", exif=exif.tobytes())
    out = Image.open(upscale(tmp_path, tmp_path / "rot.jpg"))
    assert out.size == (40, 60)  # upright: 20 wide, 30 high, times 2
    assert out.getexif().get(0x0112, 1) == 1


def test_cmyk_and_palette_images_become_rgb(tmp_path):
    rgb = Image.fromarray(smooth_image(16, 16, channels=3))
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg")
    rgb.convert("P").save(tmp_path / "pal.png")
    assert Image.open(upscale(tmp_path, tmp_path / "cmyk.jpg", "c.png")).mode == "RGB"
    assert Image.open(upscale(tmp_path, tmp_path / "pal.png", "p.png")).mode == "RGB"


def test_icc_profile_is_carried_and_jpeg_quality_is_applied(tmp_path):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(smooth_image(32, 32, channels=3)).save(tmp_path / "icc.png", icc_profile=profile)
    out = upscale(tmp_path, tmp_path / "icc.png", "out.jpg", "--quality", "95")
    assert Image.open(out).info.get("icc_profile") == profile
    low = upscale(tmp_path, tmp_path / "icc.png", "low.jpg", "--quality", "20")
    assert low.stat().st_size < out.stat().st_size


def test_decompression_bomb_guard_stays_on_with_an_option_to_raise_it(tmp_path, capsys):
    Image.fromarray(smooth_image(200, 200)).save(tmp_path / "big.png")
    original = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = 1000  # as if the file were huge
        code = main(["upscale", str(tmp_path / "big.png"), "-o", str(tmp_path / "o.png"), "--scale", "2",
                     "--method", "bicubic"])
        assert code != 0 and "max-pixels" in capsys.readouterr().err
        assert not (tmp_path / "o.png").exists()
        assert main(["upscale", str(tmp_path / "big.png"), "-o", str(tmp_path / "o.png"), "--scale", "2",
                     "--method", "bicubic", "--max-pixels", "100000"]) == 0
    finally:
        Image.MAX_IMAGE_PIXELS = original


def test_skip_existing_leaves_outputs_alone(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b"):
        Image.fromarray(smooth_image(10, 10)).save(folder / f"{name}.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"keep me")
    assert main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--scale", "2", "--method", "bicubic",
                 "--skip-existing", "--quiet"]) == 0
    assert (tmp_path / "out" / "a.png").read_bytes() == b"keep me"
    assert Image.open(tmp_path / "out" / "b.png").size == (20, 20)
    assert "skipped 1" in capsys.readouterr().out


def test_picture_round_trip_keeps_depth_and_alpha(tmp_path):
    pixels = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    save_picture(Picture(pixels), tmp_path / "d.png")
    np.testing.assert_array_equal(load_picture(tmp_path / "d.png").pixels, pixels)
    la = Picture(smooth_image(8, 8), np.full((8, 8), 128, np.uint8))
    save_picture(la, tmp_path / "la.png")
    back = load_picture(tmp_path / "la.png")
    assert back.alpha is not None and back.pixels.ndim == 2
