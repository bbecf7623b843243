"""``srcnn reproduce``: regenerate the papers' tables and figures, ours beside the published ones.

The study trains the models the papers compare (widths, filter sizes, training degradation) with
one budget, reuses runs that already finished, and writes a Markdown report with PNG figures.
Checkpoints are chosen on the validation split of the training images, never on Set5 / Set14;
the convergence curve logs Set5 alongside (``monitor_data``) for the figure alone.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from ..errors import SRCNNError
from ..training.train import TrainConfig, run_finished, train

__all__ = ["StudyRun", "STUDY", "BUDGETS", "study_config", "train_study"]

log = logging.getLogger(__name__)

TRAIN_SETS = ("T91", "BSD200")
TEST_SETS = ("Set5", "Set14")


@dataclass(frozen=True)
class StudyRun:
    name: str
    label: str
    options: dict = field(default_factory=dict)  # TrainConfig fields that make this run what it is
    monitor: bool = False  # log Set5 PSNR for the convergence figure


# Every study model is x3 (the scale of the papers' studies), Y channel, the adam recipe.
STUDY = (
    StudyRun("width_128_64", "9-1-5, n1/n2 = 128/64", {"arch": "9-1-5", "n1": 128, "n2": 64}),
    StudyRun("width_64_32", "9-1-5, n1/n2 = 64/32", {"arch": "9-1-5", "n1": 64, "n2": 32}),
    StudyRun("width_32_16", "9-1-5, n1/n2 = 32/16", {"arch": "9-1-5", "n1": 32, "n2": 16}),
    StudyRun("filter_9-3-5", "9-3-5", {"arch": "9-3-5"}),
    StudyRun("filter_9-5-5", "9-5-5", {"arch": "9-5-5"}, monitor=True),
    StudyRun("degrade_subsample", "9-5-5 trained on subsampled LR", {"arch": "9-5-5", "degradation": "subsample"}),
)

# quick: seconds, to check the report's structure (CI); its patches are decoded on demand
# (--stream, no workers), since loading all 289 training images would cost more than its 30 steps.
# paper: the real run. Its step count is the same for every model (the papers compare at equal
# backprops); the time limit only guards a slow machine, and the report says where it cut a run short.
BUDGETS = {
    "quick": {"steps": 8, "batch_size": 8, "patch_size": 24, "val_every": 4, "warmup_steps": 2, "val_count": 1,
              "stream": True, "workers": 0},
    "paper": {"steps": 20000, "batch_size": 128, "patch_size": 48, "val_every": 1000, "warmup_steps": 200,
              "time_limit": 330.0},
}


def study_config(run: StudyRun, data: Path, runs_dir: Path, budget: str, device: str = "auto") -> TrainConfig:
    if budget not in BUDGETS:
        raise SRCNNError(f"unknown budget {budget!r}: use {' or '.join(BUDGETS)}")
    options = dict(BUDGETS[budget], **run.options)
    monitor = [str(data / "Set5")] if run.monitor else None
    return TrainConfig(data=[str(data / name) for name in TRAIN_SETS], out=str(runs_dir / run.name), scale=3,
                       monitor_data=monitor, device=device, **options)


def _check_data(data: Path, names: tuple[str, ...]) -> None:
    missing = [name for name in names if not (data / name).is_dir()]
    if missing:
        raise SRCNNError(f"{data}: no {', '.join(missing)} folder (--data names the folder that holds them)")


def _train_job(cfg_fields: dict, threads: int) -> str:
    """One study run in its own process (spawned: CUDA cannot be forked)."""
    import torch

    logging.basicConfig(level=logging.INFO, format="srcnn: %(message)s")
    torch.set_num_threads(threads)
    return str(train(TrainConfig(**cfg_fields), progress=False))


def train_study(data: str | Path, runs_dir: str | Path, budget: str = "quick", device: str = "auto",
                jobs: int = 1) -> dict[str, Path]:
    """Train every study run that has not finished (resuming any that stopped); returns run dirs."""
    data, runs_dir = Path(data), Path(runs_dir)
    _check_data(data, TRAIN_SETS + ("Set5",))
    configs = {run.name: study_config(run, data, runs_dir, budget, device) for run in STUDY}
    todo = []
    for cfg in configs.values():
        if run_finished(cfg.out):
            saved = json.loads((Path(cfg.out) / "config.json").read_text())
            if _settings(saved) != _settings(asdict(cfg)):
                raise SRCNNError(f"{cfg.out} holds a finished run with other settings; remove it or choose another --out")
            log.info("reusing %s", cfg.out)
            continue
        cfg.resume = (Path(cfg.out) / "checkpoint.safetensors").exists()
        todo.append(cfg)
    if jobs <= 1:
        for cfg in todo:
            log.info("training %s", cfg.out)
            train(cfg, progress=False)
    elif todo:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            for done in pool.map(_train_job, [asdict(cfg) for cfg in todo], [threads] * len(todo)):
                log.info("finished %s", done)
    return {name: Path(cfg.out) for name, cfg in configs.items()}


# Where a run lives and ran does not change what it learnt; the reuse check ignores these.
_PLACE_FIELDS = {"data", "out", "val_data", "monitor_data", "device", "resume", "workers", "stream"}


def _settings(fields: dict) -> dict:
    """A config's settings as config.json stores them, less where the run lived and ran; a field
    added since the run was made counts as its default."""
    full = dict(asdict(TrainConfig()), **fields)
    return {k: v for k, v in json.loads(json.dumps(full)).items() if k not in _PLACE_FIELDS}
