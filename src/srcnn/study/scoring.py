"""What the ``srcnn reproduce`` report reads and scores: the study's finished runs (their config,
summary and log files), the test sets, the published numbers (``published.csv``), and ``Context``,
which every section of :mod:`srcnn.study.report` reads from and which scores each method on a test
set once (memoised, so a number shown in two sections is the same in both).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SRCNNError
from ..inference import make_upscaler
from ..io.imageio import list_images, read_image
from ..models.weights import load_model
from ..protocol.color import to_plane
from .evaluate import evaluate_plane
from .reproduce import STUDY, StudyRun
from .restoration_study import TimedMethod

__all__ = ["Context", "Difference", "Published", "Run", "Score", "read_runs", "read_sets"]

# quick checks the report's structure (CI), so sparse coding codes its patches on a coarser grid (its
# cost is patches x atoms); paper uses the authors' step-1 patches.
SPARSE_STEP = {"quick": 3, "paper": 1}
RUN_FILES = ("best.safetensors", "log.csv", "config.json", "summary.json")
SHIPPED_KINDS = ("srcnn", "fsrcnn", "fsrcnn-s")  # the shipped models of each kind (srcnn.models.weights.ALIASES)


@dataclass
class Run:
    """One finished study run, its files read once."""

    spec: StudyRun
    folder: Path
    config: dict  # the TrainConfig as config.json holds it
    summary: dict  # {step, backprops, seconds, best: {psnr, ssim, step}, device}
    log: list[dict]  # log.csv rows

    @property
    def cut_short(self) -> bool:
        return self.summary["step"] < self.config["steps"]

    @property
    def variant(self) -> str:
        """How published.csv names this architecture, e.g. '9-1-5 n1=64 n2=32'."""
        return f"{self.config['arch']} n1={self.config['n1']} n2={self.config['n2']}"


def read_runs(runs_dir: Path) -> dict[str, Run]:
    runs = {}
    for spec in STUDY:
        folder = runs_dir / spec.name
        missing = [name for name in RUN_FILES if not (folder / name).is_file()]
        if missing:
            raise SRCNNError(f"{folder}: no finished study run ({', '.join(missing)} missing); "
                             "run `srcnn reproduce` with the same --runs to train it")
        with (folder / "log.csv").open(newline="") as f:
            log = list(csv.DictReader(f))
        runs[spec.name] = Run(spec, folder, json.loads((folder / "config.json").read_text()),
                              json.loads((folder / "summary.json").read_text()), log)
    return runs


def read_sets(data: Path, limit: int | None = None) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The test sets as (name, uint8 image) lists; Set14 is optional, Set5 is not. With ``limit``,
    each set's ``limit`` smallest images (fewest pixels; ties by name)."""
    if not (data / "Set5").is_dir():
        raise SRCNNError(f"{data}: no Set5 folder (--data names the folder that holds it)")
    sets = {name: [(p.stem, read_image(p)) for p in list_images(data / name)]
            for name in ("Set5", "Set14") if (data / name).is_dir()}
    if limit is not None:
        sets = {name: sorted(images, key=lambda item: (item[1].shape[0] * item[1].shape[1], item[0]))[:limit]
                for name, images in sets.items()}
    return sets


class Published:
    """The published numbers (reference/published.csv beside the data folder); empty without it."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []
        if path.is_file():
            with path.open(newline="") as f:
                self.rows = list(csv.DictReader(f))
            needed = {"dataset", "scale", "method", "variant", "training_data", "psnr_y", "ssim_y"}
            if self.rows and not needed <= set(self.rows[0]):
                raise SRCNNError(f"{path}: expected the columns {', '.join(sorted(needed))}")

    def find(self, dataset: str, scale: int, method: str, variant: str = "",
             training_data: str | None = None) -> tuple[float | None, float | None] | None:
        """(PSNR, SSIM) of the first matching row (either may be None), or None where none matches."""
        for row in self.rows:
            if (row["dataset"], row["scale"], row["method"], row["variant"]) == (dataset, str(scale), method, variant) \
                    and training_data in (None, row["training_data"]):
                return _number(row["psnr_y"]), _number(row["ssim_y"])
        return None


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


# ---- scoring ----------------------------------------------------------------------------------------

@dataclass
class Score:
    psnr: float
    ssim: float
    seconds: float  # mean wall time of one upscaling call per image


@dataclass
class Difference:
    """One of our numbers that has a published counterpart (section 7 lists them all)."""

    what: str
    ours: float
    published: float


@dataclass
class Context:
    """What every section reads, and what they collect: the numbers and the differences."""

    data: Path
    out: Path
    runs_dir: Path
    budget: str
    sets: dict[str, list[tuple[str, np.ndarray]]]
    runs: dict[str, Run]
    published: Published
    numbers: dict = field(default_factory=dict)  # becomes scores.json
    differences: list[Difference] = field(default_factory=list)
    _upscalers: dict = field(default_factory=dict)
    _scores: dict = field(default_factory=dict)

    def upscaler(self, name: str, scale: int):
        """'bicubic', 'sparse-coding', 'srcnn' (the shipped 9-5-5 SRCNN of ``scale``) or a study run's name.
        SRCNN models run in fp32 on the CPU, so their timings are this machine's."""
        key = (name, scale)
        if key not in self._upscalers:
            if name in self.runs:
                model, _ = load_model(self.runs[name].folder / "best.safetensors", scale)
                self._upscalers[key] = make_upscaler(scale, model, "srcnn", "fp32", "cpu")
            elif name in SHIPPED_KINDS:
                self._upscalers[key] = make_upscaler(scale, name, "srcnn", "fp32", "cpu")
            elif name == "sparse-coding":
                from ..sparse import SparseCodingUpscaler

                self._upscalers[key] = SparseCodingUpscaler(scale, step=SPARSE_STEP[self.budget])
            else:
                self._upscalers[key] = make_upscaler(scale, method=name)
        return self._upscalers[key]

    def score(self, name: str, set_name: str, scale: int, degradation: str = "bicubic") -> Score:
        """Mean PSNR / SSIM / seconds of a method on a test set, computed once."""
        key = (name, set_name, scale, degradation)
        if key not in self._scores:
            method = TimedMethod(self.upscaler(name, scale))
            planes = [to_plane(image, method.channels) for _, image in self.sets[set_name]]
            if name not in ("bicubic", "sparse-coding"):
                # torch's first call allocates and picks kernels: keep it out of the timing
                evaluate_plane(planes[0], scale, method.method, degradation)
            results = [evaluate_plane(plane, scale, method, degradation) for plane in planes]
            self._scores[key] = Score(float(np.mean([r[0] for r in results])),
                                      float(np.mean([r[1] for r in results])), float(np.mean(method.seconds)))
        return self._scores[key]

    def compare(self, what: str, ours: float, published: tuple[float | None, float | None] | None) -> None:
        """Record a number for section 7; one shown in two tables is listed once."""
        if published and published[0] is not None and all(d.what != what for d in self.differences):
            self.differences.append(Difference(what, ours, published[0]))
