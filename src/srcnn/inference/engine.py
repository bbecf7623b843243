"""The inference engine: one model (any family), its device and precision, run on a plane.

``Engine.restore`` runs the network on a float plane on the model's own input grid (the
bicubic-upscaled image for SRCNN, the LR image for FSRCNN), in tiles that overlap by the network's
receptive radius, so the result equals the whole-image one; on the CPU on a folded, channels-last
copy of the weights (in bf16 where the hardware has native bf16, else float32); through
``torch.compile`` when asked. Pictures, colour, bands and video planes are ``pipeline.Upscaler``'s,
on top of this.
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..constants import SCALES
from ..errors import SRCNNError
from ..models.cpu_conv import bf16_supported

__all__ = ["Engine", "bf16_supported", "resolve_precision", "resolve_device"]


def check_scale(scale: int) -> None:
    """SRCNNError unless ``scale`` is one we up-scale by, or 1 (a restorer, or with no model the input
    as it is). The one place the rule is written."""
    if scale not in SCALES and scale != 1:
        raise SRCNNError(f"unsupported scale {scale}: choose from {', '.join(map(str, SCALES))}")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """'fp32' -> None (no autocast); 'bf16' -> bfloat16; 'auto' -> bf16 on CUDA or a bf16-capable CPU."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" or bf16_supported() else None
    raise ValueError(f"precision must be fp32, bf16 or auto, got {precision!r}")


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' -> CUDA when available, else CPU; a device this machine lacks is an SRCNNError, not a traceback."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise SRCNNError(f"unknown device {device!r}: use cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise SRCNNError(f"--device {device}: CUDA is not available here (no GPU, or a CPU-only torch); "
                             "use --device cpu")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise SRCNNError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif resolved.type != "cpu":
        raise SRCNNError(f"unsupported device {device!r}: use cpu, cuda, cuda:N or auto")
    return resolved


AUTO_TILE_PIXELS = 1024 * 1024  # larger images are processed in tiles: memory depends on the tile only
DEFAULT_TILE = 512


class Engine:
    """A model bound to a scale, ready to run: ``restore(plane)`` is the network on its input grid.

    ``precision``: 'fp32', 'bf16' (for CPUs with AMX / AVX-512 BF16 and for GPUs) or 'auto' (bf16
    where native). On the CPU the network runs on a copy of the model, channels-last, in a family's
    ``fold_for_inference`` form where it has one (the same function, to float rounding), in that
    precision; a GPU runs float32 on the model as given, bf16 on such a copy. ``tile``: the side,
    in output pixels, of the tiles the network runs on; None tiles automatically above
    ``AUTO_TILE_PIXELS``, 0 never. Tiles overlap by the network's receptive
    radius, so the result equals the whole-image result. ``progress``: called as
    ``progress(done, total)`` after each tile (the CLI's progress bar). ``compile``: run each tile
    (and, in the pipeline, each band) through ``torch.compile``: faster a call, but each new input
    shape costs seconds of compiling, so it pays for video frames and batches of equal size. Where
    compiling fails (no C++ compiler, say) the network runs eagerly, with a one-line warning.
    ``ensemble``: geometric self-ensemble (Timofte et al., CVPR 2016; EDSR+): the network also runs on
    the 7 other rotations and mirror images of its input, and the 8 answers, turned back, are averaged.
    8 times the network's time, for a fraction of a dB.
    """

    def __init__(self, model: nn.Module | None, scale: int, precision: str = "fp32", device: str | torch.device = "cpu",
                 tile: int | None = None, progress: Callable[[int, int], None] | None = None,
                 compile: bool = False, ensemble: bool = False):
        check_scale(scale)
        if tile is not None and tile < 0:
            raise SRCNNError(f"tile size must be positive (or 0 for none), got {tile}")
        if model is not None and model.config.upscale_factor not in (1, scale):
            raise SRCNNError(f"this {model.config.family.upper()} model up-scales x{model.config.upscale_factor}, "
                             f"not x{scale}")
        self.model = model
        self.scale = scale
        self.device = resolve_device(device)
        self.tile = tile
        self.progress = progress
        self.compute_dtype = resolve_precision(precision, self.device) or torch.float32
        self.compile = compile
        self.ensemble = ensemble
        self._compiled: dict | None = {}  # torch.compile'd functions by name; None once compiling has failed
        self.net = None
        if model is not None and self.device.type == "cpu":
            _keep_freed_memory_for_reuse()
        if model is not None:
            model = model.to(self.device).eval()
            self.model = model
            if self.compute_dtype == torch.float32 and self.device.type != "cpu":
                self.net = model
            else:  # a copy in the form and layout that run fastest; the model stays as it was given
                self.net = copy.deepcopy(model)
                for part in list(self.net.modules()):  # a family may offer a faster form of the same function,
                    if hasattr(part, "fold_for_inference"):  # computed from the float32 weights
                        part.fold_for_inference()
                # float32 too (a CPU without native bf16, and evaluation): FSRCNN x3 end to end 4.8x
                # the float32 model as given (`benchmarks/realtime.py --precision fp32`, README's Speed)
                self.net = self.net.to(self.compute_dtype).to(memory_format=torch.channels_last)

    @property
    def channels(self) -> int:
        return 1 if self.model is None else self.model.config.channels

    @property
    def restores(self) -> bool:
        """False for plain bicubic (no model); a method that restores the bicubic image says True."""
        return self.model is not None

    def _tile_size(self, h: int, w: int) -> int:
        if self.tile is None:
            return DEFAULT_TILE if h * w > AUTO_TILE_PIXELS else 0
        return self.tile

    @torch.inference_mode()
    def restore(self, plane: np.ndarray) -> np.ndarray:
        """Run the network on a float (H, W) or (H, W, C) plane on its input grid (the bicubic-upscaled
        image for SRCNN, the LR image for FSRCNN); float32 out, ``upscale_factor`` times larger."""
        x = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float32))
        x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
        f = self.model.config.upscale_factor
        h, w = x.shape[-2:]
        tile = self._tile_size(h * f, w * f)
        step = max(1, tile // f)  # tiles are cut on the input grid; output positions = input positions x f
        if not tile or (h <= step and w <= step):
            y = self._through(self._run, x)
        else:
            y = torch.empty(x.shape[:2] + (h * f, w * f))
            r = self.model.receptive_radius  # the context a tile needs from its neighbours, on the input grid
            total, done = -(-h // step) * -(-w // step), 0
            for top in range(0, h, step):
                for left in range(0, w, step):
                    bottom, right = min(top + step, h), min(left + step, w)
                    t0, l0 = max(0, top - r), max(0, left - r)
                    piece = self._through(self._run, x[..., t0 : min(h, bottom + r), l0 : min(w, right + r)])
                    y[..., top * f : bottom * f, left * f : right * f] = piece[
                        ..., (top - t0) * f : (bottom - t0) * f, (left - l0) * f : (right - l0) * f]
                    done += 1
                    if self.progress is not None:
                        self.progress(done, total)
        y = y[0].numpy()
        return y[0] if plane.ndim == 2 else y.transpose(1, 2, 0)

    def _net_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` laid out and placed as the network runs it."""
        if self.net is not self.model:  # the engine's own channels-last copy
            x = x.contiguous(memory_format=torch.channels_last)
        return x.to(self.device)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        x = self._net_input(x)
        if not self.ensemble:
            return self.net(x).float().cpu()
        total = None
        for turns in range(4):  # the 8 symmetries of the square: 4 rotations, each also mirrored
            for mirror in (False, True):
                t = torch.rot90(x, turns, (-2, -1))
                t = t.flip(-1) if mirror else t
                if self.net is not self.model:
                    t = t.contiguous(memory_format=torch.channels_last)
                y = self.net(t).float()
                y = torch.rot90(y.flip(-1) if mirror else y, -turns, (-2, -1))
                total = y if total is None else total + y
        return (total / 8).cpu()

    def _run_phases(self, x: torch.Tensor) -> torch.Tensor | None:
        """The network's output before its pixel shuffle (float32, on the CPU) for a family that
        offers it (``output_phases``: the LR-grid ones), so that the pipeline can round and shuffle
        in one pass; None for the others, the ensemble and under ``torch.compile`` (which fuses the
        plain path itself)."""
        if self.ensemble or not hasattr(self.net, "output_phases") or torch.compiler.is_compiling():
            return None
        return self.net.output_phases(self._net_input(x)).float().cpu()

    def _through(self, fn: Callable, *args):
        """``fn(*args)``, through ``torch.compile`` when ``self.compile`` (one compiled function each);
        eagerly, with a one-line warning, where compiling fails."""
        if not self.compile or self._compiled is None:
            return fn(*args)
        key = fn.__name__
        if key not in self._compiled:
            self._compiled[key] = torch.compile(fn, dynamic=False)
        try:
            return self._compiled[key](*args)
        except Exception as exc:  # inductor needs a working C++ toolchain; eager gives the same pixels
            import sys

            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            print(f"srcnn: torch.compile is unavailable here ({first_line}); running eagerly", file=sys.stderr)
            self._compiled = None
            return fn(*args)


def _libc():
    """glibc, for its allocator's knobs; None elsewhere (musl, macOS, Windows), where they are skipped."""
    global _LIBC
    if _LIBC is None:
        import ctypes
        import ctypes.util

        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC.mallopt, _LIBC.malloc_trim  # noqa: B018 -- both must exist
        except (OSError, AttributeError):
            _LIBC = False
    return _LIBC or None


_LIBC = None
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # mallopt's parameter numbers (malloc.h)


def _keep_freed_memory_for_reuse() -> None:
    """Let the band buffers (tens of MB each) come from the heap and be reused, frame after frame:
    glibc otherwise maps each such buffer afresh and unmaps it when freed, and the kernel faults in and
    zeroes every page again (a 360p frame's network ran 1.6x slower on one thread for it, measured).
    The heap then keeps its high-water mark until ``_release_freed_memory``. Process-wide; glibc only."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, 64 * 1024 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 512 * 1024 * 1024)
        # one arena for every thread: a worker thread's own arena lives in heaps of at most 64 MB,
        # which buffers of tens of MB kept leaving and mapping afresh, so video's frame workers
        # faulted their pages in again frame after frame (`benchmarks/realtime.py --video-stages`
        # prints the page faults of a clip)
        libc.mallopt(_M_ARENA_MAX, 1)


def _release_freed_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc's malloc_trim): freed band buffers otherwise
    stay resident and add to the peak while a large output is encoded. A no-op where there is no glibc."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
