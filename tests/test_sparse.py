"""Sparse-coding super-resolution (ScSR): features, patches, overlaps, back-projection, the method."""

import numpy as np
import pytest
from PIL import Image

from conftest import shapes_image
from srcnn.protocol.color import to_plane
from srcnn.study.evaluate import evaluate_plane
from srcnn.inference import Upscaler, make_upscaler
from srcnn.protocol.resize import imresize
from srcnn.sparse import (SparseCodingConfig, SparseCodingUpscaler, SparseDictionary, average_patches,
                          back_project, batch_omp, extract_patches, gradient_features, learn_dictionary, patch_grid,
                          shipped_dictionary_path)


def test_gradient_features_of_a_ramp_are_its_slope_and_zero_curvature():
    ramp = np.tile(np.arange(20, dtype=float) * 3.0, (12, 1))  # slope 3 along x, flat along y
    features = gradient_features(ramp)
    inner = features[3:-3, 3:-3]
    np.testing.assert_allclose(inner[..., 0], -6.0)  # conv2 with [-1, 0, 1]: -2 * slope
    np.testing.assert_allclose(inner[..., 1], 0.0)  # no vertical change
    np.testing.assert_allclose(inner[..., 2], 0.0)  # a ramp has no second derivative
    np.testing.assert_allclose(inner[..., 3], 0.0)


def test_gradient_feature_sign_follows_matlab_conv2():
    step = np.zeros((9, 9))
    step[:, 5:] = 1.0
    # conv2(im, [-1 0 1], 'same') flips the kernel: out(x) = im(x - 1) - im(x + 1), negative on a rising edge
    assert gradient_features(step)[4, 4, 0] == -1.0


def test_patches_cover_the_image_and_averaging_them_gives_it_back(rng):
    image = rng.random((23, 17))
    for step in (1, 2, 4):
        ys, xs = patch_grid(23, 17, 5, step)
        assert ys.max() == 23 - 5 and xs.max() == 17 - 5  # the last row and column are covered
        patches = extract_patches(image, ys, xs, 5)
        np.testing.assert_allclose(patches[0].reshape(5, 5), image[:5, :5])
        np.testing.assert_allclose(average_patches(patches, ys, xs, image.shape), image)


def test_multichannel_patches_are_channels_last(rng):
    image = rng.random((8, 8, 4))
    ys, xs = patch_grid(8, 8, 5, 3)
    patches = extract_patches(image, ys, xs, 5)
    np.testing.assert_allclose(patches[1].reshape(5, 5, 4), image[ys[1] : ys[1] + 5, xs[1] : xs[1] + 5])


def test_batch_omp_gives_scikit_learns_codes(rng):
    from sklearn.linear_model import orthogonal_mp_gram

    atoms = rng.normal(size=(40, 128))
    atoms /= np.linalg.norm(atoms, axis=0)
    signals = rng.normal(size=(300, 40))
    ours = batch_omp(signals, atoms, 4)
    reference = orthogonal_mp_gram(atoms.T @ atoms, (signals @ atoms).T, n_nonzero_coefs=4).T
    np.testing.assert_allclose(ours, reference, atol=1e-8)
    assert ((ours != 0).sum(axis=1) == 4).all()


def test_batch_omp_codes_a_zero_signal_as_zero(rng):
    atoms = rng.normal(size=(10, 30))
    atoms /= np.linalg.norm(atoms, axis=0)
    np.testing.assert_allclose(batch_omp(np.zeros((2, 10)), atoms, 3), 0.0)


def test_back_projection_makes_the_result_consistent_with_the_lr_input(rng):
    hr = np.asarray(shapes_image(3, 60)[..., 0], dtype=float)
    lr = imresize(hr, 1 / 3)
    guess = imresize(lr, output_shape=hr.shape) + rng.normal(0, 4, hr.shape)
    before = np.abs(imresize(guess, output_shape=lr.shape) - lr).mean()
    after = np.abs(imresize(back_project(guess, lr, 20), output_shape=lr.shape) - lr).mean()
    assert after < 0.3 * before, (before, after)


@pytest.fixture(scope="module")
def tiny_dictionary(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hr")
    for i in range(6):
        Image.fromarray(shapes_image(200 + i, 64)).save(folder / f"hr{i}.png")
    cfg = SparseCodingConfig(atoms=32, training_patches=3000, epochs=1)
    return learn_dictionary(sorted(folder.glob("*.png")), 3, cfg)


def test_learnt_dictionary_has_the_documented_shapes_and_survives_a_round_trip(tiny_dictionary, tmp_path):
    assert tiny_dictionary.high.shape == (25, 32)
    assert tiny_dictionary.low.shape == (100, 32)
    np.testing.assert_allclose(np.linalg.norm(tiny_dictionary.low, axis=0), 1.0, atol=1e-6)
    tiny_dictionary.save(tmp_path / "d.safetensors")
    loaded = SparseDictionary.load(tmp_path / "d.safetensors")
    scale = np.abs(tiny_dictionary.high).max()  # stored as float32
    np.testing.assert_allclose(loaded.high, tiny_dictionary.high, rtol=1e-6, atol=1e-6 * scale)
    assert loaded.scale == 3 and loaded.config == tiny_dictionary.config


def test_sparse_coding_upscales_to_the_right_size_in_grey_and_colour(tiny_dictionary):
    up = SparseCodingUpscaler(3, tiny_dictionary)
    assert up(np.full((10, 7), 0.5)).shape == (30, 21)
    colour = up.upscale_image(Image.fromarray(shapes_image(9, 30)))
    assert colour.size == (90, 90) and colour.mode == "RGB"


def test_chunked_sparse_coding_equals_coding_the_whole_image_at_once(tiny_dictionary):
    from srcnn.sparse import sparse_codes

    lr = imresize(to_plane(shapes_image(7, 36), 1).astype(np.float64) / 255.0, 1 / 3)
    chunked = SparseCodingUpscaler(3, tiny_dictionary, batch=7)(lr)  # thousands of 7-patch chunks
    # The whole image in one go, as before chunking: every patch's code, then the overlaps averaged.
    lr255 = lr * 255.0
    mid = imresize(lr255, output_shape=(lr.shape[0] * 3, lr.shape[1] * 3))
    ys, xs = patch_grid(*mid.shape, 5)
    features = extract_patches(gradient_features(mid), ys, xs, 5)
    norms = np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1.0)
    codes = sparse_codes(features / norms, tiny_dictionary.low, tiny_dictionary.config.nonzero, batch=len(ys))
    whole = back_project(average_patches(codes @ tiny_dictionary.high.T * norms, ys, xs, mid.shape) + mid, lr255)
    np.testing.assert_allclose(chunked, whole / 255.0, rtol=0, atol=1e-9)


def test_a_dictionary_for_another_scale_is_refused(tiny_dictionary):
    from srcnn.errors import SRCNNError

    with pytest.raises(SRCNNError, match="x3"):
        SparseCodingUpscaler(2, tiny_dictionary)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_dictionaries_beat_bicubic_on_sharp_edges(scale):
    assert shipped_dictionary_path(scale).exists()
    up = make_upscaler(scale, method="sparse-coding")
    images = [to_plane(shapes_image(300 + i, 96), 1) for i in range(3)]
    sc = np.mean([evaluate_plane(img, scale, up)[0] for img in images])
    bicubic = np.mean([evaluate_plane(img, scale, Upscaler(None, scale))[0] for img in images])
    assert sc > bicubic + 0.3, (sc, bicubic)


def test_learn_dictionary_command_writes_a_loadable_dictionary(tmp_path):
    from srcnn.apps.cli import main

    folder = tmp_path / "hr"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(shapes_image(400 + i, 48)).save(folder / f"hr{i}.png")
    out = tmp_path / "d.safetensors"
    assert main(["learn-dictionary", "--data", str(folder), "--scale", "2", "-o", str(out),
                 "--atoms", "16", "--patches", "1500"]) == 0
    dictionary = SparseDictionary.load(out)
    assert dictionary.scale == 2 and dictionary.high.shape == (25, 16)


def test_evaluate_command_scores_sparse_coding(tmp_path, capsys):
    from srcnn.apps.cli import main

    folder = tmp_path / "set"
    folder.mkdir()
    Image.fromarray(shapes_image(500, 48)).save(folder / "a.png")
    assert main(["evaluate", str(folder), "--scale", "3", "--method", "sparse-coding"]) == 0
    assert "mean" in capsys.readouterr().out


def test_a_file_that_is_not_a_dictionary_is_refused_in_one_line(tmp_path):
    from srcnn.errors import SRCNNError

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a dictionary")
    with pytest.raises(SRCNNError, match="cannot read"):
        SparseDictionary.load(bad)
