"""Restoration study: the scale-1 restorers beside classical anchors, and what the real-input models
gain over bicubic on degraded inputs. Used by ``benchmarks/restore_quality.py`` and the ``srcnn
reproduce`` report, so both give the same numbers for the same images.

Every number comes from :func:`srcnn.study.evaluate.evaluate_images` (the ``srcnn evaluate`` protocol: Y
channel, ``scale`` pixels shaved, the result rounded to uint8), so a seeded noise draw depends only
on (seed, image name, degradation): every method at one sigma sees the very same noisy image.

Anchors, each a ``method(lr_plane, 1)`` callable:

- the degraded input itself (the noisy image, the decoded JPEG): the identity;
- OpenCV ``fastNlMeansDenoising`` on the uint8 noisy image (what a camera stores), its ``h`` picked
  per sigma by :func:`tune_nlm_h` on training images (T91), never on the test sets;
- BM3D (the ``bm3d`` package) on the float noisy image, told the true sigma.

OpenCV and bm3d are optional (``pip install srcnn[compare]``); a missing one, or an alias whose model
has not shipped yet, gives a :class:`Skipped` cell with a note instead of a number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Union

import numpy as np

from ..protocol.color import quantize, to_plane
from .evaluate import PlaneUpscaler, evaluate_images
from ..inference import make_upscaler
from ..models.weights import ALIASES, find_weights

__all__ = ["DENOISE_SIGMAS", "JPEG_QUALITIES", "GAIN_INPUTS", "MethodScore", "Skipped", "TimedMethod",
           "grey_images", "center_crops", "identity_method", "nlm_method", "bm3d_method", "model_method",
           "score_method", "tune_nlm_h", "denoising_table", "jpeg_table", "gain_table",
           "denoising_markdown", "jpeg_markdown", "gain_markdown", "markdown_table", "table_dict", "Gain"]

DENOISE_SIGMAS = (15, 25, 50)
JPEG_QUALITIES = (10, 20, 30, 40)
GAIN_INPUTS = ("bicubic", "jpeg:75", "jpeg:50", "noise:10")  # LR inputs of the gain table
GAIN_INPUT_LABELS = {"bicubic": "LR clean", "jpeg:75": "JPEG q75", "jpeg:50": "JPEG q50", "noise:10": "Noise σ10"}
# OpenCV's h is a filter strength in grey levels; its best value tracks sigma, so the candidates are
# multiples of sigma, 0.4 to 1.6 in steps of 0.1.
NLM_H_FACTORS = tuple(round(0.4 + 0.1 * i, 1) for i in range(13))
DENOISE_LABELS = {"input": "Noisy input", "opencv": "OpenCV fastNlMeansDenoising", "bm3d": "BM3D", "ours": "Ours"}
JPEG_LABELS = {"input": "Decoded JPEG", "ours": "Ours"}

Images = list[tuple[str, np.ndarray]]
Progress = Callable[[str], None]


@dataclass
class MethodScore:
    psnr: float
    ssim: float
    seconds: float  # mean wall time of the method's call per image (not the degradation, not the metrics)
    images: int

    def as_dict(self) -> dict:
        return {"psnr": self.psnr, "ssim": self.ssim, "seconds_per_image": self.seconds, "images": self.images}


@dataclass
class Skipped:
    """A cell without a number, and why (a package not installed, a model not shipped yet)."""

    note: str

    def as_dict(self) -> dict:
        return {"skipped": self.note}


Cell = Union[MethodScore, Skipped]


class TimedMethod:
    """A plane method that records the wall time of each call: only the method is timed."""

    def __init__(self, method: PlaneUpscaler):
        self.method = method
        self.channels = getattr(method, "channels", 1)
        self.seconds: list[float] = []

    def __call__(self, lr: np.ndarray, scale: int) -> np.ndarray:
        start = time.perf_counter()
        out = self.method(lr, scale)
        self.seconds.append(time.perf_counter() - start)
        return out


# ---- images -------------------------------------------------------------------------------------

def grey_images(images: Iterable[tuple[str, np.ndarray]]) -> Images:
    """(name, Y plane) pairs: the grey images every table here scores (Y of colour images)."""
    return [(name, to_plane(image, 1)) for name, image in images]


def center_crops(images: Images, size: int) -> Images:
    """The central size x size region of each image (all of a smaller side): cheap quick runs."""
    cropped = []
    for name, image in images:
        h, w = image.shape[:2]
        top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
        cropped.append((name, image[top : top + size, left : left + size]))
    return cropped


# ---- methods ------------------------------------------------------------------------------------

def identity_method() -> PlaneUpscaler:
    """The degraded input as it is (``srcnn evaluate --scale 1 --method bicubic``)."""
    return make_upscaler(1, method="bicubic")


def nlm_method(h: float) -> PlaneUpscaler | Skipped:
    try:
        import cv2
    except ImportError:
        return Skipped("not installed (pip install opencv-python-headless)")

    def denoise(lr: np.ndarray, scale: int) -> np.ndarray:
        # OpenCV takes uint8 only: the noisy image as it would be stored
        return cv2.fastNlMeansDenoising(quantize(lr), None, h=float(h)).astype(np.float64) / 255.0

    return denoise


def bm3d_method(sigma: float) -> PlaneUpscaler | Skipped:
    try:
        import bm3d
    except ImportError:
        return Skipped("not installed (pip install bm3d)")

    def denoise(lr: np.ndarray, scale: int) -> np.ndarray:
        return np.asarray(bm3d.bm3d(lr, sigma_psd=sigma / 255.0), dtype=np.float64).reshape(lr.shape)

    return denoise


def model_method(model: str, scale: int, ensemble: bool = False) -> PlaneUpscaler | Skipped:
    """Our model: an alias (the shipped model of that kind at ``scale``) or a weights file, fp32 on
    the CPU (``ensemble``: with the geometric self-ensemble); Skipped where the alias has no shipped
    model at that scale yet."""
    if model.lower() in ALIASES and find_weights(model.lower(), scale) is None:
        return Skipped(f"no shipped `{model}` model for x{scale} yet")
    return make_upscaler(scale, model, "srcnn", "fp32", "cpu", ensemble=ensemble)


# ---- scoring ------------------------------------------------------------------------------------

def _announced(images: Images, progress: Progress | None, what: str) -> Iterator[tuple[str, np.ndarray]]:
    for i, (name, image) in enumerate(images, 1):
        if progress:
            progress(f"{what}: {name} ({i}/{len(images)})")
        yield name, image


def score_method(images: Images, scale: int, method: PlaneUpscaler | Skipped, degradation: str, seed: int = 0,
                 progress: Progress | None = None, what: str = "") -> Cell:
    """Mean PSNR / SSIM / seconds of ``method`` on ``images`` under ``degradation`` (the ``srcnn
    evaluate`` protocol and seeding)."""
    if isinstance(method, Skipped):
        return method
    if getattr(method, "model", None) is not None and images:
        evaluate_images(images[:1], scale, method, degradation, seed)  # torch's first call: out of the timing
    timed = TimedMethod(method)
    scores = evaluate_images(_announced(images, progress, what or degradation), scale, timed, degradation, seed)
    return MethodScore(float(np.mean([s.psnr for s in scores])), float(np.mean([s.ssim for s in scores])),
                       float(np.mean(timed.seconds)), len(scores))


def tune_nlm_h(tuning_images: Images, sigma: float, seed: int = 0) -> float | None:
    """OpenCV's ``h`` for ``sigma``: the candidate (``NLM_H_FACTORS`` x sigma) with the best mean PSNR
    on ``tuning_images`` (training images: the test sets never choose it). None without OpenCV."""
    best_h, best_psnr = None, -np.inf
    for factor in NLM_H_FACTORS:
        h = factor * sigma
        cell = score_method(tuning_images, 1, nlm_method(h), f"noise:{sigma:g}", seed)
        if isinstance(cell, Skipped):
            return None
        if cell.psnr > best_psnr:
            best_h, best_psnr = h, cell.psnr
    return best_h


def denoising_table(images: Images, sigmas: Iterable[float], ours: str, nlm_h: dict[float, float | None],
                    bm3d_sigmas: Iterable[float] | None = None, seed: int = 0,
                    progress: Progress | None = None, ensemble: bool = False) -> dict[float, dict[str, Cell]]:
    """{sigma: {"input", "opencv", "bm3d", "ours"[, "ours_ensemble"]: cell}}; BM3D only at
    ``bm3d_sigmas`` (default: all); ``ensemble``: ours with the self-ensemble too."""
    sigmas = list(sigmas)
    bm3d_sigmas = set(sigmas if bm3d_sigmas is None else bm3d_sigmas)
    ours_method = model_method(ours, 1)
    ensemble_method = model_method(ours, 1, ensemble=True) if ensemble else None
    table = {}
    for sigma in sigmas:
        noise = f"noise:{sigma:g}"
        h = nlm_h.get(sigma)
        opencv = nlm_method(0.0 if h is None else h)
        if h is None and not isinstance(opencv, Skipped):
            opencv = Skipped("h not tuned (no training images)")
        bm3d = bm3d_method(sigma) if sigma in bm3d_sigmas else Skipped("not run at this sigma (--bm3d-sigmas)")
        table[sigma] = {
            "input": score_method(images, 1, identity_method(), noise, seed),
            "opencv": score_method(images, 1, opencv, noise, seed),
            "bm3d": score_method(images, 1, bm3d, noise, seed, progress, f"BM3D sigma {sigma:g}"),
            "ours": score_method(images, 1, ours_method, noise, seed),
        }
        if ensemble_method is not None:
            table[sigma]["ours_ensemble"] = score_method(images, 1, ensemble_method, noise, seed)
    return table


def jpeg_table(images: Images, qualities: Iterable[int], ours: str, seed: int = 0,
               ensemble: bool = False) -> dict[int, dict[str, Cell]]:
    """{quality: {"input": the decoded JPEG, "ours"[, "ours_ensemble"]: cell}}."""
    methods = {"input": identity_method(), "ours": model_method(ours, 1)}
    if ensemble:
        methods["ours_ensemble"] = model_method(ours, 1, ensemble=True)
    return {q: {key: score_method(images, 1, method, f"jpeg:{q}", seed) for key, method in methods.items()}
            for q in qualities}


@dataclass
class Gain:
    """A model and bicubic on the same degraded LR input."""

    model: MethodScore
    bicubic: MethodScore

    @property
    def db(self) -> float:
        return self.model.psnr - self.bicubic.psnr

    def as_dict(self) -> dict:
        return {"gain_db": self.db, "model_psnr": self.model.psnr, "bicubic_psnr": self.bicubic.psnr}


def gain_table(images: Images, kinds: Iterable[str], scales: Iterable[int], inputs: Iterable[str] = GAIN_INPUTS,
               seed: int = 0) -> dict[str, dict[int, dict[str, Gain | Skipped]]]:
    """{kind: {scale: {input: Gain}}}: PSNR of the shipped model of ``kind`` minus bicubic's, both
    fed the same degraded LR image."""
    inputs, scales = list(inputs), list(scales)
    bicubic = {(s, d): score_method(images, s, make_upscaler(s, method="bicubic"), d, seed)
               for s in scales for d in inputs}
    table: dict = {}
    for kind in kinds:
        for scale in scales:
            method = model_method(kind, scale)
            table.setdefault(kind, {})[scale] = {
                d: method if isinstance(method, Skipped) else Gain(score_method(images, scale, method, d, seed),
                                                                   bicubic[scale, d]) for d in inputs}
    return table


# ---- Markdown -----------------------------------------------------------------------------------

def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _score_cells(cell: Cell, anchor: Cell) -> list[str]:
    if isinstance(cell, Skipped):
        return [cell.note, "", "", ""]
    gain = f"{cell.psnr - anchor.psnr:+.2f}" if isinstance(anchor, MethodScore) and cell is not anchor else ""
    return [f"{cell.psnr:.2f}", f"{cell.ssim:.4f}", gain, f"{cell.seconds:.3f}"]


def _restoration_markdown(table: dict, level: str, label: Callable[[str, float], str], anchor: str) -> str:
    rows = [[f"{value:g}", label(key, value)] + _score_cells(cell, cells["input"])
            for value, cells in table.items() for key, cell in cells.items()]
    return markdown_table([level, "Method", "PSNR", "SSIM", f"Gain over {anchor} (dB)", "Seconds / image"], rows)


def denoising_markdown(table: dict, nlm_h: dict[float, float | None], ours: str) -> str:
    def label(key: str, sigma: float) -> str:
        if key == "opencv" and nlm_h.get(sigma) is not None:
            return f"{DENOISE_LABELS[key]} (h={nlm_h[sigma]:g})"
        return _ours_label(key, ours) or DENOISE_LABELS[key]

    return _restoration_markdown(table, "σ", label, "the noisy input")


def jpeg_markdown(table: dict, ours: str) -> str:
    return _restoration_markdown(table, "Quality", lambda key, _: _ours_label(key, ours) or JPEG_LABELS[key],
                                 "the decoded JPEG")


def _ours_label(key: str, ours: str) -> str | None:
    return {"ours": f"Ours (`{ours}`)", "ours_ensemble": f"Ours (`{ours}`, `--ensemble`)"}.get(key)


def gain_markdown(table: dict, inputs: Iterable[str] = GAIN_INPUTS) -> str:
    """Rows: each kind at each scale, then bicubic's own PSNR; a cell is the model's gain in dB."""
    inputs = list(inputs)
    rows, bicubic_rows = [], {}
    for kind, by_scale in table.items():
        for scale, cells in by_scale.items():
            row = [f"`{kind}`", f"x{scale}"]
            for d in inputs:
                cell = cells[d]
                row.append(cell.note if isinstance(cell, Skipped) else f"{cell.db:+.2f}")
                if isinstance(cell, Gain):
                    bicubic_rows.setdefault(scale, {})[d] = f"{cell.bicubic.psnr:.2f}"
            rows.append(row)
    for scale, cells in sorted(bicubic_rows.items()):
        rows.append(["Bicubic PSNR (dB)", f"x{scale}"] + [cells.get(d, "") for d in inputs])
    return markdown_table(["Model", "Scale"] + [GAIN_INPUT_LABELS.get(d, d) for d in inputs], rows)


def table_dict(table: dict) -> dict:
    """A table of cells as JSON: keys become strings, cells their ``as_dict``."""
    if isinstance(table, dict):
        return {f"{k:g}" if isinstance(k, (int, float)) else str(k): table_dict(v) for k, v in table.items()}
    return table.as_dict()
