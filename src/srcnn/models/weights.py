"""Saving and loading model weights as safetensors, and the models shipped with the package.

A weights file carries everything needed to use it in its metadata: ``format`` ("srcnn"), the
model ``family`` ("srcnn" or "fsrcnn"; files without it are SRCNN), the family's architecture
fields and the scale it was trained for. No pickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ..io.atomic import atomic_output
from ..errors import SRCNNError
from . import SRCNN, model_from_metadata

__all__ = ["save_model", "load_model", "read_metadata", "Weights", "default_weights", "resolve_model",
           "atomic_save_safetensors"]

FORMAT = "srcnn"
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def atomic_save_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    """safetensors.save_file to a temporary name, then rename, so a crash never leaves half a file."""
    with atomic_output(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def save_model(model: SRCNN, path: str | Path, scale: int, **extra: object) -> None:
    """Write the weights with the architecture and ``scale`` (and any ``extra`` notes) as metadata."""
    meta = {"format": FORMAT, "scale": str(int(scale)), **model.config.to_metadata()}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
    atomic_save_safetensors(model.state_dict(), path, meta)


RESTORE_TASKS = ("denoise", "jpeg")


def load_restorer(model: str | Path | None, task: str) -> tuple[SRCNN, dict[str, str]]:
    """A scale-1 restoration model for ``task`` (``denoise`` or ``jpeg``): the shipped one for the
    task (``model`` None or the task's name), a shipped model's name, or a weights file whose
    metadata declares the task."""
    if task not in RESTORE_TASKS:
        raise SRCNNError(f"unknown task {task!r}: choose from {', '.join(RESTORE_TASKS)}")
    if model is None or str(model).lower() == task:
        shipped = find_weights(task, 1)
        if shipped is None:
            raise SRCNNError(f"no shipped model for --task {task}; pass --model PATH")
        path = shipped.entry.path
    elif str(model) in Weights.__members__:
        path = Weights[str(model)].entry.path
    else:
        path = Path(model)
    meta = read_metadata(path)
    file_scale = meta.get("scale", "?")
    if file_scale != "1":
        raise SRCNNError(f"{path}: an x{file_scale} super-resolution model, not a scale-1 restoration model; "
                         f"use it with `srcnn upscale --scale {file_scale}`")
    if meta.get("task") != task:
        declared = f"task {meta['task']}" if meta.get("task") else "no task in its metadata"
        raise SRCNNError(f"{path}: a restoration model for {declared}, not {task}")
    return load_model(path, scale=1)


def read_metadata(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise SRCNNError(f"{path}: no such weights file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise SRCNNError(f"{path}: not a safetensors weights file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise SRCNNError(f"{path}: not an SRCNN weights file (no 'format: srcnn' in its metadata)")
    return meta


def load_model(path: str | Path, scale: int | None = None) -> tuple[SRCNN, dict[str, str]]:
    """Build the model a weights file describes and load it. With ``scale``, refuse a file made for another."""
    meta = read_metadata(path)
    try:
        file_scale = int(meta["scale"])
        model = model_from_metadata(meta)
    except (KeyError, ValueError) as exc:
        raise SRCNNError(f"{path}: weights with unreadable metadata ({exc})") from None
    if scale is not None and file_scale != scale:
        if file_scale == 1:
            task = meta.get("task", "denoise|jpeg")
            raise SRCNNError(f"{path}: a scale-1 restoration model (task {task}), not an x{scale} up-scaler; "
                             f"use `srcnn restore --task {task} --model {path}`")
        raise SRCNNError(f"{path}: these weights are for x{file_scale}, not x{scale}")
    try:
        model.load_state_dict(load_file(str(path)))
    except (RuntimeError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise SRCNNError(f"{path}: weights do not match their declared architecture ({first})") from None
    model.eval()
    return model, meta


@dataclass(frozen=True)
class WeightsEntry:
    """A shipped model's card: what it is, how well it does, how it was made (docs/models.md)."""

    file: str
    scale: int
    arch: str
    widths: tuple[int, ...]  # SRCNN: n1, n2; FSRCNN: d, s, m; a cascade: its restorer's, then its up-scaler's
    params: int
    family: str = "srcnn"
    alias: str = ""  # what `--model ALIAS` picks at this entry's scale: one of ALIASES
    # {"Set5": (psnr, ssim), "Set14 jpeg:75": ...}: `srcnn evaluate SET [--degradation D]`, fp32, seed 0
    metrics: dict = field(default_factory=dict)
    recipe: str = ""  # the command(s) that trained it
    train_minutes: float = 0.0  # wall time of those commands, on ``trained_on``
    trained_on: str = "2-core CPU (AMD EPYC, AVX-512 BF16)"

    @property
    def path(self) -> Path:
        return PRETRAINED_DIR / self.file


_DATA = "--data ../shared/data/T91 ../shared/data/BSD200"
# The GPU fine-tuning rounds (2026-11-26): each starts from the previous stage's best weights.
_GPU_ROUND1 = (f"srcnn train {_DATA} --scale {{scale}} --init-from PREVIOUS --batch-size 256 --lr 5e-4 "
               "--warmup-steps 500 --steps 200000 --time-limit 450 --precision fp32 --device cuda")
_GPU_ROUND2 = (f"srcnn train {_DATA} --scale {{scale}} --init-from PREVIOUS --hr-scales 0.9 0.8 0.7 0.6 "
               "--batch-size 256 --lr 3e-4 --warmup-steps 300 --steps 200000 --time-limit 240 --precision fp32 "
               "--device cuda")

# FSRCNN (2026-11-26): six runs at once on one NVIDIA H100 (scripts/train_fsrcnn_on_gpu.sh, 400 s each),
# then each continued from its best weights at a lower lr (scripts/finetune_fsrcnn_on_gpu.sh, 200 s).
_H100_FSRCNN = (f"srcnn train {_DATA} --family fsrcnn --scale {{scale}} {{extra}}--patch-size {{patch}} "
                "--hr-scales 0.9 0.8 0.7 0.6 --batch-size 256 --lr 1e-3 --warmup-steps 500 --steps 1000000 "
                "--time-limit 400 --val-every 2000 --precision fp32 --device cuda")
_H100_FSRCNN_2 = ("then the same with --init-from ROUND1_BEST --lr 3e-4 --warmup-steps 200 --time-limit 200 "
                  "--val-every 1000 (scripts/finetune_fsrcnn_on_gpu.sh)")
_H100_SRCNN_X4 = (f"srcnn train {_DATA} --scale 4 --init-from PREVIOUS --hr-scales 0.9 0.8 0.7 0.6 0.5 0.4 "
                  "--batch-size 256 --lr 1e-4 --warmup-steps 300 --steps 1000000 --time-limit 400 --val-every 1000 "
                  "--precision fp32 --device cuda")
_H100 = "one NVIDIA H100 shared by 6 runs"
# FSRCNN's third GPU round (2026-11-27): three runs at once on one NVIDIA H200, patches cut on the GPU
# (scripts/train_fsrcnn_on_gpu_round3.sh); each from the file shipped before it (at commit 910555a).
_H200_3 = "one NVIDIA H200 shared by 3 runs"
_H200_FSRCNN_3 = (f"then on {_H200_3}, srcnn train {_DATA} --family fsrcnn {{args}} "
                  "--hr-scales 0.9 0.8 0.7 0.6 --init-from PREVIOUS --batch-size 512 --lr {lr} --warmup-steps 200 "
                  "--steps 100000000 --time-limit 165 --val-every 3000 --precision fp32 --device cuda "
                  "(scripts/train_fsrcnn_on_gpu_round3.sh; PREVIOUS: the file at commit 910555a; kept step {step}, "
                  "validation {val} against {before} dB)")
# Then a fourth round on the CPU (2026-11-27; scripts/train_real_on_cpu.sh, stage fsrcnn-cpu-4): x3 and FSRCNN-s
# side by side, one thread each, each from the third round's file (commit 5fd4aed).
_CPU_FSRCNN_4 = ("then on the 2-core CPU, srcnn train {data} --hr-scales 0.9 0.8 0.7 0.6 --steps 1000000 --val-every 500 "
                 "--threads 1 --family fsrcnn {{args}} --batch-size 64 --init-from PREVIOUS --lr {{lr}} --warmup-steps 100 "
                 "--precision fp32 --time-limit 2700 (scripts/train_real_on_cpu.sh DATA RUNS fsrcnn-cpu-4 2700; PREVIOUS: "
                 "the file at commit 5fd4aed; kept step {{step}}, validation {{val}} against {{before}} dB)").format(data=_DATA)
_CPU_EPYC = "the 2-core CPU (AMD EPYC, AVX-512 BF16), one thread, beside a second run"
# Then a fifth round on the CPU (2026-11-28; scripts/train_real_on_cpu.sh, stage fsrcnn-cpu-5): x3 and FSRCNN-s side
# by side, one thread each, on 96-pixel patches, each from the fourth GPU round's file.
_CPU_FSRCNN_5 = ("then on the 2-core CPU, srcnn train {data} --hr-scales 0.9 0.8 0.7 0.6 --steps 1000000 --val-every 500 "
                 "--threads 1 --family fsrcnn {{args}} --patch-size 96 --batch-size {{batch}} --init-from PREVIOUS --lr {{lr}} "
                 "--warmup-steps 100 --precision fp32 --time-limit {{seconds}} (scripts/train_real_on_cpu.sh DATA RUNS "
                 "fsrcnn-cpu-5; PREVIOUS: the fourth GPU round's second call; stopped at {{stopped}} s, its lr near zero; "
                 "kept step {{step}}, validation {{val}} against {{before}} dB)").format(data=_DATA)
# Then a seventh round for FSRCNN-s on the CPU (2026-12-08; scripts/train_real_on_cpu.sh, stages fsrcnn-cpu-7 and
# fsrcnn-cpu-7c, side by side, one thread each): from the fifth round's file, with a moving average of the weights
# (--ema) and, in the run kept, the interior loss on 120-pixel patches; step schedules, not wall time.
_CPU_FSRCNN_7 = ("then on the 2-core CPU, srcnn train {data} --hr-scales 0.9 0.8 0.7 0.6 --steps 140000 --val-every 500 "
                 "--threads 1 --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 120 --batch-size 16 --init-from PREVIOUS "
                 "--lr 1e-4 --warmup-steps 100 --precision fp32 --ema 0.9995 --interior-loss (scripts/train_real_on_cpu.sh "
                 "DATA RUNS fsrcnn-cpu-7c; PREVIOUS: the fifth CPU round's file; kept step 95,500, validation 29.3115 "
                 "against 29.3083 dB; the run beside it, --ema alone on 96-pixel patches, reached 29.3110)").format(data=_DATA)
_CPU_FSRCNN_8 = ("; then distilled from FSRCNN_X3, srcnn train {data} --hr-scales 0.9 0.8 0.7 0.6 --steps 90000 "
                 "--val-every 500 --threads 1 --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 120 --batch-size 16 "
                 "--init-from PREVIOUS --lr 1e-4 --warmup-steps 100 --precision fp32 --ema 0.9995 --interior-loss "
                 "--teacher FSRCNN_X3 --teacher-weight 0.5 (scripts/train_real_on_cpu.sh DATA RUNS fsrcnn-cpu-8; "
                 "PREVIOUS: the seventh CPU round's file; kept step 68,500, validation 29.3142 against 29.3115 dB; "
                 "the run beside it, --teacher-weight 0.8, reached 29.3135)").format(data=_DATA)
_CPU_EPYC_5 = "the 2-core CPU (AMD EPYC, family 26, AVX-512 BF16), one thread, beside a second run"
# FSRCNN's fourth GPU round (2026-11-28, one NVIDIA H200, two calls of three runs; scripts/train_fsrcnn_on_gpu_round4.sh):
# 96-pixel patches, so that a third of each patch's pixels see real context through the padded layers.
_H200_FSRCNN_4 = (f"then on {_H200_3}, srcnn train {_DATA} --family fsrcnn {{args}} --hr-scales 0.9 0.8 0.7 0.6 "
                  "--init-from PREVIOUS --patch-size 96 --batch-size 128 --lr {lr} --warmup-steps 200 --steps 100000000 "
                  "--time-limit {seconds} --val-every 2000 --precision fp32 --device cuda "
                  "(scripts/train_fsrcnn_on_gpu_round4.sh DATA RESULTS {call}; PREVIOUS: {previous}; kept step {step}, "
                  "validation {val} against {before} dB)")

# Two more CPU-only rounds for x4 (2026-11-26, no GPU lent): lower lr, bf16, wall-time cosine
# schedule; the second also adds 0.5 and 0.4 copies of the HR images.
_CPU_ROUND = (f"srcnn train {_DATA} --scale {{scale}} --init-from PREVIOUS --hr-scales {{hr_scales}} "
              "--batch-size 128 --lr 1e-4 --warmup-steps 200 --steps 1000000 --time-limit {seconds} --val-every 500 "
              "--precision bf16 --threads 2")


# Issue 14's models (scripts/train_real_on_cpu.sh): two runs at once, one torch thread each.
_CPU_AMX = "2-core CPU (Intel Xeon, AMX-BF16), one thread, beside a second run"
_CPU_TRAIN = (f"srcnn train {_DATA} --hr-scales 0.9 0.8 0.7 0.6 --steps 1000000 --val-every 500 --precision auto "
              "--threads 1")
_CPU_RESTORE = (_CPU_TRAIN + " --out runs/{name} --scale 1 --arch 9-7-1-5 --n1 64 --n2 32 --residual --patch-size 40 "
                "{extra} --time-limit {seconds}")
# The deep restorers: DnCNN's depth (12 layers of 3x3, 64 filters, a global skip, no batch norm).
_DEEP_ARCH, _DEEP_PARAMS = "-".join(["3"] * 12), 370497
_CPU_RESTORE_DEEP = (_CPU_TRAIN.replace("--val-every 500", "--val-every 250") + " --out runs/{name} --scale 1 "
                     f"--arch {_DEEP_ARCH} --n1 64 --n2 64 --residual --patch-size 64 --batch-size 32 --lr 5e-4 "
                     "--warmup-steps 500 {extra} --time-limit {seconds}")
# The real-world chain (srcnn.protocol.degrade.RealDegradation): fine-tuned from the shipped clean model of its kind.
_CPU_REAL = (_CPU_TRAIN + " --out runs/{name} {extra} --degradation real --lr 3e-4 --warmup-steps 100 "
             "--time-limit 1200")
# The real-world x3 cascade: the deep denoiser in front of FSRCNN x3, trained together (three rounds).
_CPU_CASCADE = (_CPU_TRAIN + " --out runs/{name} --family fsrcnn --upsampler deconv --scale 3 --patch-size 96 "
                "--batch-size 16 {extra}")


_FSRCNN_X3_GPU = "FSRCNN_X3_GPU: FSRCNN_X3 after its two GPU rounds, the file at commit 9724718"
# FSRCNN x3's third round (2026-11-27, no GPU lent; scripts/train_real_on_cpu.sh, stage fsrcnn-x3): two learning
# rates side by side, one thread each; the better on validation (1.5e-4) was kept.
_CPU_FSRCNN_X3 = (_CPU_TRAIN.replace("--precision auto", "--precision fp32") + " --family fsrcnn --upsampler deconv "
                  "--scale 3 --patch-size 48 --batch-size 64 --init-from FSRCNN_X3_GPU --lr 1.5e-4 --warmup-steps 100 "
                  "--time-limit 6000")


class Weights(Enum):
    """Models shipped inside the package; ``value`` carries each one's card."""

    SRCNN_955_X2 = WeightsEntry(
        file="srcnn_9-5-5_x2.safetensors", scale=2, arch="9-5-5", widths=(64, 32), params=57281,
        metrics={"Set5": (36.8040, 0.95531), "Set14": (32.5392, 0.90800)},
        recipe=f"srcnn train {_DATA} --scale 2 --out runs/x2 --steps 24000 --val-every 1000 --threads 1 (CPU); "
               f"then on the GPU {_GPU_ROUND1.format(scale=2)} (scripts/train_on_gpu.sh)",
        train_minutes=108.3 + 7.5, trained_on="2-core CPU, then one NVIDIA H200 shared by 9 runs", alias="srcnn",
    )
    SRCNN_955_X3 = WeightsEntry(
        file="srcnn_9-5-5_x3.safetensors", scale=3, arch="9-5-5", widths=(64, 32), params=57281,
        metrics={"Set5": (32.8138, 0.91119), "Set14": (29.3088, 0.82245),
                 "Set14 jpeg:75": (27.0041, 0.71932), "Set14 noise:10": (23.6533, 0.49388)},
        recipe=f"srcnn train {_DATA} --scale 3 --out runs/x3 --steps 24000 --val-every 1000 --threads 1 (CPU); "
               f"then on the GPU {_GPU_ROUND1.format(scale=3)} (scripts/train_on_gpu.sh); "
               f"then {_GPU_ROUND2.format(scale=3)} (scripts/finetune_on_gpu.sh)",
        train_minutes=108.3 + 7.5 + 4.0, trained_on="2-core CPU, then one NVIDIA H200", alias="srcnn",
    )
    SRCNN_955_X4 = WeightsEntry(
        file="srcnn_9-5-5_x4.safetensors", scale=4, arch="9-5-5", widths=(64, 32), params=57281,
        metrics={"Set5": (30.4773, 0.86453), "Set14": (27.4914, 0.75254)},
        recipe=f"srcnn train {_DATA} --scale 4 --init-from X3_STEP5000 --out runs/x4 --steps 16000 "
               "--val-every 1000 --threads 1 (CPU; X3_STEP5000: the x3 run's best weights at its step 5000); "
               f"then on the GPU {_GPU_ROUND1.format(scale=4)} (scripts/train_on_gpu.sh); "
               f"then {_GPU_ROUND2.format(scale=4)} (scripts/finetune_on_gpu.sh); "
               f"then on the CPU again {_CPU_ROUND.format(scale=4, hr_scales='0.9 0.8 0.7 0.6', seconds=7500)}; "
               f"then {_CPU_ROUND.format(scale=4, hr_scales='0.9 0.8 0.7 0.6 0.5 0.4', seconds=6900)}; "
               f"then on a GPU again {_H100_SRCNN_X4} (scripts/train_fsrcnn_on_gpu.sh) and the same with "
               "--lr 5e-5 --warmup-steps 200 --time-limit 200 (scripts/finetune_fsrcnn_on_gpu.sh)",
        train_minutes=83.8 + 7.5 + 4.0 + 125.0 + 115.0 + 400 / 60 + 200 / 60,
        trained_on="2-core CPU, then one NVIDIA H200, then the 2-core CPU, then one NVIDIA H100 shared by 6 runs",
        alias="srcnn",
    )
    SRCNN_915_FAST_X3 = WeightsEntry(
        file="srcnn_9-1-5_32-16_x3.safetensors", scale=3, arch="9-1-5", widths=(32, 16), params=3553,
        metrics={"Set5": (32.0756, 0.89770), "Set14": (28.8224, 0.81069)},
        recipe=f"srcnn train {_DATA} --scale 3 --arch 9-1-5 --n1 32 --n2 16 --out runs/fast_x3 --steps 20000 "
               "--val-every 1000 --threads 1",
        train_minutes=31.9,
    )

    FSRCNN_X2 = WeightsEntry(
        file="fsrcnn_x2.safetensors", scale=2, arch="fsrcnn-56-12-4", widths=(56, 12, 4), params=10292,
        family="fsrcnn", alias="fsrcnn",
        metrics={"Set5": (36.9637, 0.95569), "Set14": (32.6030, 0.90847),
                 "Set14 jpeg:75": (29.1603, 0.80896), "Set14 noise:10": (24.2985, 0.51750)},
        recipe=f"{_H100_FSRCNN.format(scale=2, extra='', patch=40)}; {_H100_FSRCNN_2}; "
               f"{_H200_FSRCNN_3.format(args='--scale 2 --patch-size 40', lr='2e-4', step='18,000', val='32.7840', before='32.7627')}",
        train_minutes=10.0 + 2.75, trained_on=f"{_H100}, then {_H200_3}",
    )
    FSRCNN_X3 = WeightsEntry(
        file="fsrcnn_x3.safetensors", scale=3, arch="fsrcnn-56-12-4", widths=(56, 12, 4), params=12809,
        family="fsrcnn", alias="fsrcnn",
        metrics={"Set5": (33.0647, 0.91335), "Set14": (29.4311, 0.82450),
                 "Set14 jpeg:75": (26.8895, 0.71443), "Set14 noise:10": (23.5205, 0.48467)},
        recipe=f"{_H100_FSRCNN.format(scale=3, extra='--upsampler deconv ', patch=48)}; {_H100_FSRCNN_2}; "
               f"then {_CPU_FSRCNN_X3} (kept step 64,500: validation 29.5868 against the GPU rounds' 29.5632 dB; {_FSRCNN_X3_GPU}). "
               "The paper's 9x9 transposed convolution, chosen over a sub-pixel last layer trained the same way "
               "(validation 29.5632 against 29.5209 dB after the GPU rounds); inference runs it in its exact "
               "sub-pixel form; "
               f"{_H200_FSRCNN_3.format(args='--scale 3 --patch-size 48 --upsampler deconv', lr='2e-4', step='9,000', val='29.5936', before='29.5868')}; "
               f"{_CPU_FSRCNN_4.format(args='--upsampler deconv --scale 3 --patch-size 48', lr='1e-4', step='23,000', val='29.6045', before='29.5936')}; "
               f"{_H200_FSRCNN_4.format(args='--scale 3 --upsampler deconv', lr='1e-4', seconds=380, call='first', previous='the file at commit 86a0fae', step='18,000', val='29.6117', before='29.6045')}; "
               f"{_H200_FSRCNN_4.format(args='--scale 3 --upsampler deconv', lr='1e-4', seconds=270, call='second', previous='the first call', step='18,000', val='29.6198', before='29.6117')}; "
               f"{_CPU_FSRCNN_5.format(args='--upsampler deconv --scale 3', batch=32, lr='2e-5', seconds=4200, stopped='4,044', step='7,000', val='29.6227', before='29.6198')}",
        train_minutes=10.0 + 100.0 + 2.75 + 45.0 + 6.3 + 4.5 + 67.4,
        trained_on=f"{_H100}, then the 2-core CPU (Intel Xeon, AMX-BF16), one thread, then {_H200_3}, then {_CPU_EPYC}, "
                   f"then {_H200_3} (twice), then {_CPU_EPYC}",
    )
    FSRCNN_X4 = WeightsEntry(
        file="fsrcnn_x4.safetensors", scale=4, arch="fsrcnn-56-12-4", widths=(56, 12, 4), params=16352,
        family="fsrcnn", alias="fsrcnn",
        metrics={"Set5": (30.5613, 0.86499), "Set14": (27.5501, 0.75401),
                 "Set14 jpeg:75": (25.5405, 0.65179), "Set14 noise:10": (22.8131, 0.46451)},
        recipe=f"{_H100_FSRCNN.format(scale=4, extra='', patch=64)}; {_H100_FSRCNN_2}",
        train_minutes=10.0, trained_on=_H100,
    )
    FSRCNN_S_X3 = WeightsEntry(
        file="fsrcnn-s_x3.safetensors", scale=3, arch="fsrcnn-32-5-1", widths=(32, 5, 1), params=4094,
        family="fsrcnn", alias="fsrcnn-s",
        metrics={"Set5": (32.5182, 0.90445), "Set14": (29.1104, 0.81698)},
        recipe=f"{_H100_FSRCNN.format(scale=3, extra='--dsm 32 5 1 ', patch=48)}; {_H100_FSRCNN_2}; "
               f"{_H200_FSRCNN_3.format(args='--scale 3 --patch-size 48 --dsm 32 5 1', lr='5e-4', step='24,000', val='29.2727', before='29.2531')}; "
               f"{_CPU_FSRCNN_4.format(args='--dsm 32 5 1 --scale 3 --patch-size 48', lr='2e-4', step='89,500', val='29.2854', before='29.2727')}; "
               f"{_H200_FSRCNN_4.format(args='--scale 3 --dsm 32 5 1', lr='2e-4', seconds=380, call='first', previous='the file at commit 86a0fae', step='58,000', val='29.2968', before='29.2854')}; "
               f"{_H200_FSRCNN_4.format(args='--scale 3 --dsm 32 5 1', lr='1e-4', seconds=270, call='second', previous='the first call', step='18,000', val='29.3017', before='29.2968')}; "
               f"{_CPU_FSRCNN_5.format(args='--dsm 32 5 1 --scale 3', batch=16, lr='1e-4', seconds=4500, stopped='4,226', step='173,000', val='29.3083', before='29.3017')}; "
               f"{_CPU_FSRCNN_7}{_CPU_FSRCNN_8}",
        train_minutes=10.0 + 2.75 + 45.0 + 6.3 + 4.5 + 70.4 + 53.8 + 73.4,
        trained_on=f"{_H100}, then {_H200_3}, then {_CPU_EPYC}, then {_H200_3} (twice), then {_CPU_EPYC}, then "
                   f"{_CPU_EPYC_5} (twice)",
    )

    # Issue 14 (2026-11-26/27, no GPU lent): scripts/train_real_on_cpu.sh, two runs at once on the 2-core CPU.
    DENOISE = WeightsEntry(
        file="denoise_3x12.safetensors", scale=1, arch=_DEEP_ARCH, widths=(64,) * 11, params=_DEEP_PARAMS,
        alias="denoise",
        metrics={"Set5 noise:25": (31.2518, 0.86384), "Set14 noise:25": (29.7664, 0.81562)},
        recipe=_CPU_RESTORE_DEEP.format(name="denoise_deep", extra="--degradation noise:0-50", seconds=6600)
               + " (a blind Gaussian denoiser, sigma 0-50 on the 0-255 scale; stage restore-deep); then the same "
                 "with --out runs/denoise_deep_2 --init-from ROUND1_BEST --lr 2e-4 --warmup-steps 200 "
                 "--time-limit 6000 (stage restore-deep-2; ROUND1_BEST: round one's best weights, its step 20,750); "
                 "then again with --out runs/denoise_deep_3 --init-from ROUND2_BEST --lr 1e-4 --warmup-steps 100 "
                 "--time-limit 6000 (stage restore-deep-3; ROUND2_BEST: round two's best, its step 15,250; "
                 "kept round three's step 12,750)",
        train_minutes=110.0 + 100.0 + 100.0, trained_on=_CPU_AMX,
    )
    JPEG = WeightsEntry(
        file="jpeg_3x12.safetensors", scale=1, arch=_DEEP_ARCH, widths=(64,) * 11, params=_DEEP_PARAMS,
        alias="jpeg",
        metrics={"Set5 jpeg:10": (31.6135, 0.87286), "Set14 jpeg:10": (29.6498, 0.81804)},
        recipe=_CPU_RESTORE_DEEP.format(name="jpeg_deep", extra="--degradation jpeg:5-90 --init-from "
                                        "DENOISE_DEEP_STEP3000", seconds=5000)
               + " (one model for JPEG qualities 5-90; DENOISE_DEEP_STEP3000: the deep denoiser's best weights "
                 "at its step 3000; stage jpeg-deep)",
        train_minutes=5000 / 60, trained_on=_CPU_AMX,
    )
    DENOISE_ARCNN = WeightsEntry(
        file="denoise_9-7-1-5.safetensors", scale=1, arch="9-7-1-5", widths=(64, 32, 32), params=107489,
        metrics={"Set5 noise:25": (30.6481, 0.85080), "Set14 noise:25": (29.1788, 0.79761)},
        recipe=_CPU_RESTORE.format(name="denoise", extra="--degradation noise:0-50", seconds=1800)
               + " (a blind Gaussian denoiser, sigma 0-50 on the 0-255 scale)",
        train_minutes=30.0, trained_on=_CPU_AMX,
    )
    JPEG_ARCNN = WeightsEntry(
        file="jpeg_9-7-1-5.safetensors", scale=1, arch="9-7-1-5", widths=(64, 32, 32), params=107489,
        metrics={"Set5 jpeg:10": (30.9993, 0.85789), "Set14 jpeg:10": (29.1619, 0.80923)},
        recipe=_CPU_RESTORE.format(name="jpeg", extra="--degradation jpeg:5-90 --init-from DENOISE_STEP1500 "
                                   "--lr 5e-4", seconds=1800)
               + " (one model for JPEG qualities 5-90; DENOISE_STEP1500: the denoiser's best weights at its "
                 "step 1500, AR-CNN's transfer)",
        train_minutes=30.0, trained_on=_CPU_AMX,
    )
    FSRCNN_REAL_X2 = WeightsEntry(
        file="fsrcnn_real_x2.safetensors", scale=2, arch="fsrcnn-56-12-4", widths=(56, 12, 4), params=10292,
        family="fsrcnn", alias="real",
        metrics={"Set5": (35.0567, 0.94197), "Set14": (31.4209, 0.87998),
                 "Set14 jpeg:75": (29.6008, 0.81940), "Set14 noise:10": (28.2747, 0.76507)},
        recipe=_CPU_REAL.format(name="fsrcnn_real_x2", extra="--family fsrcnn --scale 2 --patch-size 40 "
                                "--init-from FSRCNN_X2"),
        train_minutes=20.0, trained_on=_CPU_AMX,
    )
    FSRCNN_REAL_X3 = WeightsEntry(  # `--model real` at x3 is the cascade above; this one is 30x cheaper
        file="fsrcnn_real_x3.safetensors", scale=3, arch="fsrcnn-56-12-4", widths=(56, 12, 4), params=12809,
        family="fsrcnn",
        metrics={"Set5": (31.9773, 0.89649), "Set14": (28.7284, 0.79657),
                 "Set14 jpeg:75": (27.3310, 0.73246), "Set14 noise:10": (26.2707, 0.68204)},
        recipe=_CPU_REAL.format(name="fsrcnn_real_x3", extra="--family fsrcnn --upsampler deconv --scale 3 "
                                "--patch-size 48 --init-from FSRCNN_X3_GPU") + f" ({_FSRCNN_X3_GPU})",
        train_minutes=20.0, trained_on=_CPU_AMX,
    )
    CASCADE_REAL_X3 = WeightsEntry(
        file="cascade_real_x3.safetensors", scale=3, arch=f"{_DEEP_ARCH}+fsrcnn-56-12-4",
        widths=(64,) * 11 + (56, 12, 4), params=_DEEP_PARAMS + 12809, family="cascade", alias="real",
        metrics={"Set5": (32.8008, 0.90941), "Set14": (29.2786, 0.81838),
                 "Set14 jpeg:75": (27.6050, 0.74178), "Set14 noise:10": (26.6014, 0.70636)},
        recipe="; then ".join([
            _CPU_CASCADE.format(name="real_cascade_x3", extra="--degradation real --restorer DENOISE_ROUND1 "
                                "--init-from FSRCNN_X3_GPU --lr 2e-4 --warmup-steps 200 --time-limit 5700")
            + " (stopped at step 10,000 after 27 minutes, its JPEG-q75 gain flat on validation; kept step 9,000)",
            _CPU_CASCADE.format(name="real_cascade_x3_2", extra="--degradation real+jpeg:40-95+bicubic "
                                "--restorer ROUND1_BEST --init-from ROUND1_BEST --lr 1e-4 --warmup-steps 100 "
                                "--time-limit 4000") + " (stopped at step 12,000 after 28 minutes; kept step 10,000)",
            _CPU_CASCADE.format(name="real_cascade_x3_3", extra="--degradation real+jpeg:40-95+jpeg:40-95+bicubic "
                                "--restorer ROUND2_BEST --init-from ROUND2_BEST --lr 7e-5 --warmup-steps 100 "
                                "--time-limit 2500") + " (kept step 7,500)"])
               + ". DENOISE_ROUND1: the deep denoiser's first round (stage restore-deep; shipped as DENOISE until "
                 f"commit 7a43902); {_FSRCNN_X3_GPU}; stages real-cascade, real-cascade-2, real-cascade-3",
        train_minutes=1632.5 / 60 + 1705.7 / 60 + 2500.5 / 60, trained_on=_CPU_AMX,
    )
    FSRCNN_REAL_X4 = WeightsEntry(
        file="fsrcnn_real_x4.safetensors", scale=4, arch="fsrcnn-56-12-4", widths=(56, 12, 4), params=16352,
        family="fsrcnn", alias="real",
        metrics={"Set5": (29.8425, 0.84584), "Set14": (27.0464, 0.72850),
                 "Set14 jpeg:75": (25.8677, 0.66991), "Set14 noise:10": (24.9502, 0.62472)},
        recipe=_CPU_REAL.format(name="fsrcnn_real_x4", extra="--family fsrcnn --scale 4 --patch-size 64 "
                                "--init-from FSRCNN_X4"),
        train_minutes=20.0, trained_on=_CPU_AMX,
    )
    SRCNN_955_REAL_X3 = WeightsEntry(
        file="srcnn_9-5-5_real_x3.safetensors", scale=3, arch="9-5-5", widths=(64, 32), params=57281,
        alias="srcnn-real",
        metrics={"Set5": (31.9309, 0.89436), "Set14": (28.6915, 0.79412),
                 "Set14 jpeg:75": (27.3808, 0.73442), "Set14 noise:10": (26.0471, 0.65947)},
        recipe=_CPU_REAL.format(name="srcnn_real_x3", extra="--scale 3 --init-from SRCNN_955_X3"),
        train_minutes=20.0, trained_on=_CPU_AMX,
    )

    @property
    def entry(self) -> WeightsEntry:
        return self.value


# Kinds a user names with --model: each picks the shipped model of its kind at the requested scale
# (the restoration tasks' models are at scale 1).
ALIASES = ("srcnn", "fsrcnn", "fsrcnn-s", "real", "srcnn-real") + RESTORE_TASKS
DEFAULT_ALIAS = "fsrcnn"  # what `srcnn upscale` runs without --model: FSRCNN beats the 9-5-5 at every scale, on validation too


def find_weights(alias: str, scale: int) -> "Weights | None":
    """The shipped model that ``--model ALIAS`` picks at ``scale``, or None where none ships."""
    for w in Weights:
        if w.entry.alias == alias and w.entry.scale == scale:
            return w
    return None


def default_weights(scale: int) -> "Weights | None":
    """The shipped default model for ``scale``, or None where none ships."""
    return find_weights(DEFAULT_ALIAS, scale)


def resolve_model(name_or_path: str | None, scale: int | None) -> tuple[SRCNN, dict[str, str]]:
    """A shipped model's name (e.g. ``SRCNN_955_X3``), an alias (``srcnn``, ``fsrcnn``, ``fsrcnn-s``:
    the shipped model of that kind for ``scale``), a weights file, or None for the default of
    ``scale``; with ``scale``, a model made for another scale is refused."""
    alias = DEFAULT_ALIAS if name_or_path is None else name_or_path.lower()
    if alias in ALIASES:
        if scale is None:
            raise SRCNNError(f"{alias} names one shipped model per scale; give the scale (--scale) or a model's name "
                             f"({', '.join(x.name for x in Weights if x.entry.alias == alias)})")
        w = find_weights(alias, scale)
        if w is None:
            have = ", ".join(f"x{x.entry.scale}" for x in Weights if x.entry.alias == alias)
            raise SRCNNError(f"no shipped {alias} model for x{scale} (shipped: {have}); pass --model PATH "
                             "or another model")
        return load_model(w.entry.path, scale)
    if name_or_path in Weights.__members__:
        return load_model(Weights[name_or_path].entry.path, scale)
    path = Path(name_or_path)
    if not path.exists() and path.suffix != ".safetensors":
        names = ", ".join(list(ALIASES) + list(Weights.__members__))
        raise SRCNNError(f"{name_or_path}: neither a weights file nor a shipped model (shipped: {names})")
    return load_model(path, scale)
