"""Sparse-coding super-resolution: the baseline SRCNN was shown to replace.

Yang, Wright, Huang, Ma, "Image super-resolution via sparse representation", TIP 2010 (ScSR),
as the authors' released code does it:

1. LR features: first- and second-order gradients ([-1, 0, 1] and [1, 0, -2, 0, 1], both
   directions) of the bicubic-upscaled image; a patch's feature is its four 5x5 gradient windows.
2. A joint dictionary: HR patches (mean removed) and LR features, each normalised, stacked and
   learnt together (scikit-learn's mini-batch dictionary learning), so one sparse code serves both.
3. Reconstruction: for every 5x5 patch of the bicubic image (overlapping, step 1), code its
   normalised feature over the LR dictionary (OMP, scikit-learn), map the code through the HR
   dictionary to the detail bicubic missed, restore its size, and average the overlaps.

Two departures from the released code, both chosen on the validation split of the training images
(never on Set5 / Set14): the HR half holds the detail (HR minus bicubic) rather than the HR patch
less its mean, with both halves scaled by the LR feature's norm so that no hand-set gain (the
original's 1.2) is needed; and the HR atoms are refitted by least squares to the OMP codes of the
training features (Zeyde et al. 2010), since the joint fit's HR half predicts the detail poorly.
4. Back-projection: make the result consistent with the LR input (iterative, Gaussian kernel).

Work is in 0..255 units like the original (its thresholds assume them). Learnt dictionaries ship
with the package (``models/pretrained/sparse_x{S}.safetensors``), made by ``srcnn learn-dictionary``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .protocol.color import to_plane
from .protocol.degrade import filter_separable_valid, gaussian_window
from .errors import SRCNNError
from .io.imageio import read_image
from .inference import Upscaler
from .protocol.resize import imresize, modcrop

__all__ = ["SparseCodingConfig", "SparseDictionary", "SparseCodingUpscaler", "gradient_features",
           "patch_grid", "extract_patches", "batch_omp", "sparse_codes", "accumulate_patches", "average_patches",
           "back_project",
           "learn_dictionary",
           "shipped_dictionary_path"]

log = logging.getLogger(__name__)

PRETRAINED = Path(__file__).parent / "models" / "pretrained"


@dataclass
class SparseCodingConfig:
    patch_size: int = 5  # on the bicubic-upscaled grid, as the authors' code
    atoms: int = 1024
    learn_alpha: float = 0.075  # scikit-learn's 0.5||x - Dz||^2 + alpha|z|_1: Yang's lambda 0.15 halved
    training_patches: int = 100_000
    epochs: int = 1
    prune_percentile: float = 10.0  # drop the smoothest HR patches from training, as the original
    nonzero: int = 3  # atoms per patch when coding (OMP), in the HR refit and at inference
    refit_high: bool = True  # refit the HR half to the codes OMP actually gives (see learn_dictionary)
    seed: int = 0


def shipped_dictionary_path(scale: int) -> Path:
    return PRETRAINED / f"sparse_x{scale}.safetensors"


# ---- features, patches, overlaps, back-projection -------------------------------------------------

def _correlate_same(image: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """MATLAB ``conv2(image, kernel, 'same')`` for a 1-D kernel along ``axis`` (zero padding)."""
    flipped = kernel[::-1]  # convolution flips the kernel
    r = len(kernel) // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (r, r)
    windows = sliding_window_view(np.pad(image, pad), len(kernel), axis=axis)
    return windows @ flipped


GRADIENT_KERNELS = (np.array([-1.0, 0.0, 1.0]), np.array([1.0, 0.0, -2.0, 0.0, 1.0]))


def gradient_features(image: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 4): horizontal and vertical first- and second-order gradients."""
    maps = []
    for kernel in GRADIENT_KERNELS:
        maps.append(_correlate_same(image, kernel, axis=1))
        maps.append(_correlate_same(image, kernel, axis=0))
    return np.stack(maps, axis=2)


def patch_grid(height: int, width: int, size: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of patches that cover the whole image (the last row / column included)."""
    def axis(n: int) -> np.ndarray:
        starts = list(range(0, n - size + 1, step))
        if starts[-1] != n - size:
            starts.append(n - size)
        return np.array(starts)

    ys, xs = np.meshgrid(axis(height), axis(width), indexing="ij")
    return ys.ravel(), xs.ravel()


def extract_patches(image: np.ndarray, ys: np.ndarray, xs: np.ndarray, size: int) -> np.ndarray:
    """(H, W[, C]) -> (N, size * size * C): the patches at corners (ys, xs), row-major, channels last."""
    windows = sliding_window_view(image, (size, size), axis=(0, 1))  # (H', W', [C,] size, size)
    patches = windows[ys, xs]
    if image.ndim == 3:
        patches = np.moveaxis(patches, 1, -1)  # (N, size, size, C)
    return patches.reshape(len(ys), -1)


def accumulate_patches(total: np.ndarray, count: np.ndarray, patches: np.ndarray, ys: np.ndarray,
                       xs: np.ndarray) -> None:
    """Add (N, size * size) patches at their corners into ``total``, and 1 per patch pixel into ``count``."""
    size = int(round(np.sqrt(patches.shape[1])))
    for dy in range(size):
        for dx in range(size):
            # At one offset distinct corners hit distinct pixels, so plain fancy-index += is exact.
            total[ys + dy, xs + dx] += patches[:, dy * size + dx]
            count[ys + dy, xs + dx] += 1


def average_patches(patches: np.ndarray, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Place (N, size * size) patches at their corners and average where they overlap."""
    total = np.zeros(shape)
    count = np.zeros(shape)
    accumulate_patches(total, count, patches, ys, xs)
    if (count == 0).any():
        raise ValueError("the patches do not cover the image")
    return total / count


def _back_projection_kernel() -> np.ndarray:
    """The original's ``fspecial('gaussian', 5, 1) .^ 2``, normalised: separable as g^2 / sum(g^2)."""
    g = gaussian_window(5, 1.0) ** 2
    return g / g.sum()


def back_project(hr: np.ndarray, lr: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Iterative back-projection: push ``hr`` towards images whose bicubic down-scaling is ``lr``."""
    kernel = _back_projection_kernel()
    r = len(kernel) // 2
    hr = hr.astype(np.float64).copy()
    for _ in range(iterations):
        residual = lr - imresize(hr, output_shape=lr.shape)
        up = imresize(residual, output_shape=hr.shape)
        hr += filter_separable_valid(np.pad(up, r), kernel)  # conv2(..., 'same') with zero padding
    return hr


def batch_omp(signals: np.ndarray, atoms: np.ndarray, nonzero: int) -> np.ndarray:
    """Orthogonal matching pursuit of every row of ``signals`` (N, d) over unit-norm ``atoms``
    (d, K), ``nonzero`` atoms each, all rows at once; returns the (N, K) codes.

    The same codes as scikit-learn's ``orthogonal_mp_gram`` (tests/test_sparse.py checks it), which
    copies the K x K Gram matrix for every signal: with 1024 atoms that is 8 MB per patch, and a
    Set14 image has 400,000 patches. Here each step is one matrix product for the whole batch.
    """
    correlations = signals @ atoms  # (N, K): D^T x
    gram = atoms.T @ atoms
    n = len(signals)
    rows = np.arange(n)[:, None]
    support = np.zeros((n, 0), dtype=np.int64)
    coefficients = np.zeros((n, 0))
    residual_correlations = correlations
    for _ in range(nonzero):
        chosen = np.argmax(np.abs(residual_correlations), axis=1)
        support = np.concatenate([support, chosen[:, None]], axis=1)
        sub_gram = gram[support[:, :, None], support[:, None, :]]  # (N, t, t)
        # A tiny ridge keeps the solve defined where a flat patch picks an atom twice.
        sub_gram += 1e-10 * np.eye(support.shape[1])
        coefficients = np.linalg.solve(sub_gram, correlations[rows, support][..., None])[..., 0]
        approximation = np.einsum("nt,ntd->nd", coefficients, atoms.T[support])  # D_S gamma
        residual_correlations = correlations - approximation @ atoms
    codes = np.zeros((n, atoms.shape[1]))
    np.add.at(codes, (np.broadcast_to(rows, support.shape), support), coefficients)
    return codes


def sparse_codes(signals: np.ndarray, atoms: np.ndarray, nonzero: int, batch: int = 20000) -> np.ndarray:
    """:func:`batch_omp` in batches of ``batch`` rows: memory bounded on big images."""
    codes = np.zeros((len(signals), atoms.shape[1]))
    for start in range(0, len(signals), batch):
        codes[start : start + batch] = batch_omp(signals[start : start + batch], atoms, nonzero)
    return codes


# ---- the dictionary -------------------------------------------------------------------------------

@dataclass
class SparseDictionary:
    scale: int
    high: np.ndarray  # (size * size, atoms): HR detail (HR minus bicubic) per unit of LR feature norm
    low: np.ndarray  # (4 * size * size, atoms): LR gradient features, unit-norm columns
    gain: float  # typical detail norm over LR feature norm: the HR half's weight in the joint fit
    config: SparseCodingConfig
    info: dict

    @property
    def patch_size(self) -> int:
        return self.config.patch_size

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save_file

        from .io.atomic import atomic_output

        meta = {"format": "srcnn-sparse-dictionary", "scale": str(self.scale), "gain": repr(self.gain),
                "config": json.dumps(asdict(self.config)), "info": json.dumps(self.info)}
        with atomic_output(path) as tmp:
            # safetensors writes the array's memory as it lies: make it C-ordered first
            tensors = {"high": np.ascontiguousarray(self.high, dtype=np.float32),
                       "low": np.ascontiguousarray(self.low, dtype=np.float32)}
            save_file(tensors, str(tmp), meta)

    @classmethod
    def load(cls, path: str | Path) -> "SparseDictionary":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                if meta.get("format") != "srcnn-sparse-dictionary":
                    raise SRCNNError(f"{path}: not a sparse-coding dictionary")
                high, low = f.get_tensor("high"), f.get_tensor("low")
        except SRCNNError:
            raise
        except Exception as exc:
            raise SRCNNError(f"{path}: cannot read the dictionary ({exc})") from None
        return cls(int(meta["scale"]), high.astype(np.float64), low.astype(np.float64), float(meta["gain"]),
                   SparseCodingConfig(**json.loads(meta["config"])), json.loads(meta.get("info", "{}")))


def _training_patches(paths: list[Path], scale: int, cfg: SparseCodingConfig,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(HR patches less their mean, LR features) sampled at random over the images, by area."""
    images = [modcrop(to_plane(read_image(p), 1).astype(np.float64), scale) for p in paths]
    areas = np.array([img.size for img in images], dtype=np.float64)
    per_image = np.maximum(1, np.round(cfg.training_patches * areas / areas.sum())).astype(int)
    size = cfg.patch_size
    highs, lows = [], []
    for hr, count in zip(images, per_image):
        mid = imresize(imresize(hr, 1 / scale), output_shape=hr.shape)
        ys = rng.integers(0, hr.shape[0] - size + 1, count)
        xs = rng.integers(0, hr.shape[1] - size + 1, count)
        highs.append(extract_patches(hr - mid, ys, xs, size))  # the detail bicubic misses
        lows.append(extract_patches(gradient_features(mid), ys, xs, size))
    return np.concatenate(highs), np.concatenate(lows)


def learn_dictionary(paths: list[Path], scale: int, cfg: SparseCodingConfig | None = None) -> SparseDictionary:
    """Learn the joint HR / LR dictionary on HR images (the authors used T91)."""
    from sklearn.decomposition import MiniBatchDictionaryLearning

    cfg = cfg or SparseCodingConfig()
    started = time.time()
    rng = np.random.default_rng(cfg.seed)
    high, low = _training_patches(paths, scale, cfg, rng)
    # The smoothest patches teach nothing about detail (the original prunes them too).
    low_norm = np.linalg.norm(low, axis=1)
    keep = low_norm > np.percentile(low_norm, cfg.prune_percentile)
    high, low, low_norm = high[keep], low[keep], low_norm[keep]
    # Both halves divided by the same LR feature norm, so a code carries the detail's size too;
    # the HR half is weighted so that both halves count alike in the joint fit.
    gain = float(np.median(np.linalg.norm(high, axis=1)) / np.median(low_norm))
    joint = np.hstack([high / gain, low]) / low_norm[:, None]
    learner = MiniBatchDictionaryLearning(n_components=cfg.atoms, alpha=cfg.learn_alpha, batch_size=256,
                                          max_iter=cfg.epochs, fit_algorithm="lars", random_state=cfg.seed)
    learner.fit(joint)
    atoms = learner.components_.T  # (dims, atoms)
    m = high.shape[1]
    high_dict, low_dict = atoms[:m] * gain, atoms[m:]
    norms = np.linalg.norm(low_dict, axis=0)
    norms[norms == 0] = 1.0
    # Coding uses unit LR atoms; the HR atoms are scaled alike so that one code maps to both.
    dictionary = SparseDictionary(scale, high_dict / norms, low_dict / norms, gain, cfg, {})
    if cfg.refit_high:
        # The joint fit assumes lasso codes of the whole [HR; LR] vector, but reconstruction codes
        # the LR feature alone with OMP. Refitting the HR atoms by least squares to those very codes
        # (as Zeyde et al. 2010 do) makes the two agree: on the validation split (x3, 512 atoms) it
        # raised the gain over bicubic from 0.45 to 0.78 dB.
        codes = sparse_codes(low / low_norm[:, None], dictionary.low, cfg.nonzero)
        target = high / low_norm[:, None]
        dictionary.high = np.linalg.lstsq(codes, target, rcond=None)[0].T
    dictionary.info = {"images": len(paths), "patches": int(len(joint)), "seconds": round(time.time() - started, 1)}
    return dictionary


# ---- reconstruction -------------------------------------------------------------------------------

class SparseCodingUpscaler(Upscaler):
    """ScSR as an :class:`~srcnn.inference.Upscaler`: call it with an LR plane in [0, 1], or use
    ``upscale_image`` etc. for colour images (Y by sparse coding, Cb/Cr bicubic, as SRCNN)."""

    def __init__(self, scale: int, dictionary: SparseDictionary | str | Path | None = None,
                 nonzero: int | None = None, step: int = 1, back_projection: int = 20, batch: int = 4096):
        super().__init__(None, scale)
        if dictionary is None:
            path = shipped_dictionary_path(scale)
            if not path.exists():
                raise SRCNNError(f"no sparse-coding dictionary ships for x{scale}; learn one with srcnn learn-dictionary")
            dictionary = path
        if not isinstance(dictionary, SparseDictionary):
            dictionary = SparseDictionary.load(dictionary)
        if dictionary.scale != scale:
            raise SRCNNError(f"the dictionary is for x{dictionary.scale}, not x{scale}")
        self.dictionary = dictionary
        self.nonzero = nonzero or dictionary.config.nonzero
        self.step = step
        self.back_projection = back_projection
        self.batch = batch

    @property
    def restores(self) -> bool:
        return True

    def __call__(self, lr: np.ndarray, scale: int | None = None) -> np.ndarray:
        scale = self._check_scale(scale)
        lr255 = np.asarray(lr, dtype=np.float64) * 255.0
        h, w = lr255.shape
        mid = imresize(lr255, output_shape=(h * scale, w * scale))
        size = self.dictionary.patch_size
        if min(mid.shape) < size:
            return mid / 255.0
        ys, xs = patch_grid(*mid.shape, size, self.step)
        gradients = gradient_features(mid)
        total, count = np.zeros(mid.shape), np.zeros(mid.shape)
        # ``batch`` patches at a time from feature to detail: memory is bounded by the chunk (codes
        # are patches x atoms), not by the image; every patch is coded alone, so the result does not
        # depend on the chunk size.
        for start in range(0, len(ys), self.batch):
            chunk_ys, chunk_xs = ys[start : start + self.batch], xs[start : start + self.batch]
            features = extract_patches(gradients, chunk_ys, chunk_xs, size)
            # Normalise features as in training; flat patches (norm <= 1) keep their small values.
            norms = np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1.0)
            codes = batch_omp(features / norms, self.dictionary.low, self.nonzero)
            accumulate_patches(total, count, codes @ self.dictionary.high.T * norms, chunk_ys, chunk_xs)
        sr = total / count + mid
        sr = back_project(sr, lr255, self.back_projection)
        return sr / 255.0
