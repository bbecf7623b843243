"""Training SRCNN: read top to bottom.

config -> data (pairs, validation split, patch sampler) -> model and optimiser -> loop
(forward, loss on the valid centre, step, log) -> validation with the papers' protocol ->
checkpoints (atomic, safetensors, no pickle) -> best weights by validation PSNR.

Recipes:
- ``paper``: N(0, 0.001) init, SGD momentum 0.9, lr 1e-4 on the first layers and 1e-5 on the last,
  Caffe's Euclidean loss (sum / 2N), 33x33 sub-images with stride 14, as the authors trained.
- ``adam``: He init, Adam with a short warm-up and a cosine decay, random crops with flips and
  rotations; converges in minutes on a CPU instead of days on a GPU.

Every batch is a function of (seed, step) and the checkpoint holds model, optimiser, step and the
torch RNG, so ``resume=True`` continues a killed run exactly where it stopped. ``resume_config``
rebuilds a run's config from its config.json (``srcnn train --out RUN --resume``), refusing options
that contradict it; raising ``steps`` or ``time_limit`` extends a finished run (``_continue_run``
says how the schedule goes on). Under torchrun the same code runs as DDP: each rank takes its share
of the global batch (docs/distributed.md).
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import os
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..protocol.color import to_plane
from .data import DevicePatches, PatchSampler, StepBatches, StreamingPatches, load_pairs, split_validation
from ..errors import SRCNNError
from ..study.evaluate import evaluate_plane
from ..io.imageio import list_images, read_image, write_text_atomic
from ..inference import Upscaler, resolve_precision
from ..models import FSRCNN, SRCNN, Cascade, CascadeConfig, FSRCNNConfig, SRCNNConfig
from .train_config import TrainConfig  # kept torch-free so `srcnn --help` need not import torch
from ..models.weights import atomic_save_safetensors, load_model, resolve_model, save_model

__all__ = ["TrainConfig", "train", "resume_config"]

log = logging.getLogger(__name__)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_model(cfg: TrainConfig) -> torch.nn.Module:
    """The untrained network ``cfg`` describes, initialised by its recipe."""
    if cfg.family == "srcnn":
        model = SRCNN(SRCNNConfig.from_arch(cfg.arch, cfg.n1, cfg.n2, cfg.channels, cfg.residual))
    elif cfg.family == "fsrcnn":
        d, s, m = cfg.dsm
        model = FSRCNN(FSRCNNConfig(cfg.scale, d, s, m, cfg.channels, cfg.upsampler, cfg.activation, cfg.residual))
    else:
        raise SRCNNError(f"unknown model family {cfg.family!r}: use 'srcnn' or 'fsrcnn'")
    model.init_weights(cfg.init)
    if cfg.restorer:  # a trained scale-1 restorer in front, trained on with the network
        restorer, meta = load_model(cfg.restorer)
        if isinstance(restorer, Cascade):  # another cascade's restorer (e.g. the x3 one's, for x2)
            restorer = restorer.restorer
        elif meta["scale"] != "1":
            raise SRCNNError(f"--restorer {cfg.restorer}: an x{meta['scale']} model, not a scale-1 restorer")
        try:
            config = CascadeConfig(restorer.config, model.config)
        except ValueError as exc:
            raise SRCNNError(f"--restorer {cfg.restorer}: {exc}") from None
        model = Cascade(config, restorer.train(), model)
    return model


def load_initial_weights(model: torch.nn.Module, path: str, cfg: TrainConfig) -> None:
    """Start from ``path``: the same architecture loads whole; a model of the same family made for
    another scale (FSRCNN x3 for x2 / x4, as the paper transfers) loads all but its scale-specific
    last layer. ``cfg.train_layers == "last"`` then freezes everything but the last layer."""
    pretrained, _ = load_model(path)
    whole = model
    if isinstance(model, Cascade) and not isinstance(pretrained, Cascade):
        model = model.upscaler  # the up-scaler behind a --restorer starts from these weights
    if pretrained.config == model.config:
        model.load_state_dict(pretrained.state_dict())
    elif (pretrained.config.family == model.config.family and hasattr(model.config, "scale")
          and replace(pretrained.config, scale=model.config.scale) == model.config):
        shared = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("last.")}
        model.load_state_dict(shared, strict=False)
    else:
        raise SRCNNError(f"{path}: architecture {pretrained.config} differs from {model.config}")
    if cfg.train_layers == "last":
        last = set(map(id, whole.last_layer.parameters()))
        for p in whole.parameters():
            p.requires_grad_(id(p) in last)
    elif cfg.train_layers != "all":
        raise SRCNNError(f"--train-layers must be 'all' or 'last', got {cfg.train_layers!r}")


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    trainable = [p for p in model.parameters() if p.requires_grad]
    if cfg.recipe == "paper":
        lr = cfg.lr or 1e-4
        last = set(map(id, model.last_layer.parameters()))
        groups = [{"params": [p for p in trainable if id(p) not in last], "lr": lr},
                  {"params": [p for p in trainable if id(p) in last], "lr": lr / 10}]
        return torch.optim.SGD([g for g in groups if g["params"]], lr=lr, momentum=0.9)
    if cfg.recipe == "adam":
        return torch.optim.Adam(trainable, lr=cfg.lr or 1e-3)
    raise SRCNNError(f"unknown recipe {cfg.recipe!r}: use 'adam' or 'paper'")


def lr_factor(step: int, cfg: TrainConfig, elapsed: float = 0.0) -> float:
    """Multiplier of each group's base lr: constant for the paper, warm-up + cosine for adam.
    With a time limit the cosine follows whichever runs out first, steps or seconds."""
    if cfg.recipe == "paper":
        return 1.0
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    if cfg.time_limit:
        progress = max(progress, elapsed / cfg.time_limit)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def compute_loss(out: torch.Tensor, target: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    if cfg.loss == "l1":
        return F.l1_loss(out, target)
    if cfg.recipe == "paper":
        return ((out - target) ** 2).sum() / (2 * out.shape[0])  # Caffe's EuclideanLoss
    return F.mse_loss(out, target)


# ---- checkpoints: everything in one safetensors file, scalars as JSON metadata -------------------

def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, best: dict,
                    cfg: TrainConfig, elapsed: float = 0.0, average: torch.nn.Module | None = None) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if average is not None:
        tensors.update({f"ema.{k}": v for k, v in average.state_dict().items()})
    opt = optimizer.state_dict()
    for idx, state in opt["state"].items():
        for key, value in state.items():
            tensors[f"optim.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"format": "srcnn-checkpoint", "step": str(step), "best": json.dumps(best), "elapsed": f"{elapsed:.3f}",
            "param_groups": json.dumps(opt["param_groups"]), "config": json.dumps(asdict(cfg))}
    atomic_save_safetensors(tensors, path, meta)


def _unreadable(path: Path, exc: Exception) -> SRCNNError:
    return SRCNNError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})")


def read_checkpoint_metadata(path: Path) -> dict:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:  # truncated, corrupt, unreadable
        raise _unreadable(path, exc) from None
    if meta.get("format") != "srcnn-checkpoint":
        raise SRCNNError(f"{path}: not an SRCNN training checkpoint")
    try:  # the scalars every resume reads
        int(meta["step"]), float(meta.get("elapsed", 0.0)), json.loads(meta["best"])
    except (KeyError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    return meta


def run_finished(out: str | Path) -> bool:
    """Whether the run in ``out`` reached its end (steps, time limit or target): its summary.json,
    written last, says so even where the checkpoint was not kept."""
    return (Path(out) / "summary.json").exists()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    average: torch.nn.Module | None = None) -> tuple[int, dict, float]:
    """Restore model, optimiser, torch RNG and the weights' moving average (where the run keeps one);
    returns (step, best validation, seconds trained so far)."""
    meta = read_checkpoint_metadata(path)
    try:
        tensors = load_file(str(path))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        if average is not None:
            average.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                state.setdefault(int(idx), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
        torch.set_rng_state(tensors["rng.torch"])
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as exc:  # RuntimeError: shapes
        raise _unreadable(path, exc) from None
    return int(meta["step"]), json.loads(meta["best"]), float(meta.get("elapsed", 0.0))


# ---- resuming and extending a run ----------------------------------------------------------------

# What may differ from the saved config when a run is resumed: its limits (raising one extends a
# finished run), how often it validates, and where and how fast it runs. Every other field (scale,
# architecture, channels, data, degradation, recipe, patches, seed, and any field added later)
# makes the run what it is, so another value would train a different model under the old name.
RESUME_MAY_CHANGE = frozenset({"out", "resume", "steps", "time_limit", "target_psnr", "val_every", "precision",
                               "device", "workers", "monitor_data"})
_PATH_FIELDS = frozenset({"data", "val_data", "init_from", "restorer"})


def _comparable(name: str, value, recipe: str):
    """A config value as resuming compares it: paths resolved, lists as lists, the lr as used."""
    if name == "lr" and value is None:
        return 1e-4 if recipe == "paper" else 1e-3  # build_optimizer's defaults
    if name in _PATH_FIELDS and value is not None:
        if isinstance(value, (list, tuple)):
            return [str(Path(v).resolve()) for v in value]
        return str(Path(value).resolve())
    if isinstance(value, tuple):
        return list(value)
    return value


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value)) or "(none)"
    return "(unset)" if value is None else str(value)


def _check_resume_config(saved: dict, given: dict, out: Path) -> None:
    """Refuse, naming it, the first option in ``given`` that contradicts the run's saved config.
    ``given`` holds only what the caller chose: the flags on a command line, or a whole config."""
    defaults = asdict(TrainConfig())
    recipe = saved.get("recipe", defaults["recipe"])
    for name, value in given.items():
        if name in RESUME_MAY_CHANGE or name not in defaults:
            continue
        before = saved.get(name, defaults[name])  # a field added since the run was made: its default
        if _comparable(name, value, recipe) != _comparable(name, before, recipe):
            flag = "--" + name.replace("_", "-")
            raise SRCNNError(f"{out}: {flag} {_shown(value)} contradicts the run's {_shown(before)} "
                             f"(its config.json); drop {flag} to continue the run, or choose another --out")


def _saved_config(out: Path) -> dict | None:
    path = out / "config.json"
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SRCNNError(f"{path}: not a readable run config ({exc})") from None
    if not isinstance(saved, dict):
        raise SRCNNError(f"{path}: not a readable run config (not a JSON object)")
    return saved


def resume_config(out: str | Path, given: dict) -> TrainConfig:
    """The config that continues the run in ``out``: its config.json, checked against the options
    ``given`` explicitly (``srcnn train --out RUN --resume [...]``), with their new limits.

    Giving ``steps`` or ``time_limit`` sets the run's new end (both count the whole run, earlier
    sessions included); a limit the run already reached and that is not given again (its time
    limit, its target PSNR) is lifted, so that the one given decides where the run now ends."""
    out = Path(out)
    saved = _saved_config(out)
    if saved is None:
        raise SRCNNError(f"{out}: no run to resume (no config.json); pass --data DIR... to start one")
    _check_resume_config(saved, given, out)
    known = {f.name for f in fields(TrainConfig)}
    options = {k: v for k, v in saved.items() if k in known}
    options.update(given, out=str(out), resume=True)
    options["hr_scales"] = tuple(options.get("hr_scales") or ())
    cfg = TrainConfig(**options)
    checkpoint = out / "checkpoint.safetensors"
    if checkpoint.exists() and ("steps" in given or "time_limit" in given):
        step, elapsed, best = _resume_point(checkpoint)
        if "time_limit" not in given and cfg.time_limit and elapsed >= cfg.time_limit:
            cfg.time_limit = None
        if "target_psnr" not in given and cfg.target_psnr is not None and best["psnr"] >= cfg.target_psnr:
            cfg.target_psnr = None
        if "steps" not in given and step >= cfg.steps:
            raise SRCNNError(f"{out} ended at its last step ({step}): extend it with --steps N above {step} "
                             "(with --time-limit S to cap its training seconds)")
    return cfg


def _resume_point(checkpoint: Path) -> tuple[int, float, dict]:
    """(step, seconds trained, best validation) from a checkpoint's metadata alone."""
    meta = read_checkpoint_metadata(checkpoint)
    return int(meta["step"]), float(meta.get("elapsed", 0.0)), json.loads(meta["best"])


def _end_reached(cfg: TrainConfig, step: int, elapsed: float, best: dict) -> bool:
    """Whether a run at (step, elapsed, best) has nothing left to do under ``cfg``'s limits."""
    return (step >= cfg.steps or (bool(cfg.time_limit) and elapsed >= cfg.time_limit)
            or (cfg.target_psnr is not None and best["psnr"] >= cfg.target_psnr))


def _continue_run(cfg: TrainConfig, out: Path, checkpoint: Path, lead: bool) -> bool:
    """Before resuming: False (and one line saying so) where the run has already reached its end;
    for a finished run whose limits were raised, reopen it (its summary.json goes) and say so.
    The lr schedule is the one of a run planned to the new end from the start (lr_factor of the
    step and seconds against the new limits): the lr rises to that schedule's value and decays to
    zero at the new end (the paper recipe's lr is constant)."""
    if not checkpoint.exists():
        return True
    step, elapsed, best = _resume_point(checkpoint)
    if _end_reached(cfg, step, elapsed, best):
        how = f"--steps N above {step}"
        if cfg.time_limit and elapsed >= cfg.time_limit:
            how += f" or --time-limit S above {elapsed:.0f}"
        log.info("%s already finished at step %d (%.0f s of training); to train it longer resume with %s",
                 out, step, elapsed, how)
        return False
    if run_finished(out):
        if lead:
            (out / "summary.json").unlink(missing_ok=True)
        end = f"step {cfg.steps}" + (f" or {cfg.time_limit:.0f} s" if cfg.time_limit else "")
        log.info("extending %s from step %d (%.0f s) to %s", out, step, elapsed, end)
    return True


def _progress_bar(cfg: TrainConfig, step: int, elapsed: float, enabled: bool):
    """Steps, or with a time limit the training seconds (the limit that usually ends such a run)."""
    from tqdm import tqdm

    if cfg.time_limit:
        return tqdm(total=round(cfg.time_limit), initial=round(min(elapsed, cfg.time_limit)), disable=not enabled,
                    unit="s", dynamic_ncols=True,
                    bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]")
    return tqdm(total=cfg.steps, initial=step, disable=not enabled, unit="step", dynamic_ncols=True)


def _advance(bar, cfg: TrainConfig, step: int, seconds: float) -> None:
    if cfg.time_limit:
        bar.update(min(seconds, cfg.time_limit) - bar.n)
        bar.set_description_str(f"step {step}", refresh=False)
    else:
        bar.update(1)


# ---- the run ---------------------------------------------------------------------------------------

def _load_planes(paths: list[Path], channels: int) -> list[tuple[str, np.ndarray]]:
    return [(p.stem, to_plane(read_image(p), channels)) for p in paths]


def validate(model: torch.nn.Module, val_images: list[tuple[str, np.ndarray]], cfg: TrainConfig,
             device: torch.device, dtype) -> tuple[float, float]:
    """Mean PSNR / SSIM on the validation images, with the evaluation protocol."""
    model.eval()
    upscaler = Upscaler(model, cfg.scale, "bf16" if dtype is not None else "fp32", device)
    degradation = training_degradation(cfg)
    scores = [evaluate_plane(img, cfg.scale, upscaler, degradation=degradation) for _, img in val_images]
    model.train()
    return float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores]))


def _setup_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE > 1) joins the process group:
    gloo on CPU, NCCL on CUDA with one GPU per local rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device


def _cuts_patches_on_device(cfg: TrainConfig, device: torch.device, degradation) -> bool:
    """Whether the patches are cut where the model trains (DevicePatches): on a GPU, for random
    crops of in-memory pairs whose degradation was applied once per image."""
    return (device.type == "cuda" and not cfg.stream and cfg.patch_mode == "random"
            and not degradation.random)


def _patch_source(cfg: TrainConfig, train_paths: list[Path], input_grid: str, device: torch.device):
    degradation = training_degradation(cfg)
    if cfg.stream:
        return StreamingPatches(train_paths, cfg.scale, cfg.patch_size, cfg.batch_size, degradation=degradation,
                                channels=cfg.channels, seed=cfg.seed, input_grid=input_grid)
    pairs = load_pairs(train_paths, cfg.scale, degradation, cfg.channels, cfg.patch_size,
                       tuple(cfg.hr_scales), input_grid)
    if _cuts_patches_on_device(cfg, device, degradation):
        return DevicePatches(pairs, cfg.patch_size, cfg.batch_size, device, seed=cfg.seed)
    return PatchSampler(pairs, cfg.patch_size, cfg.batch_size, mode=cfg.patch_mode, stride=cfg.stride,
                        augment=cfg.patch_mode == "random", seed=cfg.seed, degradation=degradation,
                        scale=cfg.scale, input_grid=input_grid)


def task_metadata(cfg: TrainConfig) -> dict[str, str]:
    """``{"task": ...}`` for a scale-1 model (denoise for noise, jpeg for JPEG), which `srcnn restore`
    requires; nothing for an up-scaler."""
    task = training_degradation(cfg).task if cfg.scale == 1 else None
    return {"task": task} if task else {}


def training_degradation(cfg: TrainConfig):
    """The config's degradation as an object (``--blur-sigma`` / ``--noise-sigma`` fill a bare name)."""
    from ..protocol.degrade import parse_degradation

    return parse_degradation(cfg.degradation, blur_sigma=cfg.blur_sigma, noise_sigma=cfg.noise_sigma)


def _agree(value: float, world: int, device: torch.device) -> float:
    """Rank 0's value on every rank (a no-op in one process). NCCL moves CUDA tensors only."""
    if world == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, 0)
    return float(tensor.item())


def _interior_border(model: torch.nn.Module, cfg: TrainConfig) -> int:
    """Target pixels per side whose receptive field reaches past the patch (``--interior-loss``)."""
    border = model.receptive_radius * model.config.upscale_factor
    if cfg.patch_size <= 2 * border:
        raise SRCNNError(f"--interior-loss: --patch-size {cfg.patch_size} leaves no pixel whose receptive field "
                         f"lies inside it (the network sees {border} HR pixels each side); use more than {2 * border}")
    return border


def load_teacher(cfg: TrainConfig, model: torch.nn.Module, device: torch.device) -> torch.nn.Module | None:
    """The frozen model whose output ``--teacher`` blends into the targets, or None without one: it
    must take the same input as ``model`` (grid, scale, channels)."""
    if not cfg.teacher:
        return None
    if not 0.0 < cfg.teacher_weight <= 1.0:
        raise SRCNNError(f"--teacher-weight {cfg.teacher_weight}: must lie in (0, 1]")
    try:
        teacher, _ = resolve_model(cfg.teacher, cfg.scale)  # a shipped name, an alias or a file, of this scale
    except SRCNNError as exc:
        raise SRCNNError(f"--teacher: {exc}") from None
    mine = model.config
    for what, theirs, ours in (("input grid", teacher.config.input_grid, mine.input_grid),
                               ("channels", teacher.config.channels, cfg.channels)):
        if theirs != ours:
            raise SRCNNError(f"--teacher {cfg.teacher}: its {what} is {theirs}, the model trained here has {ours}")
    if teacher.train_crop > model.train_crop:
        raise SRCNNError(f"--teacher {cfg.teacher}: it leaves out {teacher.train_crop} pixels per side of a patch, "
                         f"more than the {model.train_crop} the model trained here does")
    return teacher.to(device).to(memory_format=torch.channels_last).eval().requires_grad_(False)


def _moving_average(model: torch.nn.Module, cfg: TrainConfig) -> torch.nn.Module | None:
    """A frozen copy of ``model`` that ``_update_average`` keeps as the exponential moving average
    of its weights (``cfg.ema``, the decay), or None where the run keeps none."""
    if not cfg.ema:
        return None
    return copy.deepcopy(model).requires_grad_(False)


@torch.no_grad()
def _update_average(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * model, for every parameter (buffers are copied)."""
    torch._foreach_lerp_(list(average.parameters()), [p.detach() for p in model.parameters()], 1.0 - decay)
    for mine, theirs in zip(average.buffers(), model.buffers()):
        mine.copy_(theirs)


def train(cfg: TrainConfig, progress: bool = True, stop_at: int | None = None) -> Path:
    """Train (or resume) a run in ``cfg.out``; returns the path of the best weights.

    Runs as one process or under torchrun (DDP): every rank takes its share of the same global
    batch, and rank 0 alone validates, logs and writes checkpoints. ``stop_at`` ends this process
    early at that step (as if killed there) without changing the run's schedule; ``resume=True``
    continues it later, with any number of processes."""
    device = _device(cfg.device)
    rank, world, device = _setup_distributed(device)
    lead = rank == 0
    out = Path(cfg.out)
    ckpt_path, best_path, log_path = out / "checkpoint.safetensors", out / "best.safetensors", out / "log.csv"
    if ckpt_path.exists() and not cfg.resume:
        raise SRCNNError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if cfg.stream and cfg.hr_scales:
        raise SRCNNError("--hr-scales needs the in-memory data (drop --stream)")
    if cfg.ema and not 0.0 < cfg.ema < 1.0:
        raise SRCNNError(f"--ema {cfg.ema}: the decay must lie between 0 and 1 (e.g. 0.999), or 0 for none")
    if cfg.resume:  # the same checks for API callers as for the CLI, before anything is written
        saved = _saved_config(out)
        if saved is not None:
            _check_resume_config(saved, asdict(cfg), out)
        if not _continue_run(cfg, out, ckpt_path, lead):
            return best_path
    if cfg.batch_size % world:
        raise SRCNNError(f"--batch-size {cfg.batch_size} does not split evenly over {world} processes")
    torch.manual_seed(cfg.seed)
    model = build_model(cfg)  # and what refuses the run's options with it, before anything is written
    crop = model.train_crop  # target pixels per side that forward(same_size=False) leaves out
    interior = _interior_border(model, cfg) if cfg.interior_loss and not crop else 0
    teacher = load_teacher(cfg, model, device)
    if lead:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "config.json", json.dumps(asdict(cfg), indent=2))  # other ranks may read it
    dtype = resolve_precision(cfg.precision, device)
    if device.type == "cuda" and dtype is None:
        # --precision fp32 means float32: PyTorch's default lets cuDNN convolve in TF32 (10-bit
        # mantissas), whose rounding noise is of the size of the last fine-tuning gains
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False

    # data: training patches and a held-out validation split of the training images
    paths = [p for d in cfg.data for p in list_images(d)]
    if cfg.val_data:
        train_paths, val_paths = paths, [p for d in cfg.val_data for p in list_images(d)]
    else:
        train_paths, val_paths = split_validation(paths, cfg.val_count)
    config = model.config
    source = _patch_source(cfg, train_paths, config.input_grid, device)
    val_images = _load_planes(val_paths, cfg.channels) if lead else []
    monitor_paths = [p for d in cfg.monitor_data or [] for p in list_images(d)]
    monitor_images = _load_planes(monitor_paths, cfg.channels) if lead else []
    log.info("%s: %d training images (%s), %d validation images, %d processes", out, len(train_paths),
             "streamed" if cfg.stream else "in memory", len(val_paths), world)

    # model and optimiser
    if cfg.init_from:
        load_initial_weights(model, cfg.init_from, cfg)
    model.to(device).to(memory_format=torch.channels_last).train()
    optimizer = build_optimizer(model, cfg)
    average = _moving_average(model, cfg)  # what is validated and kept, where the run averages
    scored = average if average is not None else model
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    step, best, elapsed = 0, {"psnr": -1.0, "ssim": 0.0, "step": 0}, 0.0
    if cfg.resume and ckpt_path.exists():
        step, best, elapsed = load_checkpoint(ckpt_path, model, optimizer, average)
        log.info("resumed %s at step %d", ckpt_path, step)
    net = DistributedDataParallel(model) if world > 1 else model
    if lead and not log_path.exists():
        with log_path.open("w", newline="") as f:
            csv.writer(f).writerow(["step", "backprops", "loss", "val_psnr", "val_ssim", "lr", "seconds",
                                    "monitor_psnr"])

    last = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    workers = cfg.workers if cfg.workers is not None else (2 if cfg.stream else 0)
    if isinstance(source, DevicePatches):
        batches = (source.batch(s, rank, world) for s in range(step, last))
    else:
        batches = DataLoader(StepBatches(source, rank, world), batch_size=None, sampler=range(step, last),
                             num_workers=workers, persistent_workers=False)
    bar = _progress_bar(cfg, step, elapsed, progress and lead)
    start, running = time.time() - elapsed, []
    out_of_time = False
    for x, y in batches:
        seconds = time.time() - start
        if cfg.time_limit:  # every rank follows rank 0's clock, so lr and the stop agree
            seconds = _agree(seconds, world, device)
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * lr_factor(step, cfg, seconds)
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        y = y.to(device)
        if crop:
            y = y[..., crop:-crop, crop:-crop]  # score only pixels with full context
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            pred = net(x, same_size=False)
        if teacher is not None:
            with torch.no_grad():
                taught = teacher(x, same_size=False).float()
            extra = crop - teacher.train_crop  # the teacher's output reaches that much further out
            if extra:
                taught = taught[..., extra:-extra, extra:-extra]
            y = torch.lerp(y, taught, cfg.teacher_weight)
        if interior:  # the prediction too: an LR-grid model's output covers the whole patch
            pred = pred[..., interior:-interior, interior:-interior]
            y = y[..., interior:-interior, interior:-interior]
        loss = compute_loss(pred.float(), y, cfg)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients of the ranks' shares: the global batch's gradient
        optimizer.step()
        if average is not None:
            _update_average(average, model, cfg.ema)
        step += 1
        running.append(loss.detach())  # read back only when logged: no device sync per step
        _advance(bar, cfg, step, seconds)
        out_of_time = bool(cfg.time_limit) and seconds >= cfg.time_limit
        if step % cfg.val_every and step != cfg.steps and not out_of_time:
            continue
        stop = False
        mean_loss = torch.stack(running).mean().item()
        if lead:
            val_psnr, val_ssim = validate(scored, val_images, cfg, device, dtype)
            if val_psnr > best["psnr"]:
                best = {"psnr": val_psnr, "ssim": val_ssim, "step": step}
                save_model(scored, best_path, cfg.scale, val_psnr=round(val_psnr, 4), step=step,
                           recipe=cfg.recipe, degradation=cfg.degradation, **task_metadata(cfg))
            monitor = f"{validate(scored, monitor_images, cfg, device, dtype)[0]:.4f}" if monitor_images else ""
            with log_path.open("a", newline="") as f:
                csv.writer(f).writerow([step, step * cfg.batch_size, f"{mean_loss:.6g}", f"{val_psnr:.4f}",
                                        f"{val_ssim:.5f}", f"{optimizer.param_groups[0]['lr']:.3g}",
                                        f"{time.time() - start:.1f}", monitor])
            bar.set_postfix(loss=f"{mean_loss:.3g}", val_psnr=f"{val_psnr:.3f}", best=f"{best['psnr']:.3f}")
            stop = cfg.target_psnr is not None and val_psnr >= cfg.target_psnr
            if stop:
                log.info("validation PSNR %.3f reached the target %.2f at step %d", val_psnr, cfg.target_psnr, step)
            if out_of_time:
                log.info("time limit of %.0f s reached at step %d", cfg.time_limit, step)
            finished = stop or out_of_time or step == cfg.steps
            save_checkpoint(ckpt_path, model, optimizer, step, best, cfg, time.time() - start, average)
            if finished:
                write_text_atomic(out / "summary.json", json.dumps(
                    {"step": step, "backprops": step * cfg.batch_size, "seconds": round(time.time() - start, 1),
                     "best": best, "device": _device_name(device)}, indent=2))
        running = []
        stop = bool(_agree(float(stop), world, device))  # every rank learns whether rank 0 stopped
        if stop or out_of_time:
            break
    bar.close()
    if world > 1:
        dist.barrier()
    return best_path
