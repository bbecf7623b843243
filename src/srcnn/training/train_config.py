"""The training configuration, free of torch so that the CLI can show its defaults without
importing torch (``srcnn train --help``). ``srcnn.training.train`` re-exports it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol.degrade import DEFAULT_BLUR_SIGMA, DEFAULT_NOISE_SIGMA

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    data: list[str] = field(default_factory=list)
    out: str = "runs/srcnn"
    scale: int = 3
    # model
    arch: str = "9-5-5"
    n1: int = 64
    n2: int = 32
    channels: int = 1
    residual: bool = True
    family: str = "srcnn"  # or "fsrcnn": the network on the LR grid (then dsm, upsampler, activation)
    dsm: tuple[int, int, int] = (56, 12, 4)  # FSRCNN's d, s, m; FSRCNN-s is (32, 5, 1)
    upsampler: str = "subpixel"  # FSRCNN's last layer: "subpixel" or the paper's "deconv"
    activation: str = "prelu"  # FSRCNN's non-linearity: "prelu" (the paper) or "relu"
    init: str = "kaiming"  # or "paper"
    init_from: str | None = None  # start from these weights (e.g. the x3 model for x2 / x4)
    train_layers: str = "all"  # or "last": train only the last layer (the FSRCNN paper's transfer)
    restorer: str | None = None  # a scale-1 restorer (or a cascade: its restorer) run in front of the network
    # data
    degradation: str = "bicubic"
    blur_sigma: float = DEFAULT_BLUR_SIGMA
    noise_sigma: float = DEFAULT_NOISE_SIGMA
    patch_mode: str = "random"  # or "grid": the paper's sub-images
    patch_size: int = 48
    stride: int = 14
    hr_scales: tuple[float, ...] = ()  # extra down-scaled copies of each HR image (in memory only)
    batch_size: int = 64
    val_data: list[str] | None = None  # a folder of validation images; default: held out from data
    val_count: int = 10
    monitor_data: list[str] | None = None  # a test folder logged for curves only; never used to select
    # optimisation
    recipe: str = "adam"  # or "paper"
    lr: float | None = None  # default: 1e-3 (adam) or 1e-4 (paper)
    loss: str = "mse"  # or "l1"
    # score only the target pixels whose whole receptive field lies inside the patch (an LR-grid model
    # pads every layer, so pixels near a patch's edge see replicated context that inference never
    # shows them away from the image's own border)
    interior_loss: bool = False
    # knowledge distillation: a trained model of the same scale and grid (e.g. FSRCNN_X3 for FSRCNN-s)
    # whose output is blended into the target, target = (1 - w) * HR + w * teacher's output: the same
    # as adding w * MSE(prediction, teacher) to (1 - w) * MSE(prediction, HR)
    teacher: str | None = None
    teacher_weight: float = 0.5
    steps: int = 20000
    time_limit: float | None = None  # seconds of training; the schedule then runs on wall time
    warmup_steps: int = 200
    # decay of an exponential moving average of the weights (0: off; e.g. 0.999). With it, validation,
    # the best weights and the run's output are the average's: it smooths the last steps' noise
    ema: float = 0.0
    val_every: int = 1000
    precision: str = "auto"  # fp32, bf16 or auto (bf16 where the CPU has AMX / AVX-512 BF16)
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    target_psnr: float | None = None  # stop once validation PSNR reaches this (time-to-quality runs)
    stream: bool = False  # decode images on demand (flat memory for any dataset size) instead of in memory
    workers: int | None = None  # DataLoader worker processes (default: 2 when streaming, else 0)

    @classmethod
    def paper(cls, **overrides) -> "TrainConfig":
        """The authors' recipe."""
        base = dict(recipe="paper", init="paper", residual=False, patch_mode="grid", patch_size=33,
                    batch_size=128, lr=1e-4)
        base.update(overrides)
        return cls(**base)
