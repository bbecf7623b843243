"""Each degradation gives the documented sizes; noise gives the documented level."""

import numpy as np
import pytest

from srcnn.training.data import Pair, PatchSampler, load_pairs, split_validation
from srcnn.protocol.degrade import degrade, make_input
from srcnn.protocol.resize import imresize
from conftest import data_set, smooth_image


@pytest.fixture
def hr():
    return smooth_image(60, 48, seed=7).astype(np.float64) / 255


@pytest.mark.parametrize("kind", ["bicubic", "blur", "subsample"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_is_hr_over_scale_and_input_is_back_at_hr_size(hr, kind, scale):
    assert degrade(hr, scale, kind).shape == (60 // scale, 48 // scale)
    inp, target = make_input(hr, scale, kind)
    assert inp.shape == target.shape == (60, 48)


def test_make_input_modcrops_first(hr):
    inp, target = make_input(hr[:59, :47], 3, "bicubic")
    assert inp.shape == target.shape == (57, 45)


def test_bicubic_is_the_matlab_resize(hr):
    np.testing.assert_array_equal(degrade(hr, 3, "bicubic"), imresize(hr, 1 / 3))


def test_subsample_keeps_every_sth_pixel(hr):
    np.testing.assert_array_equal(degrade(hr, 4, "subsample"), hr[::4, ::4])


def test_blur_low_passes_before_sampling_block_centres():
    hr = np.zeros((30, 30))
    hr[16, 16] = 1.0  # the centre of block (5, 5) at scale 3 (rows 15-17): its blurred peak survives
    lr = degrade(hr, 3, "blur", blur_sigma=1.0)
    assert lr[5, 5] == pytest.approx(1 / (2 * np.pi), rel=0.05)  # 2-D Gaussian peak, sigma 1
    assert lr[5, 4] == pytest.approx(np.exp(-4.5) / (2 * np.pi), rel=0.05)  # 3 pixels away
    np.testing.assert_allclose(degrade(np.full((30, 30), 0.4), 3, "blur"), 0.4)  # normalised, border too
    assert not np.array_equal(degrade(hr, 3, "blur", blur_sigma=2.0), lr)


def test_noise_has_the_documented_level_and_keeps_size(hr):
    noisy = degrade(hr, 1, "noise", noise_sigma=25, rng=np.random.default_rng(0))
    assert noisy.shape == hr.shape
    assert np.std(noisy - hr) * 255 == pytest.approx(25, rel=0.03)
    assert abs(np.mean(noisy - hr) * 255) < 1


def test_noise_pairs_draw_fresh_noise_per_patch():
    pair = Pair("flat", np.full((40, 40), 0.5, np.float32), np.full((40, 40), 0.5, np.float32))
    sampler = PatchSampler([pair], 16, 64, noise_sigma=10, seed=1)
    x, y = sampler.batch(0)
    assert np.std((x - y).numpy()) * 255 == pytest.approx(10, rel=0.05)
    assert not np.array_equal(x.numpy(), sampler.batch(1)[0].numpy())


def test_unknown_degradation_and_unaligned_sizes_are_rejected(hr):
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(hr, 2, "gif")
    with pytest.raises(ValueError, match="modcrop"):
        degrade(hr[:59], 2, "bicubic")


def test_patches_are_a_function_of_seed_and_step():
    pairs = [Pair(str(i), np.random.default_rng(i).random((50, 60)).astype(np.float32),
                  np.random.default_rng(i + 9).random((50, 60)).astype(np.float32)) for i in range(3)]
    a = PatchSampler(pairs, 20, 8, seed=3)
    b = PatchSampler(pairs, 20, 8, seed=3)
    for step in (0, 5):
        xa, ya = a.batch(step)
        xb, yb = b.batch(step)
        assert xa.shape == (8, 1, 20, 20) and ya.shape == (8, 1, 20, 20)
        assert np.array_equal(xa.numpy(), xb.numpy()) and np.array_equal(ya.numpy(), yb.numpy())
    assert not np.array_equal(a.batch(0)[0].numpy(), a.batch(1)[0].numpy())


def test_grid_mode_walks_every_sub_image_once_per_epoch():
    pair = Pair("a", np.zeros((61, 75), np.float32), np.zeros((61, 75), np.float32))
    sampler = PatchSampler([pair], 33, 4, mode="grid", stride=14)
    assert len(sampler) == 3 * 4  # rows 0, 14, 28; cols 0, 14, 28, 42
    seen = np.concatenate([sampler._corners_for(step) for step in range(3)])
    assert len({tuple(c) for c in seen}) == 12


def test_validation_split_is_stable_and_disjoint(tmp_path):
    from pathlib import Path

    paths = [Path(f"/x/img{i}.png") for i in range(30)]
    train, val = split_validation(paths, 5)
    assert len(val) == 5 and not set(train) & set(val)
    assert split_validation(list(reversed(paths)), 5)[1] == list(reversed(val))


@pytest.mark.data
def test_paper_sub_images_of_t91_match_the_authors_code():
    # generate_train.m (x3, 33x33, stride 14) writes 21,884 sub-images; the ECCV text's "24,800"
    # counts a different setting.
    from srcnn.io.imageio import list_images

    pairs = load_pairs(list_images(data_set("T91")), 3)
    assert len(PatchSampler(pairs, 33, 128, mode="grid", stride=14)) == 21884


SPECS = ["bicubic", "blur", "blur:1.6", "blur:1.0-2.0", "subsample", "noise:10", "noise:5-50", "jpeg:75",
         "jpeg:30-95", "real", "real+jpeg:40-95+bicubic"]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_every_degradation_gives_hr_over_scale_and_input_back_at_hr_size(hr, spec, scale):
    from srcnn.protocol.degrade import parse_degradation

    degradation = parse_degradation(spec)
    target = hr[: 60 // scale * scale, : 48 // scale * scale]
    rng = np.random.default_rng(0)
    assert degradation.lr(target, scale, rng).shape == (60 // scale, 48 // scale)
    assert degradation.network_input(target, scale, "hr", rng).shape == target.shape
    rgb = np.stack([target] * 3, axis=-1)
    assert degradation.lr(rgb, scale, rng).shape == (60 // scale, 48 // scale, 3)


@pytest.mark.parametrize("spec", SPECS)
def test_same_seed_same_output_bit_for_bit(hr, spec):
    from srcnn.protocol.degrade import parse_degradation

    degradation = parse_degradation(spec)
    a = degradation.lr(hr, 3, np.random.default_rng(5))
    np.testing.assert_array_equal(a, degradation.lr(hr, 3, np.random.default_rng(5)))
    if degradation.random:
        assert not np.array_equal(a, degradation.lr(hr, 3, np.random.default_rng(6)))


@pytest.mark.parametrize("scale", [1, 3])
def test_noise_level_at_any_scale_is_on_the_lr_image(scale):
    from srcnn.protocol.degrade import parse_degradation

    flat = np.full((300, 300), 0.5)
    noisy = parse_degradation("noise:10").lr(flat, scale, np.random.default_rng(1))
    assert np.std(noisy) * 255 == pytest.approx(10, rel=0.03)
    levels = [np.std(parse_degradation("noise:5-50").lr(flat, scale, np.random.default_rng(s))) * 255
              for s in range(20)]
    assert 5 * 0.95 <= min(levels) and max(levels) <= 50 * 1.05 and max(levels) - min(levels) > 10


def test_lower_jpeg_quality_differs_more(hr):
    from srcnn.protocol.degrade import parse_degradation

    image = np.clip(hr + np.random.default_rng(0).normal(0, 0.05, hr.shape), 0, 1)
    clean = np.round(image * 255) / 255
    err = {q: np.abs(parse_degradation(f"jpeg:{q}").lr(image, 1) - clean).mean() for q in (10, 90)}
    assert err[10] > 2 * err[90] > 0
    # a range draws whole qualities within its ends
    drawn = parse_degradation("jpeg:30-95").lr(image, 1, np.random.default_rng(3))
    assert drawn.shape == image.shape and np.all(drawn * 255 == np.round(drawn * 255))


def test_blur_sigma_range_lies_between_its_ends():
    from srcnn.protocol.degrade import parse_degradation

    spike = np.zeros((31, 31))
    spike[15, 15] = 1.0
    peaks = {s: parse_degradation(f"blur:{s}").lr(spike, 1).max() for s in (1.0, 2.0)}
    for seed in range(5):
        peak = parse_degradation("blur:1.0-2.0").lr(spike, 1, np.random.default_rng(seed)).max()
        assert peaks[2.0] <= peak <= peaks[1.0]


@pytest.mark.parametrize("spec", ["gif", "noise:", "noise:abc", "noise:50-5", "noise:300", "jpeg", "jpeg:0",
                                  "jpeg:75.5", "blur:0", "bicubic:2", "real:3", "noise:1-2-3",
                                  "real+", "noise:10+gif"])
def test_bad_specs_are_one_line_errors(spec):
    from srcnn.protocol.degrade import parse_degradation
    from srcnn.errors import SRCNNError

    with pytest.raises(SRCNNError) as info:
        parse_degradation(spec)
    assert "\n" not in str(info.value)


def test_bare_names_take_the_sigma_options():
    from srcnn.protocol.degrade import Degradation, parse_degradation

    assert parse_degradation("noise", noise_sigma=15) == Degradation("noise", 15, 15)
    assert parse_degradation("blur:1-2").spec == "blur:1-2"
    assert parse_degradation("jpeg:75").task == "jpeg" and parse_degradation("noise:0-50").task == "denoise"
    assert not parse_degradation("jpeg:75").random and parse_degradation("jpeg:5-90").random


@pytest.mark.parametrize("grid", ["hr", "lr"])
def test_random_degradations_are_drawn_per_patch_at_scale_3(grid):
    pair = Pair("flat", np.full((48, 48), 0.5, np.float32), np.full((48, 48), 0.5, np.float32))
    sampler = PatchSampler([pair], 24, 8, seed=1, degradation="noise:10", scale=3, input_grid=grid)
    x, y = sampler.batch(0)
    assert x.shape[-1] == (24 if grid == "hr" else 8) and y.shape[-1] == 24
    np.testing.assert_array_equal(x.numpy(), sampler.batch(0)[0].numpy())
    assert not np.array_equal(x.numpy(), sampler.batch(1)[0].numpy())


def test_a_mixture_draws_each_part_about_equally_and_applies_it_as_is(hr):
    from srcnn.protocol.degrade import parse_degradation

    mixture = parse_degradation("bicubic+noise:10+jpeg:75")
    assert mixture.spec == "bicubic+noise:10+jpeg:75" and parse_degradation(mixture.spec) == mixture
    assert mixture.random and mixture.task is None
    parts = {spec: parse_degradation(spec).lr(hr, 3) for spec in ("bicubic", "jpeg:75")}
    drawn = {"bicubic": 0, "jpeg:75": 0, "noise": 0}
    for seed in range(60):
        lr = mixture.lr(hr, 3, np.random.default_rng(seed))
        match = [spec for spec, image in parts.items() if np.array_equal(lr, image)]
        drawn[match[0] if match else "noise"] += 1
    assert all(10 <= count <= 30 for count in drawn.values()), drawn
