"""The picture pipeline on top of the engine: the network on luma (after bicubic up-scaling for
SRCNN, on the LR image itself for FSRCNN), chroma by bicubic, band by band.

``upscale(image, scale)`` is the Python API behind ``srcnn upscale``: a PIL image or a NumPy array
in, the same kind out, exactly ``scale`` times larger. Colour images send Y through the network and
Cb/Cr through bicubic only, as the paper does; grayscale stays grayscale. ``Upscaler`` with no model
is the bicubic baseline.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..constants import METHODS, SCALES
from ..errors import SRCNNError
from ..io.imageio import Picture, picture_from_pil, picture_to_pil
from ..models.upsample import RADIUS as BICUBIC_RADIUS
from ..models.upsample import BicubicUpsample
from ..protocol.color import _OFFSET, _RGB2YCBCR, _YCBCR2RGB, quantize, rgb2ycbcr, ycbcr2rgb
from ..protocol.resize import imresize
from ..models.weights import resolve_model
from .engine import Engine, _release_freed_memory, check_scale

__all__ = ["Upscaler", "upscale", "make_upscaler"]


# BT.601 studio range as torch matrices, for the band pipeline (protocol/color.py holds the same in NumPy).
_RGB2YCBCR_T = torch.from_numpy(_RGB2YCBCR / 255.0).float()
_YCBCR2RGB_T = torch.from_numpy(_YCBCR2RGB * 255.0).float()
_YCBCR_OFFSET = torch.from_numpy(_OFFSET / 255.0).float().view(1, 3, 1, 1)
BAND_PIXELS = 2048 * 1024  # output pixels per band of the picture path
TRIM_ABOVE_BYTES = 64 * 1024 * 1024  # outputs larger than this (an 8K RGB is 100 MB) hand freed memory back
COLOUR_ROWS_PIXELS = 512 * 1024  # output pixels of chroma converted back to RGB at a time within a band

# With torch.compile, a picture up to this many output pixels is one band: one shape, so one compile
# serves every frame of a video (each distinct band shape costs seconds of compiling).
COMPILED_BAND_PIXELS = 1920 * 1080  # a 1080p frame; larger bands lose the cache (measured: 2.7x slower at 4K)


class Upscaler(Engine):
    """The engine plus pictures: uint8 / uint16 grey or RGB arrays, PIL images and ``Picture``s (with
    alpha), YCbCr video planes and float planes, each ``scale`` times larger. Call it with an LR plane
    (float, [0, 1]) to get the SR plane. Pictures go band by band (``BAND_PIXELS`` output pixels a
    band, or ``tile * tile`` with ``tile``), each band's colour conversions, network, chroma bicubic
    and rounding together (compiled together with ``compile``), so memory is the output plus one band.
    With no model it is the bicubic baseline (MATLAB's, exactly, for uint8). See ``Engine`` for
    ``precision``, ``tile``, ``progress``, ``compile`` and ``ensemble``.
    """

    def __init__(self, model: nn.Module | None, scale: int, *args, **kwargs):
        super().__init__(model, scale, *args, **kwargs)
        self._bicubic_layer = BicubicUpsample(scale)  # chroma, and an HR-grid model's input

    def upscale_image(self, image):
        """A PIL image or uint8 / uint16 (H, W) / (H, W, 3) array in, the same kind out, ``scale`` times larger.
        A PIL image is read as the CLI reads files (alpha kept and upscaled by bicubic alone)."""
        if isinstance(image, Image.Image):
            return picture_to_pil(self.upscale_picture(picture_from_pil(image)))
        array = np.asarray(image)
        if array.dtype not in (np.uint8, np.uint16) or array.ndim not in (2, 3) or (
                array.ndim == 3 and array.shape[2] != 3):
            raise SRCNNError(f"expected a uint8 or uint16 (H, W) or (H, W, 3) array, got {array.dtype} {array.shape}")
        return self.upscale_array(array)

    def upscale_picture(self, picture: Picture) -> Picture:
        """Pixels through :meth:`upscale_array`, alpha by bicubic alone, metadata carried over."""
        if picture.alpha is None or self.scale == 1:  # a scale-1 restorer leaves alpha as it is
            alpha = picture.alpha
        else:
            alpha = Upscaler(None, self.scale).upscale_array(picture.alpha)
        return Picture(self.upscale_array(picture.pixels), alpha, dict(picture.info))

    def upscale_array(self, image: np.ndarray) -> np.ndarray:
        """uint8 / uint16 (H, W) or (H, W, 3) -> the same dtype, ``scale`` times larger."""
        if not self.restores and image.dtype == np.uint8:
            h, w = image.shape[:2]
            return imresize(image, output_shape=(h * self.scale, w * self.scale))  # MATLAB's uint8 bicubic
        if self.net is not None and self.channels == 1:
            return self._upscale_banded(image)
        peak = np.iinfo(image.dtype).max
        plane = image.astype(np.float32) / np.float32(peak)
        if image.ndim == 3 and self.restores and self.channels == 1:
            # Back to RGB band by band: the float RGB frame (and its temporaries) never exists whole.
            y, cbcr = self._luma_and_chroma(plane)
            out = np.empty(y.shape + (3,), image.dtype)
            for top in range(0, y.shape[0], 256):
                band = np.concatenate([y[top : top + 256, :, None], cbcr[top : top + 256]], axis=2)
                out[top : top + 256] = quantize(ycbcr2rgb(band), image.dtype)
            return out
        return quantize(self.upscale_float(plane), image.dtype)

    @torch.inference_mode()
    def upscale_planes(self, luma: np.ndarray, *chroma: np.ndarray,
                       previous: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, ...]:
        """The uint8 planes of a YCbCr picture, each at its own size (4:2:0 video: the chroma half the
        luma's each way) -> each ``scale`` times larger: the luma as :meth:`upscale_array` takes a grey
        image (through the network), the chroma by MATLAB's bicubic. Video is YCbCr already, so its
        frames skip the conversions to RGB and back (and chroma is up-scaled at its own, smaller size).
        ``previous``: the frame before's luma and its up-scaled luma; rows of this luma that the
        change since then cannot reach are copied from it (:meth:`upscale_planes_since`)."""
        if previous is None:
            return self._planes(self.upscale_array(luma), chroma)
        planes, kept = self.upscale_planes_since(luma, *chroma, earlier=previous[0])
        for top, bottom in kept:
            planes[0][top * self.scale : bottom * self.scale] = previous[1][top * self.scale : bottom * self.scale]
        return planes

    @torch.inference_mode()
    def upscale_planes_since(self, luma: np.ndarray, *chroma: np.ndarray,
                             earlier: np.ndarray | None) -> tuple[tuple[np.ndarray, ...], list[tuple[int, int]]]:
        """:meth:`upscale_planes` for a video frame after the frame whose luma is ``earlier``: the
        network runs only on the luma rows within its reach of a row that changed, and the runs of
        LR rows ``[top, bottom)`` it skipped come back beside the planes, their output rows
        (``top * scale`` to ``bottom * scale``) left for the caller to copy from the earlier frame's
        output. The same values as computing them (a row's result does not depend on the band it is
        in), so letterbox bars, still scenes and screen recordings cost less. A caller that copies
        them in frame order never waits for the frame before (the video writer does). ``earlier``
        None (the first frame): every row. Compiled, every row too (each new band shape would compile)."""
        if self.net is None or self.channels != 1 or luma.ndim != 2 or self.ensemble or self.compile:
            return self.upscale_planes(luma, *chroma), []  # no eager banded network to skip rows of
        h = luma.shape[0]
        runs = changed_row_runs(luma, earlier, self._band_halo())
        kept = [(end, start) for (_, end), (start, _) in zip([(0, 0)] + runs, runs + [(h, h)]) if start > end]
        return self._planes(self._upscale_banded(luma, runs), chroma), kept

    def _planes(self, big_luma: np.ndarray, chroma: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        planes = [big_luma]
        for plane in chroma:
            pixels = torch.from_numpy(np.require(plane, np.uint8, ("C_CONTIGUOUS", "WRITEABLE")))
            # eager even when compiling: under a millisecond a 360p chroma plane, less than the
            # second compile would cost a process (measured)
            planes.append(self._bicubic_plane(pixels).numpy())
        return tuple(planes)

    def _bicubic_plane(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (h, w) -> uint8 (h * scale, w * scale) by bicubic, rounded as MATLAB rounds (the
        bicubic is linear, so it runs on the 0-255 scale)."""
        if self.scale == 1 or torch.compiler.is_compiling():
            return _round_half_up(self._bicubic(pixels.float()[None, None])[0, 0] + 0.5, 255.0)
        return _round_shuffled(self._bicubic_layer.phases(pixels.float()[None, None])[0].add_(0.5), self.scale,
                               255.0)

    def _band_halo(self) -> int:
        """LR rows of context a band needs so that its own rows come out as in the whole image."""
        radius = self.model.receptive_radius
        if self.model.config.input_grid == "hr":  # bicubic first (2 LR rows), then the network on HR rows
            return BICUBIC_RADIUS + -(-radius // self.scale)
        return max(radius, BICUBIC_RADIUS)

    @torch.inference_mode()
    def _upscale_banded(self, image: np.ndarray, runs: list[tuple[int, int]] | None = None) -> np.ndarray:
        """uint8 / uint16 grey or RGB -> the same dtype, ``scale`` times larger: Y through the network,
        Cb/Cr by bicubic, converted back and rounded, one band of rows at a time. Peak memory is the
        output plus one band, whatever the image size; the bicubic is the exact MATLAB kernel as an
        LR-grid convolution (within 1e-6 of ``resize.imresize``), and every band reads ``_band_halo``
        rows beyond its edges, so the result does not depend on where the bands fall. ``runs``: only
        these runs of LR rows ``[top, bottom)`` (the other output rows are left unwritten)."""
        s, (h, w) = self.scale, image.shape[:2]
        out = np.empty((h * s, w * s) + image.shape[2:], image.dtype)
        halo = self._band_halo()
        rows = self._band_rows(h, w)
        bands = [(top, min(end, top + rows)) for start, end in ([(0, h)] if runs is None else runs)
                 for top in range(start, end, rows)]
        for done, (top, bottom) in enumerate(bands, start=1):
            t0, b0 = max(0, top - halo), min(h, bottom + halo)
            # A decoded image is often read-only; torch wants its own writable, contiguous band.
            pixels = np.require(image[t0:b0], requirements=("C_CONTIGUOUS", "WRITEABLE"))
            band = self._through(self._band, torch.from_numpy(pixels))
            out[top * s : bottom * s] = band[(top - t0) * s : (bottom - t0) * s].numpy()
            if self.progress is not None:
                self.progress(done, len(bands))
        if out.nbytes > TRIM_ABOVE_BYTES:  # the bands' freed buffers, before the caller encodes a large output
            _release_freed_memory()  # (not for every video frame: the next frame would fault them all back in)
        return out

    def _band(self, pixels: torch.Tensor) -> torch.Tensor:
        """One band, (rows, w) or (rows, w, 3) uint8 / uint16 -> the same layout ``scale`` times larger,
        rounded: uint8 stays uint8, uint16 comes back as int32 (torch's uint16 arithmetic is thin)."""
        peak = 255.0 if pixels.dtype == torch.uint8 else 65535.0
        x = pixels.float() / peak
        x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]  # (1, C, rows, w)
        if x.shape[1] == 3:
            x = torch.einsum("nchw,dc->ndhw", x, _RGB2YCBCR_T) + _YCBCR_OFFSET
        # To the integer range with 0.5 added (see _round_half_up)
        if x.shape[1] != 3:  # grey (a video's luma): rounded and pixel-shuffled in one pass where the family allows
            phases = self._run_phases(x) if self.model.config.input_grid == "lr" else None
            if phases is not None:
                return _round_shuffled(phases[0].mul_(peak).add_(0.5), self.scale, peak)
            return _round_half_up(self._luma_on_band(x)[0, 0] * peak + 0.5, peak)
        y = self._luma_on_band(x[:, :1])
        rows, width = y.shape[-2:]
        # YCbCr -> RGB, the scaling and the offsets as one affine map on the layout written out
        matrix, offset = (_YCBCR2RGB_T * peak).T, 0.5 - peak * (_YCBCR2RGB_T @ _YCBCR_OFFSET.view(3))
        out = torch.empty((rows, width, 3), dtype=torch.uint8 if peak == 255.0 else torch.int32)
        # Chroma and the colour conversion a slice of rows at a time, eagerly: the band's float chroma
        # and (rows, w, 3) copies never exist whole (memory), and each slice stays in cache. A slice
        # reads BICUBIC_RADIUS LR rows beyond its own, so it equals the band's chroma there. Compiled,
        # one fused graph does the band at once.
        s, lr_rows = self.scale, x.shape[2]
        step = lr_rows if torch.compiler.is_compiling() else max(1, COLOUR_ROWS_PIXELS // (width * s))
        for top in range(0, lr_rows, step):
            bottom = min(lr_rows, top + step)
            t0, b0 = max(0, top - BICUBIC_RADIUS), min(lr_rows, bottom + BICUBIC_RADIUS)
            chroma = self._bicubic(x[:, 1:, t0:b0])[0, :, (top - t0) * s : (bottom - t0) * s]
            ycbcr = torch.cat([y[0, :, top * s : bottom * s], chroma]).permute(1, 2, 0)
            out[top * s : bottom * s] = _round_half_up(
                torch.addmm(offset, ycbcr.reshape(-1, 3), matrix).view(-1, width, 3), peak)
        return out

    def _band_rows(self, h: int, w: int) -> int:
        """LR rows per band: about BAND_PIXELS output pixels, or tile x tile with --tile; --tile 0:
        the whole image at once, as is a compiled network's picture up to COMPILED_BAND_PIXELS."""
        if self.tile == 0 or (self.compile and self.tile is None and h * w * self.scale**2 <= COMPILED_BAND_PIXELS):
            return 2**31
        pixels = BAND_PIXELS if self.tile is None else self.tile * self.tile
        return max(1, pixels // (w * self.scale * self.scale))

    def _luma_on_band(self, y: torch.Tensor) -> torch.Tensor:
        """The network on an LR luma band (1, 1, rows, w): straight in for an LR-grid model, after the
        bicubic for an HR-grid one."""
        if self.model.config.input_grid == "hr":
            y = self._bicubic(y)
            # Compiled, the network starts a graph of its own: inductor (torch 2.13) fails to simplify
            # the indexing of replicate padding fused onto the pixel-shuffled bicubic. Eager: no-op.
            torch._dynamo.graph_break()
        return self._run(y)

    def _bicubic(self, planes: torch.Tensor) -> torch.Tensor:
        return self._bicubic_layer(planes)

    def upscale_float(self, image: np.ndarray) -> np.ndarray:
        """(H, W) or (H, W, 3) float in [0, 1] -> float, unrounded. Colour: Y through the network,
        Cb/Cr by bicubic, as in the paper (an RGB model takes all three channels)."""
        h, w = image.shape[:2]
        size = (h * self.scale, w * self.scale)
        if not self.restores:
            return imresize(image, output_shape=size)
        if self.channels == 3:
            rgb = image if image.ndim == 3 else np.dstack([image] * 3)
            out = self(rgb)
            return out if image.ndim == 3 else out.mean(axis=2)  # grey in, grey out
        if image.ndim == 2:
            return self(image)
        y, cbcr = self._luma_and_chroma(image)
        return ycbcr2rgb(np.concatenate([y[:, :, None], cbcr], axis=2))

    def _luma_and_chroma(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The paper's colour handling: (Y through the network, Cb/Cr by bicubic), both upscaled."""
        ycbcr = rgb2ycbcr(rgb)
        h, w = rgb.shape[:2]
        size = (h * self.scale, w * self.scale)
        cbcr = np.empty(size + (2,), dtype=ycbcr.dtype)
        for c in (0, 1):  # one channel at a time: half the resize's temporary memory
            cbcr[:, :, c] = imresize(ycbcr[:, :, 1 + c], output_shape=size)
        return self(ycbcr[:, :, 0]), cbcr

    def _check_scale(self, scale: int | None) -> int:
        """The scale a call asks for, which must be the one this upscaler was made for."""
        if scale is not None and scale != self.scale:
            raise ValueError(f"this upscaler is for x{self.scale}, not x{scale}")
        return self.scale

    def __call__(self, lr: np.ndarray, scale: int | None = None) -> np.ndarray:
        """The LR plane (float, [0, 1]) -> the upscaled plane: bicubic first where the network takes
        the HR grid (SRCNN), straight into the network where it takes the LR grid (FSRCNN)."""
        scale = self._check_scale(scale)
        if self.model is not None and self.model.config.input_grid == "lr":
            return self.restore(lr)
        h, w = lr.shape[:2]
        up = lr if scale == 1 else imresize(lr, output_shape=(h * scale, w * scale))
        return up if self.model is None else self.restore(up)


def upscale(image, scale: int = 3, model: str | nn.Module | None = None, method: str = "srcnn",
            precision: str = "auto", device: str = "cpu", tile: int | None = None, ensemble: bool = False):
    """Upscale a PIL image or a uint8 NumPy array by ``scale``; returns the same kind.

    ``model`` is a shipped model's name, a weights file, a model instance (SRCNN, FSRCNN), or None for the
    shipped default of that scale. ``method='bicubic'`` is the MATLAB-exact bicubic baseline.
    ``precision='auto'`` (bf16 where the CPU has native bf16), like ``srcnn upscale``: the same
    options give the same pixels as the CLI. ``ensemble=True``: the geometric self-ensemble (``--ensemble``).
    """
    return make_upscaler(scale, model, method, precision, device, tile, ensemble).upscale_image(image)


def changed_row_runs(image: np.ndarray, earlier: np.ndarray | None, halo: int) -> list[tuple[int, int]]:
    """The runs ``[start, end)`` of rows of ``image`` within ``halo`` rows of a row that differs from
    ``earlier`` (same shape, else every row): the rows whose result depends on what changed."""
    h = image.shape[0]
    if earlier is None or earlier.shape != image.shape:
        return [(0, h)]
    changed = (image != earlier).reshape(h, -1).any(axis=1)
    if not changed.any():
        return []
    # a row is needed where a changed row lies within +-halo: changed rows counted over that window
    count = np.concatenate([[0], np.cumsum(changed)])
    rows = np.arange(h)
    near = count[np.minimum(h, rows + halo + 1)] - count[np.maximum(0, rows - halo)] > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], near.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _round_half_up(shifted: torch.Tensor, peak: float) -> torch.Tensor:
    """Values on the integer scale plus 0.5 -> uint8 (peak 255) or int32: clamped to
    [0.5, peak + 0.5], the cast truncates, which is MATLAB's rounding (half away from zero, saturating;
    ``color.round_to_integer``) in one pass."""
    return shifted.clamp_(0.5, peak + 0.5).to(torch.uint8 if peak == 255.0 else torch.int32)


def _round_shuffled(shifted: torch.Tensor, scale: int, peak: float) -> torch.Tensor:
    """``_round_half_up(pixel_shuffle(shifted), peak)`` for one plane's (scale^2, h, w) phases on the
    integer scale plus 0.5 (consumed): clamped in place, then shuffled and cast in one copy, the
    same values with two fewer passes over the output (and no float copy of it)."""
    shifted.clamp_(0.5, peak + 0.5)
    _, h, w = shifted.shape
    dtype = torch.uint8 if peak == 255.0 else torch.int32
    out = torch.empty((h * scale, w * scale), dtype=dtype)
    pixel = shifted.permute(1, 2, 0)  # (h, w, scale^2): contiguous where the phases came channels-last
    whole_rows = {(2, torch.uint8): torch.int16, (4, torch.uint8): torch.int32}.get((scale, dtype))
    if pixel.is_contiguous() and whole_rows is not None:
        # cast first (one contiguous pass), then move each phase row's `scale` bytes as one element:
        # the shuffle's inner loop then runs along the row, not over 2 or 4 values (about twice as fast)
        cast = torch.empty((h, w, scale * scale), dtype=dtype)
        cast.copy_(pixel)
        out.view(whole_rows).view(h, scale, w).copy_(cast.view(whole_rows).view(h, w, scale).permute(0, 2, 1))
        return out
    out.view(h, scale, w, scale).copy_(shifted.view(scale, scale, h, w).permute(2, 0, 3, 1))
    return out


def make_upscaler(scale: int, model: str | nn.Module | None = None, method: str = "srcnn",
                  precision: str = "fp32", device: str = "cpu", tile: int | None = None,
                  ensemble: bool = False) -> Upscaler:
    check_scale(scale)  # before any model loads
    if scale == 1 and method == "srcnn" and model is None:
        raise SRCNNError("scale 1 runs a restoration model: pass --model denoise, jpeg or a scale-1 weights file")
    if scale == 1 and method == "sparse-coding":
        raise SRCNNError("sparse coding up-scales; at scale 1 choose --method srcnn (a restorer) or bicubic (the input as it is)")
    if model is not None and method != "srcnn":
        raise SRCNNError(f"a model applies to --method srcnn only, not {method}: drop --model or --method")
    if ensemble and method != "srcnn":
        raise SRCNNError(f"--ensemble averages a network's answers; --method {method} has none")
    if method == "bicubic":
        return Upscaler(None, scale)
    if method == "sparse-coding":
        from ..sparse import SparseCodingUpscaler

        return SparseCodingUpscaler(scale)
    if method != "srcnn":
        raise SRCNNError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    if not isinstance(model, nn.Module):
        model, _ = resolve_model(model, scale)
    return Upscaler(model, scale, precision, device, tile, ensemble=ensemble)
