"""Training pairs from any folder of HR images, and the patches that feed the network.

Images are decoded once, reduced to Y (or kept RGB), modcropped and degraded; the (input, target)
pairs stay in memory as float32. Patches come either as the paper's sub-images (33x33 with stride
14, shuffled once per epoch) or as random crops with flips and 90-degree rotations. Every batch is
a pure function of (seed, step), so a resumed run draws exactly the batches it would have drawn.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .color import to_plane
from .degrade import make_input
from .imageio import read_image
from .resize import modcrop

__all__ = ["Pair", "load_pairs", "split_validation", "PatchSampler"]

log = logging.getLogger(__name__)


@dataclass
class Pair:
    name: str
    input: np.ndarray  # float32 (H, W[, 3]) in [0, 1]: degraded then upscaled back (clean for 'noise')
    target: np.ndarray  # float32, same shape


def split_validation(paths: list[Path], count: int) -> tuple[list[Path], list[Path]]:
    """Hold out ``count`` images for checkpoint selection, chosen by a hash of their names, so the
    split does not depend on the order or the number of folders given."""
    ranked = sorted(paths, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())
    val = set(ranked[:count])
    return [p for p in paths if p not in val], [p for p in paths if p in val]


def load_pairs(paths: list[Path], scale: int, degradation: str = "bicubic", channels: int = 1,
               min_size: int = 0, **degrade_kwargs) -> list[Pair]:
    """Decode, degrade and upscale back every image. Unreadable images are logged and skipped."""
    pairs = []
    for path in paths:
        try:
            image = read_image(path)
        except Exception as exc:  # a corrupt file in a big folder must not stop training
            log.warning("skipping %s: %s", path, exc)
            continue
        plane = to_plane(image, channels).astype(np.float64) / 255.0
        if min(plane.shape[:2]) < max(min_size, scale):
            log.warning("skipping %s: smaller than a patch", path)
            continue
        if degradation == "noise":
            # Noise is drawn fresh for every patch; the stored input is the clean image.
            target = modcrop(plane, scale)
            inp = target
        else:
            inp, target = make_input(plane, scale, degradation, **degrade_kwargs)
        pairs.append(Pair(path.stem, inp.astype(np.float32), target.astype(np.float32)))
    return pairs


class PatchSampler:
    """Batches of (input, target) patches as (N, C, P, P) float32 tensors, a pure function of step."""

    def __init__(self, pairs: list[Pair], patch_size: int, batch_size: int, *, mode: str = "random",
                 stride: int = 14, augment: bool = True, seed: int = 0, noise_sigma: float | None = None):
        if mode not in ("random", "grid"):
            raise ValueError(f"patch mode must be 'random' or 'grid', got {mode!r}")
        self.pairs = [p for p in pairs if min(p.target.shape[:2]) >= patch_size]
        if not self.pairs:
            raise ValueError(f"no training image is at least {patch_size}x{patch_size}")
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.mode = mode
        self.augment = augment
        self.seed = seed
        self.noise_sigma = noise_sigma
        # Every top-left corner a patch can take: (image, row, col); the grid mode walks them all.
        if mode == "grid":
            corners = []
            for i, p in enumerate(self.pairs):
                h, w = p.target.shape[:2]
                rows = np.arange(0, h - patch_size + 1, stride)
                cols = np.arange(0, w - patch_size + 1, stride)
                r, c = np.meshgrid(rows, cols, indexing="ij")
                corners.append(np.stack([np.full(r.size, i), r.ravel(), c.ravel()], axis=1))
            self.corners = np.concatenate(corners)
        else:
            counts = np.array([(p.target.shape[0] - patch_size + 1) * (p.target.shape[1] - patch_size + 1)
                               for p in self.pairs], dtype=np.float64)
            self.image_weights = counts / counts.sum()

    def __len__(self) -> int:
        """Sub-images per epoch (grid mode) or candidate positions (random mode)."""
        if self.mode == "grid":
            return len(self.corners)
        return int(sum((p.target.shape[0] - self.patch_size + 1) * (p.target.shape[1] - self.patch_size + 1)
                       for p in self.pairs))

    def _corners_for(self, step: int) -> np.ndarray:
        if self.mode == "grid":
            n = len(self.corners)
            first = step * self.batch_size
            idx = []
            while len(idx) < self.batch_size:
                epoch, offset = divmod(first + len(idx), n)
                perm = np.random.default_rng([self.seed, 1, epoch]).permutation(n)
                take = min(self.batch_size - len(idx), n - offset)
                idx.extend(perm[offset : offset + take])
            return self.corners[np.array(idx)]
        rng = np.random.default_rng([self.seed, 2, step])
        images = rng.choice(len(self.pairs), size=self.batch_size, p=self.image_weights)
        out = np.empty((self.batch_size, 3), dtype=np.int64)
        for k, i in enumerate(images):
            h, w = self.pairs[i].target.shape[:2]
            out[k] = (i, rng.integers(0, h - self.patch_size + 1), rng.integers(0, w - self.patch_size + 1))
        return out

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        P = self.patch_size
        corners = self._corners_for(step)
        rng = np.random.default_rng([self.seed, 3, step])
        inputs, targets = [], []
        for i, r, c in corners:
            pair = self.pairs[i]
            x = pair.input[r : r + P, c : c + P]
            y = pair.target[r : r + P, c : c + P]
            if self.augment:
                k = int(rng.integers(4))
                flip = bool(rng.integers(2))
                x, y = np.rot90(x, k), np.rot90(y, k)
                if flip:
                    x, y = x[:, ::-1], y[:, ::-1]
            inputs.append(x)
            targets.append(y)
        x = np.stack(inputs).astype(np.float32)
        y = np.stack(targets).astype(np.float32)
        if self.noise_sigma is not None:
            x = x + rng.normal(0.0, self.noise_sigma / 255.0, size=x.shape).astype(np.float32)
        # (N, H, W[, C]) -> (N, C, H, W)
        if x.ndim == 3:
            x, y = x[:, None], y[:, None]
        else:
            x, y = x.transpose(0, 3, 1, 2), y.transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
