"""The papers' bicubic baseline on Set5 / Set14: the first test of any implementation of the protocol.

Needs the image sets (SRCNN_DATA, default ../shared/data); skipped cleanly without them.
"""

import pytest

from srcnn.study.evaluate import evaluate_folder, summary
from srcnn.inference import Upscaler
from conftest import data_set

# (set, scale): (PSNR, SSIM) as published (SRCNN TPAMI 2015 tables; SSIM as the issue states them).
PUBLISHED_BICUBIC = {
    ("Set5", 2): (33.66, 0.9292), ("Set5", 3): (30.39, 0.8678), ("Set5", 4): (28.42, 0.8101),
    ("Set14", 2): (30.23, 0.8683), ("Set14", 3): (27.54, 0.7737), ("Set14", 4): (26.00, 0.7023),
}


@pytest.mark.data
@pytest.mark.parametrize("name, scale", sorted(PUBLISHED_BICUBIC))
def test_bicubic_baseline_matches_the_published_numbers(name, scale):
    result = summary(evaluate_folder(data_set(name), scale, Upscaler(None, scale)))
    psnr, ssim = PUBLISHED_BICUBIC[(name, scale)]
    assert result["mean"]["psnr"] == pytest.approx(psnr, abs=0.02)
    assert result["mean"]["ssim"] == pytest.approx(ssim, abs=0.001)
    assert len(result["images"]) == (5 if name == "Set5" else 14)
