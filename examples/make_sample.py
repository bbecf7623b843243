"""Draws examples/sample.png, the small test picture the README upscales (our own, no licence issues)."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def make_sample(size=(160, 120)) -> Image.Image:
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    sky = np.stack([90 + 80 * y, 140 + 70 * y, 220 - 30 * y], axis=2)
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 12, 140, 52), fill=(250, 220, 90))
    draw.polygon([(0, 120), (50, 55), (95, 120)], fill=(70, 90, 60))
    draw.polygon([(60, 120), (115, 70), (160, 120)], fill=(50, 70, 50))
    for i in range(8):
        draw.line((10 + 18 * i, 100, 18 + 18 * i, 118), fill=(230, 230, 230), width=1)
    draw.text((8, 8), "SRCNN x3", fill=(255, 255, 255))
    draw.rectangle((8, 24, 60, 44), outline=(20, 20, 20))
    draw.text((12, 28), "0123456789", fill=(20, 20, 20))
    return image.filter(ImageFilter.SMOOTH)


if __name__ == "__main__":
    make_sample().save(Path(__file__).with_name("sample.png"))
