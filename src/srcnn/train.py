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
torch RNG, so ``resume=True`` continues a killed run exactly where it stopped. Under torchrun the
same code runs as DDP: each rank takes its share of the global batch (docs/distributed.md).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, safe_open
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .color import to_plane
from .data import PatchSampler, StepBatches, StreamingPatches, load_pairs, split_validation
from .errors import SRCNNError
from .evaluate import evaluate_plane
from .imageio import list_images, read_image, write_text_atomic
from .infer import Upscaler, resolve_precision
from .models import FSRCNN, SRCNN, FSRCNNConfig, SRCNNConfig
from .train_config import TrainConfig  # kept torch-free so `srcnn --help` need not import torch
from .weights import atomic_save_safetensors, load_model, save_model

__all__ = ["TrainConfig", "train"]

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
    return model


def load_initial_weights(model: torch.nn.Module, path: str, cfg: TrainConfig) -> None:
    """Start from ``path``: the same architecture loads whole; a model of the same family made for
    another scale (FSRCNN x3 for x2 / x4, as the paper transfers) loads all but its scale-specific
    last layer. ``cfg.train_layers == "last"`` then freezes everything but the last layer."""
    pretrained, _ = load_model(path)
    if pretrained.config == model.config:
        model.load_state_dict(pretrained.state_dict())
    elif (pretrained.config.family == model.config.family and hasattr(model.config, "scale")
          and replace(pretrained.config, scale=model.config.scale) == model.config):
        shared = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("last.")}
        model.load_state_dict(shared, strict=False)
    else:
        raise SRCNNError(f"{path}: architecture {pretrained.config} differs from {model.config}")
    if cfg.train_layers == "last":
        last = set(map(id, model.last_layer.parameters()))
        for p in model.parameters():
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
                    cfg: TrainConfig, elapsed: float = 0.0) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for idx, state in opt["state"].items():
        for key, value in state.items():
            tensors[f"optim.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"format": "srcnn-checkpoint", "step": str(step), "best": json.dumps(best), "elapsed": f"{elapsed:.3f}",
            "param_groups": json.dumps(opt["param_groups"]), "config": json.dumps(asdict(cfg))}
    atomic_save_safetensors(tensors, path, meta)


def read_checkpoint_metadata(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != "srcnn-checkpoint":
        raise SRCNNError(f"{path}: not an SRCNN training checkpoint")
    return meta


def run_finished(out: str | Path) -> bool:
    """Whether the run in ``out`` reached its end (steps, time limit or target): its summary.json,
    written last, says so even where the checkpoint was not kept."""
    return (Path(out) / "summary.json").exists()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict, float]:
    """Restore model, optimiser and torch RNG; returns (step, best validation, seconds trained so far)."""
    meta = read_checkpoint_metadata(path)
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    torch.set_rng_state(tensors["rng.torch"])
    return int(meta["step"]), json.loads(meta["best"]), float(meta.get("elapsed", 0.0))


# ---- the run ---------------------------------------------------------------------------------------

def _load_planes(paths: list[Path], channels: int) -> list[tuple[str, np.ndarray]]:
    return [(p.stem, to_plane(read_image(p), channels)) for p in paths]


def validate(model: torch.nn.Module, val_images: list[tuple[str, np.ndarray]], cfg: TrainConfig,
             device: torch.device, dtype) -> tuple[float, float]:
    """Mean PSNR / SSIM on the validation images, with the evaluation protocol."""
    model.eval()
    upscaler = Upscaler(model, cfg.scale, "bf16" if dtype is not None else "fp32", device)
    scores = [evaluate_plane(img, cfg.scale, upscaler, degradation=cfg.degradation,
                            blur_sigma=cfg.blur_sigma, noise_sigma=cfg.noise_sigma) for _, img in val_images]
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


def _patch_source(cfg: TrainConfig, train_paths: list[Path], input_grid: str):
    noise = cfg.noise_sigma if cfg.degradation == "noise" else None
    degrade_kwargs = {"blur_sigma": cfg.blur_sigma} if cfg.degradation == "blur" else {}
    if cfg.stream:
        return StreamingPatches(train_paths, cfg.scale, cfg.patch_size, cfg.batch_size, degradation=cfg.degradation,
                                channels=cfg.channels, seed=cfg.seed, noise_sigma=noise, input_grid=input_grid,
                                **degrade_kwargs)
    pairs = load_pairs(train_paths, cfg.scale, cfg.degradation, cfg.channels, cfg.patch_size,
                       tuple(cfg.hr_scales), input_grid, **degrade_kwargs)
    return PatchSampler(pairs, cfg.patch_size, cfg.batch_size, mode=cfg.patch_mode, stride=cfg.stride,
                        augment=cfg.patch_mode == "random", seed=cfg.seed, noise_sigma=noise)


def _agree(value: float, world: int, device: torch.device) -> float:
    """Rank 0's value on every rank (a no-op in one process). NCCL moves CUDA tensors only."""
    if world == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, 0)
    return float(tensor.item())


def train(cfg: TrainConfig, progress: bool = True, stop_at: int | None = None) -> Path:
    """Train (or resume) a run in ``cfg.out``; returns the path of the best weights.

    Runs as one process or under torchrun (DDP): every rank takes its share of the same global
    batch, and rank 0 alone validates, logs and writes checkpoints. ``stop_at`` ends this process
    early at that step (as if killed there) without changing the run's schedule; ``resume=True``
    continues it later, with any number of processes."""
    from tqdm import tqdm

    device = _device(cfg.device)
    rank, world, device = _setup_distributed(device)
    lead = rank == 0
    out = Path(cfg.out)
    ckpt_path, best_path, log_path = out / "checkpoint.safetensors", out / "best.safetensors", out / "log.csv"
    if ckpt_path.exists() and not cfg.resume:
        raise SRCNNError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if cfg.stream and cfg.hr_scales:
        raise SRCNNError("--hr-scales needs the in-memory data (drop --stream)")
    if cfg.batch_size % world:
        raise SRCNNError(f"--batch-size {cfg.batch_size} does not split evenly over {world} processes")
    if lead:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    torch.manual_seed(cfg.seed)
    dtype = resolve_precision(cfg.precision, device)

    # data: training patches and a held-out validation split of the training images
    paths = [p for d in cfg.data for p in list_images(d)]
    if cfg.val_data:
        train_paths, val_paths = paths, [p for d in cfg.val_data for p in list_images(d)]
    else:
        train_paths, val_paths = split_validation(paths, cfg.val_count)
    model = build_model(cfg)
    config = model.config
    source = _patch_source(cfg, train_paths, config.input_grid)
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
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    step, best, elapsed = 0, {"psnr": -1.0, "ssim": 0.0, "step": 0}, 0.0
    if cfg.resume and ckpt_path.exists():
        step, best, elapsed = load_checkpoint(ckpt_path, model, optimizer)
        if run_finished(out):
            log.info("%s already finished at step %d", out, step)
            return best_path
        log.info("resumed %s at step %d", ckpt_path, step)
    net = DistributedDataParallel(model) if world > 1 else model
    if lead and not log_path.exists():
        with log_path.open("w", newline="") as f:
            csv.writer(f).writerow(["step", "backprops", "loss", "val_psnr", "val_ssim", "lr", "seconds",
                                    "monitor_psnr"])

    last = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    workers = cfg.workers if cfg.workers is not None else (2 if cfg.stream else 0)
    batches = DataLoader(StepBatches(source, rank, world), batch_size=None, sampler=range(step, last),
                         num_workers=workers, persistent_workers=False)
    crop = model.train_crop  # target pixels per side that forward(same_size=False) leaves out
    bar = tqdm(total=cfg.steps, initial=step, disable=not (progress and lead), unit="step", dynamic_ncols=True)
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
        loss = compute_loss(pred.float(), y, cfg)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients of the ranks' shares: the global batch's gradient
        optimizer.step()
        step += 1
        running.append(loss.item())
        bar.update(1)
        out_of_time = bool(cfg.time_limit) and seconds >= cfg.time_limit
        if step % cfg.val_every and step != cfg.steps and not out_of_time:
            continue
        stop = False
        if lead:
            val_psnr, val_ssim = validate(model, val_images, cfg, device, dtype)
            if val_psnr > best["psnr"]:
                best = {"psnr": val_psnr, "ssim": val_ssim, "step": step}
                save_model(model, best_path, cfg.scale, val_psnr=round(val_psnr, 4), step=step,
                           recipe=cfg.recipe, degradation=cfg.degradation)
            monitor = f"{validate(model, monitor_images, cfg, device, dtype)[0]:.4f}" if monitor_images else ""
            with log_path.open("a", newline="") as f:
                csv.writer(f).writerow([step, step * cfg.batch_size, f"{np.mean(running):.6g}", f"{val_psnr:.4f}",
                                        f"{val_ssim:.5f}", f"{optimizer.param_groups[0]['lr']:.3g}",
                                        f"{time.time() - start:.1f}", monitor])
            bar.set_postfix(loss=f"{np.mean(running):.3g}", val_psnr=f"{val_psnr:.3f}", best=f"{best['psnr']:.3f}")
            stop = cfg.target_psnr is not None and val_psnr >= cfg.target_psnr
            if stop:
                log.info("validation PSNR %.3f reached the target %.2f at step %d", val_psnr, cfg.target_psnr, step)
            if out_of_time:
                log.info("time limit of %.0f s reached at step %d", cfg.time_limit, step)
            finished = stop or out_of_time or step == cfg.steps
            save_checkpoint(ckpt_path, model, optimizer, step, best, cfg, time.time() - start)
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
