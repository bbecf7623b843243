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

from ..protocol.color import to_plane
from ..protocol.degrade import Degradation, parse_degradation
from ..io.imageio import list_images, read_image
from ..protocol.resize import imresize, modcrop
from .train_config import TrainConfig

__all__ = ["Pair", "load_pairs", "split_validation", "held_out_paths", "PatchSampler", "DevicePatches", "StreamingPatches",
           "StepBatches"]

log = logging.getLogger(__name__)


@dataclass
class Pair:
    name: str
    input: np.ndarray  # float32 (h, w[, 3]) in [0, 1]: degraded, then upscaled back for an "hr"-grid
    #                    model (SRCNN) or left at LR for an "lr"-grid one (FSRCNN); the clean HR
    #                    image for a random degradation, which is applied per patch
    target: np.ndarray  # float32 (h * f, w * f[, 3]), f = 1 ("hr" grid) or the scale ("lr" grid)

    @property
    def factor(self) -> int:
        return self.target.shape[0] // self.input.shape[0]


def split_validation(paths: list[Path], count: int) -> tuple[list[Path], list[Path]]:
    """Hold out ``count`` images for checkpoint selection, chosen by a hash of their names, so the
    split does not depend on the order or the number of folders given."""
    ranked = sorted(paths, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())
    val = set(ranked[:count])
    return [p for p in paths if p not in val], [p for p in paths if p in val]


def held_out_paths(folders: list[str | Path]) -> list[Path]:
    """The images ``srcnn train`` holds out of these training folders by default (its validation
    split): what decisions between models are made on, never Set5 / Set14."""
    return split_validation([p for d in folders for p in list_images(d)], TrainConfig.val_count)[1]


def load_pairs(paths: list[Path], scale: int, degradation: "str | Degradation" = "bicubic", channels: int = 1,
               min_size: int = 0, hr_scales: tuple[float, ...] = (), input_grid: str = "hr",
               **degrade_kwargs) -> list[Pair]:
    """Decode, degrade and (for ``input_grid="hr"``) upscale back every image; ``"lr"`` keeps the
    LR image as the input. Unreadable images are logged and skipped.
    ``hr_scales`` adds down-scaled copies of each HR image (e.g. 0.9 ... 0.6, as FSRCNN augments):
    more kinds of detail per image for a small training set."""
    degradation = parse_degradation(degradation, **degrade_kwargs)
    pairs = []
    for path in paths:
        try:
            image = read_image(path)
        except Exception as exc:  # a corrupt file in a big folder must not stop training
            log.warning("skipping %s: %s", path, exc)
            continue
        original = to_plane(image, channels).astype(np.float64) / 255.0
        for factor in (1.0, *hr_scales):
            plane = original if factor == 1.0 else np.clip(imresize(original, factor), 0.0, 1.0)
            name = path.stem if factor == 1.0 else f"{path.stem}@{factor:g}"
            if min(plane.shape[:2]) < max(min_size, scale):
                log.warning("skipping %s: smaller than a patch", name)
                continue
            target = modcrop(plane, scale)
            # A random degradation is drawn fresh for every patch; the stored input is the clean image.
            inp = target if degradation.random else degradation.network_input(target, scale, input_grid)
            pairs.append(Pair(name, inp.astype(np.float32), target.astype(np.float32)))
    return pairs


def _rank_share(batch_size: int, rank: int, world: int) -> range:
    """The places in a step's global batch that rank ``rank`` of ``world`` takes: a contiguous share."""
    if batch_size % world:
        raise ValueError(f"batch size {batch_size} does not split over {world} processes")
    share = batch_size // world
    return range(rank * share, (rank + 1) * share)


def _patchable(pairs: list[Pair], patch_size: int) -> tuple[list[Pair], int]:
    """The pairs big enough for a patch, and their input-to-target factor (1, or the scale for an
    LR-grid input), which the patch size must be a multiple of."""
    pairs = [p for p in pairs if min(p.target.shape[:2]) >= patch_size]
    if not pairs:
        raise ValueError(f"no training image is at least {patch_size}x{patch_size}")
    factor = pairs[0].factor
    if patch_size % factor:
        raise ValueError(f"patch size {patch_size} is not a multiple of the scale {factor}")
    return pairs, factor


class _PatchSource:
    """What both patch sources share: the global batch of a step is fixed by (seed, step); each of
    ``world`` ranks takes its own contiguous share of it; flips, rotations and noise belong to the
    patch's place in the global batch, so any split of the batch yields the same patches."""

    def __init__(self, patch_size: int, batch_size: int, augment: bool, seed: int, noise_sigma: float | None,
                 degradation: "str | Degradation | None" = None, scale: int = 1, input_grid: str = "hr"):
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.augment = augment
        self.seed = seed
        if degradation is None and noise_sigma is not None:
            degradation = Degradation("noise", noise_sigma, noise_sigma)
        degradation = parse_degradation(degradation) if degradation is not None else None
        # A random degradation is applied here, per patch, to the clean HR patch (raw patches are
        # then (clean, clean)); a deterministic one was applied once per image.
        self.per_patch = degradation if degradation is not None and degradation.random else None
        self.scale = scale
        self.input_grid = input_grid

    def _raw_patches(self, step: int, ks: range) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError

    def batch(self, step: int, rank: int = 0, world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the global batch of ``step``: (input, target), each (N, C, P, P)."""
        ks = _rank_share(self.batch_size, rank, world)
        codes = np.random.default_rng([self.seed, 3, step]).integers(0, (4, 2), size=(self.batch_size, 2))
        inputs, targets = [], []
        for k, (x, y) in zip(ks, self._raw_patches(step, ks)):
            if self.augment:
                rot, flip = codes[k]
                x, y = np.rot90(x, rot), np.rot90(y, rot)
                if flip:
                    x, y = x[:, ::-1], y[:, ::-1]
            if self.per_patch is not None:
                rng = np.random.default_rng([self.seed, 4, step, k])
                x = self.per_patch.network_input(np.ascontiguousarray(y, dtype=np.float64), self.scale,
                                                 self.input_grid, rng)
            inputs.append(x)
            targets.append(y)
        x = np.stack(inputs).astype(np.float32)
        y = np.stack(targets).astype(np.float32)
        # (N, H, W[, C]) -> (N, C, H, W)
        if x.ndim == 3:
            x, y = x[:, None], y[:, None]
        else:
            x, y = x.transpose(0, 3, 1, 2), y.transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


class PatchSampler(_PatchSource):
    """Patches cut from pairs held in memory: random crops, or the paper's grid of sub-images."""

    def __init__(self, pairs: list[Pair], patch_size: int, batch_size: int, *, mode: str = "random",
                 stride: int = 14, augment: bool = True, seed: int = 0, noise_sigma: float | None = None,
                 degradation: "str | Degradation | None" = None, scale: int = 1, input_grid: str = "hr"):
        super().__init__(patch_size, batch_size, augment, seed, noise_sigma, degradation, scale, input_grid)
        if mode not in ("random", "grid"):
            raise ValueError(f"patch mode must be 'random' or 'grid', got {mode!r}")
        # Corners live on the input grid; an LR-grid input is ``factor`` times smaller than its target.
        self.pairs, self.factor = _patchable(pairs, patch_size)
        self.input_patch = patch_size // self.factor
        self.mode = mode
        # Every top-left corner a patch can take: (image, row, col); the grid mode walks them all.
        if mode == "grid":
            corners = []
            step = max(1, stride // self.factor)
            for i, p in enumerate(self.pairs):
                h, w = p.input.shape[:2]
                rows = np.arange(0, h - self.input_patch + 1, step)
                cols = np.arange(0, w - self.input_patch + 1, step)
                r, c = np.meshgrid(rows, cols, indexing="ij")
                corners.append(np.stack([np.full(r.size, i), r.ravel(), c.ravel()], axis=1))
            self.corners = np.concatenate(corners)
        else:
            q = self.input_patch
            self.positions = np.array([(p.input.shape[0] - q + 1) * (p.input.shape[1] - q + 1)
                                       for p in self.pairs], dtype=np.float64)

    def __len__(self) -> int:
        """Sub-images per epoch (grid mode) or candidate positions (random mode)."""
        return len(self.corners) if self.mode == "grid" else int(self.positions.sum())

    def _corners_for(self, step: int) -> np.ndarray:
        """(image, row, col) of every patch of the global batch of ``step``."""
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
        images = rng.choice(len(self.pairs), size=self.batch_size, p=self.positions / self.positions.sum())
        out = np.empty((self.batch_size, 3), dtype=np.int64)
        q = self.input_patch
        for k, i in enumerate(images):
            h, w = self.pairs[i].input.shape[:2]
            out[k] = (i, rng.integers(0, h - q + 1), rng.integers(0, w - q + 1))
        return out

    def _raw_patches(self, step: int, ks: range) -> list[tuple[np.ndarray, np.ndarray]]:
        P, q, f = self.patch_size, self.input_patch, self.factor
        corners = self._corners_for(step)
        return [(self.pairs[i].input[r : r + q, c : c + q], self.pairs[i].target[r * f : r * f + P, c * f : c * f + P])
                for i, r, c in corners[ks.start : ks.stop]]


class DevicePatches:
    """Random crops with flips and rotations, cut on the training device from pairs held there.

    For a small network on a GPU, cutting patches in NumPy and copying them over bounds the rate
    at a fraction of what the GPU trains. Here the pairs are stacked once into zero-padded device
    tensors and a batch is one gather: no worker processes, no host-to-device copies, no sync.
    Images are drawn in proportion to their number of positions, as PatchSampler draws them. Every
    batch is a function of (seed, step) on one kind of device (torch's generator there, not
    NumPy's), so a resumed run on the same kind of device draws the batches it would have drawn.
    """

    def __init__(self, pairs: list[Pair], patch_size: int, batch_size: int, device: torch.device, *,
                 augment: bool = True, seed: int = 0):
        pairs, self.factor = _patchable(pairs, patch_size)
        self.patch_size, self.batch_size, self.augment, self.seed = patch_size, batch_size, augment, seed
        self.input_patch = patch_size // self.factor
        self.device = torch.device(device)
        f = self.factor
        height = max(p.input.shape[0] for p in pairs)
        width = max(p.input.shape[1] for p in pairs)
        channels = 1 if pairs[0].input.ndim == 2 else pairs[0].input.shape[2]
        # (N, H, W, C): one advanced-indexing gather then yields (B, P, P, C) patches
        inputs = np.zeros((len(pairs), height, width, channels), np.float32)
        targets = np.zeros((len(pairs), height * f, width * f, channels), np.float32)
        for i, p in enumerate(pairs):
            h, w = p.input.shape[:2]
            inputs[i, :h, :w] = p.input.reshape(h, w, channels)
            targets[i, : h * f, : w * f] = p.target.reshape(h * f, w * f, channels)
        self.inputs = torch.from_numpy(inputs).to(self.device)
        self.targets = torch.from_numpy(targets).to(self.device)
        sizes = torch.tensor([p.input.shape[:2] for p in pairs], dtype=torch.int64)
        self.room = (sizes - self.input_patch + 1).to(self.device)  # top-left corners per axis
        self.positions = self.room.prod(dim=1).double()
        self.generator = torch.Generator(device=self.device)

    def batch(self, step: int, rank: int = 0, world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the global batch of ``step``: (input, target) on the device, (N, C, P, P)."""
        ks = _rank_share(self.batch_size, rank, world)
        g = self.generator.manual_seed(int(np.random.SeedSequence([self.seed, 5, step]).generate_state(1)[0]))
        n = self.batch_size
        images = torch.multinomial(self.positions, n, replacement=True, generator=g)
        room = self.room[images]
        corners = (torch.rand(n, 2, generator=g, device=self.device, dtype=torch.float64) * room).long()
        corners = torch.minimum(corners, room - 1)
        codes = torch.randint(0, 8 if self.augment else 1, (n,), generator=g, device=self.device)
        share = slice(ks.start, ks.stop)
        images, corners, codes = images[share], corners[share], codes[share]
        x = self._crop(self.inputs, images, corners, self.input_patch, codes)
        y = self._crop(self.targets, images, corners * self.factor, self.patch_size, codes)
        return x, y

    @staticmethod
    def _crop(planes: torch.Tensor, images: torch.Tensor, corners: torch.Tensor, size: int,
              codes: torch.Tensor) -> torch.Tensor:
        """(B, C, size, size) crops, each turned by one of the 8 flips / rotations of the square
        (bit 0: flip rows, bit 1: flip columns, bit 2: transpose). Aligned LR and HR crops turned by
        the same code stay a pair, since the degradation's kernel is symmetric."""
        b = len(images)
        grid = torch.arange(size, device=planes.device)
        rows, cols = grid.view(1, size, 1).expand(b, size, size), grid.view(1, 1, size).expand(b, size, size)
        bit = lambda k: (codes & k).bool().view(b, 1, 1)  # noqa: E731
        rows = torch.where(bit(1), size - 1 - rows, rows)
        cols = torch.where(bit(2), size - 1 - cols, cols)
        rows, cols = torch.where(bit(4), cols, rows), torch.where(bit(4), rows, cols)
        patches = planes[images.view(b, 1, 1), corners[:, 0].view(b, 1, 1) + rows, corners[:, 1].view(b, 1, 1) + cols]
        return patches.permute(0, 3, 1, 2).contiguous()


class StreamingPatches(_PatchSource):
    """Patches decoded on demand from image files, so memory does not grow with the dataset.

    Each patch picks an image (uniformly, by (seed, step, k)), decodes it, cuts a region a margin
    larger than the patch, degrades and upscales that region back, and keeps the centre, where the
    region's border does not reach. An unreadable image is logged once and replaced by the next one.
    """

    def __init__(self, paths: list[Path], scale: int, patch_size: int, batch_size: int, *,
                 degradation: "str | Degradation" = "bicubic", channels: int = 1, augment: bool = True,
                 seed: int = 0, noise_sigma: float | None = None, input_grid: str = "hr", **degrade_kwargs):
        if noise_sigma is not None:
            degrade_kwargs["noise_sigma"] = noise_sigma
        degradation = parse_degradation(degradation, **degrade_kwargs)
        super().__init__(patch_size, batch_size, augment, seed, None, degradation, scale, input_grid)
        if not paths:
            raise ValueError("no training images")
        if input_grid == "lr" and patch_size % scale:
            raise ValueError(f"patch size {patch_size} is not a multiple of the scale {scale}")
        self.paths = list(paths)
        self.degradation = degradation
        self.channels = channels
        # Bicubic reaches 2 * scale HR pixels down and 2 * scale up: keep the border out of the patch.
        self.margin = -(-(4 * scale + 2) // scale) * scale
        self.bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.paths)

    def _plane(self, index: int) -> np.ndarray:
        """The first decodable image big enough for a region, starting at ``index``."""
        region = self.region_size()
        for offset in range(len(self.paths)):
            i = (index + offset) % len(self.paths)
            if i in self.bad:
                continue
            try:
                plane = to_plane(read_image(self.paths[i]), self.channels)
            except Exception as exc:  # a corrupt file in a large folder must not stop training
                log.warning("skipping %s: %s", self.paths[i], exc)
                self.bad.add(i)
                continue
            if min(plane.shape[:2]) < region:
                log.warning("skipping %s: smaller than %d pixels", self.paths[i], region)
                self.bad.add(i)
                continue
            return plane
        raise RuntimeError("no readable training image is large enough for a patch")

    def region_size(self) -> int:
        """Side of the HR region cut around a patch: patch + margins, a multiple of the scale."""
        return -(-(self.patch_size + 2 * self.margin) // self.scale) * self.scale

    def locate(self, step: int, k: int) -> tuple[np.ndarray, int, int]:
        """The uint8 plane of patch k of ``step``'s global batch, and its region's top-left corner."""
        s, region = self.scale, self.region_size()
        rng = np.random.default_rng([self.seed, 2, step, k])
        plane = self._plane(int(rng.integers(len(self.paths))))
        h, w = plane.shape[:2]
        r = int(rng.integers(0, (h - region) // s + 1)) * s  # on the scale grid, as modcrop would be
        c = int(rng.integers(0, (w - region) // s + 1)) * s
        return plane, r, c

    def _raw_patches(self, step: int, ks: range) -> list[tuple[np.ndarray, np.ndarray]]:
        P, region, s = self.patch_size, self.region_size(), self.scale
        o = (region - P) // 2
        if self.input_grid == "lr":
            o = o // s * s  # on the scale grid, so the patch starts on an LR pixel
        out = []
        for k in ks:
            plane, r, c = self.locate(step, k)
            crop = plane[r : r + region, c : c + region].astype(np.float64) / 255.0
            target = crop[o : o + P, o : o + P]
            if self.per_patch is not None:  # degraded in batch(), per patch
                out.append((target, target))
                continue
            inp = self.degradation.network_input(crop, s, self.input_grid)
            if self.input_grid == "lr":
                out.append((inp[o // s : (o + P) // s, o // s : (o + P) // s], target))
            else:
                out.append((inp[o : o + P, o : o + P], target))
        return out


class StepBatches(torch.utils.data.Dataset):
    """Item ``step`` is this rank's batch of that step: lets a DataLoader prefetch in worker processes."""

    def __init__(self, source: _PatchSource, rank: int = 0, world: int = 1):
        self.source, self.rank, self.world = source, rank, world

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int):
        return self.source.batch(step, self.rank, self.world)
