"""The ``srcnn`` command: a thin layer over the Python API.

    srcnn upscale INPUT... -o OUTPUT --scale {2,3,4} [--model NAME_OR_PATH] [--method srcnn|bicubic]
    srcnn evaluate DATA_DIR --scale S [--model NAME_OR_PATH | --method bicubic] [--json FILE]
    srcnn train --data DIR [DIR...] --scale S --out RUN_DIR [...]   (also under torchrun)
    srcnn export --model NAME_OR_PATH --format onnx [-o FILE]
    srcnn models [NAME]                                            (the shipped models and their cards)
    srcnn learn-dictionary --data DIR [DIR...] --scale S -o FILE   (sparse-coding baseline)
    srcnn reproduce --data DIR --out DIR [--budget quick|paper]
    srcnn serve [--host 127.0.0.1] [--port 8000] [--workers N] [--token TOKEN]   (needs the serve extra)
    srcnn batch INPUT -o OUTPUT --scale S [--engine ray|local] [--address auto|HOST:PORT] [--workers N]

Every user error ends in one line on stderr; no partial output files. Exit codes: 0 all done,
1 some inputs failed (the others were written), 2 bad usage or input (nothing done).
Building the parser imports no torch: ``srcnn --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

from ..constants import METHODS, PRECISIONS, SCALES
from ..errors import SRCNNError

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_ERROR = 2

EPILOG = "exit codes: 0 all done, 1 some inputs failed (the others were written), 2 bad usage or input"

ONNX_CONTRACT = """\
Export a model to ONNX. The contract of the graph:
  input  "input": float32, (N, C, H, W), N, H and W dynamic, on the model's input grid (metadata
         "input_grid"): "hr" (SRCNN): the image already upscaled by bicubic (MATLAB-exact,
         srcnn.protocol.resize.imresize); "lr" (FSRCNN): the low-resolution image itself. C = 1: its Y plane
         (MATLAB's rgb2ycbcr, BT.601, studio range) divided by 255, so in [0, 1]; C = 3 for an RGB
         model: RGB in [0, 1].
  output "output": (N, C, H * f, W * f), f = 1 for "hr" and the scale for "lr": the restored plane,
         clamped to [0, 1]. Borders are padded inside the graph. Cb / Cr of a colour image stay bicubic.
  metadata: format, family, input_grid, arch, the family's widths, channels, residual and scale."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default (unless it already says, or it has none)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.option_strings and "default" not in text and "%(default)" not in text
                and action.default is not None and action.default is not False and action.default != argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other error of ours."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("epilog", EPILOG)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100, got {value}")
    return value


def _human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _wrote(path: str | Path, start: float, note: str = "") -> str:
    """The closing line of a command: what it wrote, how big, how long."""
    path = Path(path)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    extra = f"; {note}" if note else ""
    return f"wrote {path} ({_human_size(size)}, {time.perf_counter() - start:.1f} s{extra})"


def _add_speed_options(parser: argparse.ArgumentParser, default_precision: str) -> None:
    parser.add_argument("--precision", default=default_precision, choices=PRECISIONS,
                        help="auto: bf16 where the CPU has AMX / AVX-512 BF16, or on CUDA")
    parser.add_argument("--tile", type=int, help="tile side in output pixels (default: automatic above 1 megapixel; 0: never)")
    parser.add_argument("--threads", type=_positive_int, help="torch threads (default: all cores)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (CUDA when available)")


def _add_picture_options(parser: argparse.ArgumentParser) -> None:
    """Inputs, output, formats, speed and existing-file options: shared by upscale and restore."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image or video files, or folders of images (recursive); - reads a video stream from stdin")
    parser.add_argument("-o", "--output", required=True,
                        help="an output file (one input; an image or video extension) or a folder (a name without an "
                         "extension, one ending in '/', or an existing folder); - writes a video stream to stdout")
    parser.add_argument("--container", default="matroska", choices=("matroska", "mpegts"),
                        help="the format of a video written to stdout (-o -)")
    parser.add_argument("--ext", default="auto", choices=("auto", "png", "jpg", "webp", "tif"),
                        help="output format into a folder; auto keeps each input's format (GIF becomes PNG)")
    _add_speed_options(parser, default_precision="auto")
    _add_ensemble_option(parser)
    parser.add_argument("--compile", default="auto", choices=("auto", "on", "off"),
                        help="run the network through torch.compile: faster a frame, after seconds of compiling per "
                         "frame size; auto: for videos, except with FSRCNN models, whose own inference form runs "
                         "a short clip faster eagerly (default: auto)")
    parser.add_argument("--quality", type=_quality,
                        help="JPEG / WebP quality, 1-100 (default: 95); refused for other formats. Alpha written to "
                         "JPEG / BMP / PPM is dropped with a one-line warning")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true",
                          help="replace outputs that already exist (default: stop with an error naming the first)")
    existing.add_argument("--skip-existing", action="store_true", help="leave outputs that already exist alone")
    parser.add_argument("--max-pixels", type=_positive_int,
                        help="raise Pillow's decompression-bomb limit, in pixels per image (default: Pillow's, about 89 M)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars and no per-file lines (bars show only on a terminal anyway)")


def _upscaler_from(args):
    import torch

    from ..inference import make_upscaler, resolve_device

    resolve_device(args.device)  # a missing GPU is one line, before any model loads
    if args.threads:
        torch.set_num_threads(args.threads)
    if getattr(args, "task", None):  # srcnn restore: a scale-1 model for the task, same path after this
        from ..inference import Upscaler
        from ..models.weights import load_restorer

        model, _ = load_restorer(args.model, args.task)
        upscaler = Upscaler(model, 1, args.precision, args.device, args.tile, ensemble=args.ensemble)
    else:
        upscaler = make_upscaler(args.scale, args.model, args.method, args.precision, args.device, args.tile,
                                 ensemble=getattr(args, "ensemble", False))
    _freeze_heap()
    return upscaler


def _freeze_heap() -> None:
    """Move every object alive now (torch's modules, the model) out of the garbage collector's reach:
    they live until exit anyway, and the collector no longer walks them, neither in the full
    collections a long video triggers nor in the one at exit, which took about 0.5 s after
    `import torch` alone (`benchmarks/realtime.py` times whole processes)."""
    import gc

    gc.freeze()


def _add_ensemble_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ensemble", action="store_true",
                        help="geometric self-ensemble: average the network over the 8 rotations and mirror images "
                         "of the input (8x the time, a little sharper and cleaner)")


def _degradation_spec(text: str) -> str:
    """argparse type for --degradation: a spec parse_degradation accepts, kept as written."""
    from ..protocol.degrade import parse_degradation
    from ..errors import SRCNNError

    try:
        parse_degradation(text)
    except SRCNNError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip().lower()


def _parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ..protocol.degrade import DEGRADATIONS
    from ..training.train_config import TrainConfig

    parser = _Parser(prog="srcnn", description="SRCNN image super-resolution. `srcnn COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"srcnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    up = sub.add_parser("upscale", help="upscale images or videos: a file to a file, or files / folders to a folder",
                        description="Upscale images (and videos, frame by frame). Every output is planned before any\n"
                                    "work: an output that is an input, two inputs with one output, or an existing\n"
                                    "output (without --overwrite / --skip-existing) stops the command, nothing written.\n"
                                    "A folder walk never enters the output folder. Ends with one line: what it wrote.")
    _add_picture_options(up)
    up.add_argument("--scale", type=int, required=True, choices=SCALES, help="up-scaling factor")
    up.add_argument("--model", help="a shipped model's name or kind (srcnn, fsrcnn, fsrcnn-s, real for JPEG / noisy "
                                    "inputs, srcnn-real: the one for --scale; see `srcnn models`) or a .safetensors "
                                    "file (default: fsrcnn)")
    up.add_argument("--method", default="srcnn", choices=METHODS,
                    help="srcnn (the network), bicubic (MATLAB-exact) or sparse-coding (ScSR); --model needs srcnn")

    rs = sub.add_parser("restore", help="denoise or remove JPEG artefacts at scale 1: same files, folders, formats "
                                        "and tiles as upscale",
                        description="Restore images at their own size with a scale-1 model (srcnn train --scale 1\n"
                                    "--degradation noise:0-50 makes a denoiser, jpeg:5-90 a JPEG-artefact remover).\n"
                                    "Inputs, outputs, formats, tiles and errors work exactly as in `srcnn upscale`.")
    rs.add_argument("--task", required=True, metavar="TASK", help="denoise or jpeg: what the model must be for")
    rs.add_argument("--model", metavar="NAME_OR_PATH",
                    help="a shipped restorer's name or a scale-1 .safetensors file whose metadata names --task "
                         "(default: the shipped model for --task, see `srcnn models`)")
    _add_picture_options(rs)

    ev = sub.add_parser("evaluate", help="PSNR / SSIM on a folder of HR images, with the papers' protocol")
    ev.add_argument("data_dir", metavar="DATA_DIR", help="a folder of high-resolution images (e.g. Set5)")
    ev.add_argument("--scale", type=int, required=True, choices=(1,) + SCALES,
                    help="up-scaling factor; 1 scores a restorer (--model denoise or jpeg) or, with --method "
                         "bicubic, the degraded input itself")
    ev.add_argument("--model", help="a shipped model's name or kind, or a .safetensors file (default: the shipped "
                                    "model for --scale)")
    ev.add_argument("--method", choices=METHODS, default="srcnn", help="what to score; --model needs srcnn")
    ev.add_argument("--json", metavar="FILE", help="also write the scores as JSON (default: none)")
    ev.add_argument("--degradation", default="bicubic", type=_degradation_spec,
                    help="applied to the LR image after the MATLAB down-scaling: jpeg:75, noise:10, real, "
                         "blur:1.6, ... (default: bicubic, the papers' protocol)")
    ev.add_argument("--seed", type=int, default=0, help="seed of a random --degradation (default: 0)")
    _add_speed_options(ev, default_precision="fp32")
    _add_ensemble_option(ev)

    ex = sub.add_parser("export", help="export a model to ONNX (dynamic height and width, output clamped to [0, 1])",
                        description=ONNX_CONTRACT)
    ex.add_argument("--model", required=True, help="a shipped model's name or a .safetensors file")
    ex.add_argument("--format", default="onnx", choices=("onnx",), help="the only format so far")
    ex.add_argument("-o", "--output", help="output file (default: the model's name with .onnx, here)")
    ex.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    ex.add_argument("--scale", type=int, choices=SCALES,
                    help="the scale of a model named by kind (srcnn, fsrcnn, fsrcnn-s, real, srcnn-real) "
                         "(default: none)")
    ex.add_argument("--overwrite", action="store_true", help="replace the output if it exists (default: refuse)")

    md = sub.add_parser("models", help="list the shipped models with their cards (scale, size, scores, file)")
    md.add_argument("name", nargs="?", metavar="NAME", help="show this model's whole card (default: list them all)")

    tr = sub.add_parser("train", help="train an SRCNN model (resumable)")
    defaults = TrainConfig()
    tr.add_argument("--data", nargs="+", metavar="DIR",
                    help="folders of HR images (default: none; required, except with --resume: the run's "
                         "config.json has them)")
    tr.add_argument("--out", required=True, metavar="RUN_DIR", help="the run's folder: checkpoints, log, best weights")
    tr.add_argument("--scale", type=int, default=defaults.scale, choices=(1,) + SCALES,
                    help="up-scaling factor; 1 trains a restorer (e.g. with --degradation noise)")
    tr.add_argument("--arch", default=defaults.arch, help="filter sizes, e.g. 9-5-5, 9-1-5, 9-3-5")
    tr.add_argument("--n1", type=int, default=defaults.n1, help="filters of the first layer")
    tr.add_argument("--n2", type=int, default=defaults.n2, help="filters of the second layer")
    tr.add_argument("--channels", type=int, default=defaults.channels, choices=(1, 3), help="1: Y, 3: RGB")
    tr.add_argument("--residual", action=argparse.BooleanOptionalAction, default=None,
                    help="add the bicubic input to the output (default: on for adam, off for paper)")
    tr.add_argument("--family", default=defaults.family, choices=("srcnn", "fsrcnn"),
                    help="srcnn: the network on the bicubic-upscaled image; fsrcnn: on the LR image")
    tr.add_argument("--dsm", type=int, nargs=3, metavar=("D", "S", "M"),
                    help="FSRCNN's widths d, s and mapping layers m (default: 56 12 4; FSRCNN-s: 32 5 1)")
    tr.add_argument("--upsampler", default=defaults.upsampler, choices=("subpixel", "deconv"),
                    help="FSRCNN's last layer: sub-pixel convolution or the paper's 9x9 transposed one")
    tr.add_argument("--activation", default=defaults.activation, choices=("prelu", "relu"),
                    help="FSRCNN's non-linearity")
    tr.add_argument("--init", choices=("kaiming", "paper"), help="weight init (default: the recipe's)")
    tr.add_argument("--init-from", metavar="WEIGHTS",
                    help="start from these weights, fine-tuning; an FSRCNN of another scale loads all but its "
                         "last layer, the paper's transfer (default: none)")
    tr.add_argument("--restorer", metavar="WEIGHTS",
                    help="a scale-1 restorer (e.g. the shipped denoiser's file, or a cascade's file: its restorer) "
                         "to run in front of the network on the LR grid, trained with it: a cascade that cleans, "
                         "then up-scales (FSRCNN family; default: none)")
    tr.add_argument("--train-layers", default=defaults.train_layers, choices=("all", "last"),
                    help="with --init-from: train every layer or only the last")
    tr.add_argument("--degradation", default=defaults.degradation, type=_degradation_spec,
                    help=f"how LR inputs are made from HR images: {', '.join(DEGRADATIONS)}, with a level or "
                         "range where it takes one (blur:1.0-2.0, noise:0-50, jpeg:5-90), or a mixture joined by + "
                         "(real+jpeg:40-95+bicubic: each patch draws one of them)")
    tr.add_argument("--blur-sigma", type=float, default=defaults.blur_sigma, help="Gaussian sigma of --degradation blur")
    tr.add_argument("--noise-sigma", type=float, default=defaults.noise_sigma,
                    help="noise of --degradation noise, in 0..255 units")
    tr.add_argument("--patch-mode", choices=("random", "grid"),
                    help="random crops or the paper's grid of sub-images (default: the recipe's)")
    tr.add_argument("--patch-size", type=int, help="training patch side in HR pixels (default: 48, or 33 for paper)")
    tr.add_argument("--stride", type=int, default=defaults.stride, help="grid stride of --patch-mode grid")
    tr.add_argument("--hr-scales", type=float, nargs="+", metavar="F",
                    help="also train on HR images down-scaled by these factors, e.g. 0.9 0.8 0.7 0.6 (default: none)")
    tr.add_argument("--batch-size", type=int, help="patches per step (default: 64, or 128 for paper)")
    tr.add_argument("--val-data", nargs="+", metavar="DIR", help="validation folder (default: held out from --data)")
    tr.add_argument("--val-count", type=int, default=defaults.val_count, help="images held out for validation")
    tr.add_argument("--monitor-data", nargs="+", metavar="DIR",
                    help="a test folder whose PSNR is logged for curves only, never used to pick checkpoints "
                         "(default: none)")
    tr.add_argument("--recipe", default=defaults.recipe, choices=("adam", "paper"),
                    help="adam (fast, warm-up + cosine) or paper (the authors' SGD)")
    tr.add_argument("--lr", type=float, help="learning rate (default: 1e-3 for adam, 1e-4 for paper)")
    tr.add_argument("--loss", default=defaults.loss, choices=("mse", "l1"), help="training loss")
    tr.add_argument("--interior-loss", action="store_true",
                    help="score only target pixels whose receptive field lies inside the patch (FSRCNN: its "
                         "radius times the scale from each side; SRCNN always does)")
    tr.add_argument("--teacher", metavar="MODEL",
                    help="distil: a trained model of the same scale and grid (a shipped name, e.g. FSRCNN_X3, an "
                         "alias or a file) whose output is blended into every target (default: none)")
    tr.add_argument("--teacher-weight", type=float, default=defaults.teacher_weight, metavar="W",
                    help="target = (1 - W) * HR + W * the teacher's output (default: %(default)s)")
    tr.add_argument("--steps", type=int, default=defaults.steps, help="optimiser steps")
    tr.add_argument("--time-limit", type=float, metavar="SECONDS",
                    help="train this long at most, all sessions of the run together; the lr schedule then runs on "
                         "wall time (not repeatable) and the progress bar counts seconds (default: no limit)")
    tr.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps, help="lr warm-up steps (adam)")
    tr.add_argument("--ema", type=float, default=defaults.ema, metavar="DECAY",
                    help="validate and keep an exponential moving average of the weights with this decay, e.g. "
                         "0.999 (default: 0, off)")
    tr.add_argument("--val-every", type=int, default=defaults.val_every, help="validate every this many steps")
    tr.add_argument("--precision", default=defaults.precision, choices=PRECISIONS,
                    help="auto: bf16 where the CPU has AMX / AVX-512 BF16, or on CUDA")
    tr.add_argument("--device", default=defaults.device, help="cpu, cuda, cuda:N or auto (CUDA when available)")
    tr.add_argument("--seed", type=int, default=defaults.seed, help="every batch is a function of seed and step")
    tr.add_argument("--stream", action="store_true",
                    help="decode images on demand in DataLoader workers: flat memory for any dataset size")
    tr.add_argument("--workers", type=int, help="DataLoader worker processes (default: 2 when streaming, else 0)")
    tr.add_argument("--stop-at", type=int, metavar="STEP",
                    help="end this process at STEP (the schedule still runs to --steps); continue with --resume "
                         "(default: run to the end)")
    tr.add_argument("--target-psnr", type=float, help="stop once validation PSNR reaches this (default: none)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in --out where it stopped, with its config.json; an option given with it "
                         "must agree with the run's, except --steps / --time-limit (they set a new end and extend a "
                         "finished run; the lr schedule becomes that of a run planned to the new end), --val-every, "
                         "--target-psnr, --precision, --device, --workers, --monitor-data")
    tr.add_argument("--threads", type=_positive_int, help="torch intra-op threads (default: all cores)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar (it shows only on a terminal anyway)")

    ld = sub.add_parser("learn-dictionary", help="learn a sparse-coding (ScSR) dictionary on HR images")
    ld.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders of HR images (the authors: T91)")
    ld.add_argument("--scale", type=int, required=True, choices=SCALES, help="up-scaling factor")
    ld.add_argument("-o", "--output", required=True, help="the .safetensors file to write")
    ld.add_argument("--atoms", type=int, default=1024, help="dictionary atoms")
    ld.add_argument("--patches", type=int, default=100_000, help="training patches sampled over the images")
    ld.add_argument("--epochs", type=int, default=1, help="passes over the patches")
    ld.add_argument("--holdout-from", nargs="+", metavar="DIR", default=[],
                    help="leave out the validation images that `srcnn train --data DIR...` holds out (default: none)")
    ld.add_argument("--seed", type=int, default=0, help="random seed")
    ld.add_argument("--overwrite", action="store_true", help="replace the output if it exists (default: refuse)")

    rp = sub.add_parser("reproduce", help="train the papers' study models and write the report (Markdown + PNG)")
    rp.add_argument("--data", required=True, metavar="DIR", help="the folder holding T91, BSD200, Set5 and Set14")
    rp.add_argument("--out", required=True, metavar="DIR", help="where the report goes")
    rp.add_argument("--runs", metavar="DIR", help="where the study's training runs live (default: OUT/runs)")
    rp.add_argument("--budget", default="quick", choices=("quick", "paper"),
                    help="quick: a structure check in under a minute (tiny runs, the 2 smallest test images per "
                         "set, sparse coding at patch step 3); paper: the real study")
    rp.add_argument("--jobs", type=int, default=1, help="training runs at once (e.g. several on one GPU)")
    rp.add_argument("--device", default="auto", help="cpu, cuda or auto (CUDA when available)")
    rp.add_argument("--train-only", action="store_true", help="train the study's models, write no report")

    _add_serve_parser(sub)
    _add_batch_parser(sub)
    return parser


def _add_batch_parser(sub) -> None:
    bp = sub.add_parser("batch", help="upscale every image under a folder or object-store prefix, on Ray Data",
                        description="Upscale every image under INPUT into OUTPUT (same relative paths) in a pool of\n"
                                    "Ray Data actors, or in this process (--engine local); the files are those of\n"
                                    "`srcnn upscale`. Inputs whose output exists are skipped; failures are listed in\n"
                                    "OUTPUT/_srcnn_manifest.json and on stderr (exit 1). See docs/distributed.md.")
    bp.add_argument("input", metavar="INPUT", help="a folder, or a URI pyarrow reads (s3://bucket/prefix, gs://...)")
    bp.add_argument("-o", "--output", required=True, help="output folder or URI (the same relative paths)")
    bp.add_argument("--scale", type=int, required=True, choices=SCALES, help="up-scaling factor")
    bp.add_argument("--model", help="a shipped model's name or kind (see `srcnn models`) or a .safetensors file at the "
                                    "same path on every node (default: the default of `srcnn upscale`)")
    bp.add_argument("--method", default="srcnn", choices=METHODS,
                    help="srcnn (the network), bicubic (MATLAB-exact) or sparse-coding (ScSR) (default: srcnn)")
    bp.add_argument("--ext", default="auto", choices=("auto", "png", "jpg", "webp", "tif"),
                    help="output format; auto keeps each input's format (GIF becomes PNG) (default: auto)")
    _add_speed_options(bp, default_precision="auto")
    bp.add_argument("--quality", type=_quality, help="JPEG / WebP quality, 1-100 (default: 95)")
    bp.add_argument("--engine", default="ray", choices=("ray", "local"),
                    help="ray: an actor pool on Ray Data; local: this process, for comparison (default: ray)")
    bp.add_argument("--address", help="join this Ray cluster: auto, or the head's HOST:PORT (default: start a local Ray)")
    bp.add_argument("--workers", type=_positive_int,
                    help="Ray actors, each with --threads CPUs (default: the cluster's CPUs / --threads, "
                         "and --threads 1 on Ray)")
    bp.add_argument("--quiet", action="store_true", help="no progress bar")


def _cmd_batch(args) -> int:
    from .batch import BatchSettings, run_batch

    settings = BatchSettings(args.scale, args.model, args.method, args.precision, args.device, args.tile,
                             args.threads, args.quality, args.ext)
    report = run_batch(args.input, args.output, settings, args.engine, args.address, args.workers,
                       progress=not args.quiet and sys.stderr.isatty())
    print(f"upscaled {report.done}, skipped {report.skipped}, failed {len(report.failed)} of {report.inputs} "
          f"({report.images_per_second:.2f} images/s); manifest: {report.manifest}")
    if report.failed:
        print(f"srcnn: {len(report.failed)} of {report.inputs} inputs failed (listed in {report.manifest})",
              file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def _cmd_learn_dictionary(args) -> int:
    from ..training.data import held_out_paths
    from ..io.imageio import list_images
    from ..sparse import SparseCodingConfig, learn_dictionary

    start = time.perf_counter()
    _refuse_existing(args.output, args.overwrite)
    paths = [p for d in args.data for p in list_images(d)]
    if args.holdout_from:
        held_out = set(held_out_paths(args.holdout_from))
        paths = [p for p in paths if p not in held_out]
    if not paths:
        raise SRCNNError("no images to learn from")
    cfg = SparseCodingConfig(atoms=args.atoms, training_patches=args.patches, epochs=args.epochs, seed=args.seed)
    dictionary = learn_dictionary(paths, args.scale, cfg)
    dictionary.save(args.output)
    print(_wrote(args.output, start, f"{dictionary.info['patches']} patches"))
    return EXIT_OK


def _cmd_reproduce(args) -> int:
    from ..study.reproduce import train_study

    start = time.perf_counter()
    runs = Path(args.runs) if args.runs else Path(args.out) / "runs"
    train_study(args.data, runs, args.budget, args.device, args.jobs)
    if args.train_only:
        print(_wrote(runs, start, "training runs only"))
    else:
        from ..study.report import write_report

        report = write_report(args.data, args.out, runs, args.budget)
        print(_wrote(report, start))
    return EXIT_OK


class _TileBar:
    """A per-image progress bar of tiles, created on the first tile (small images have none)."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="tile", desc=self.label, leave=False, dynamic_ncols=True, file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _cmd_upscale(args) -> int:
    from PIL import Image
    from tqdm import tqdm

    from ..io.imageio import QUALITY_FORMATS, image_format, load_picture, save_picture
    from .outputs import plan_outputs
    from ..io.video import VIDEO_SUFFIXES, check_encoder, upscale_video

    start = time.perf_counter()
    if "-" in args.inputs or args.output == "-":
        return _upscale_stream(args, start)
    existing = "overwrite" if args.overwrite else "skip" if args.skip_existing else "error"
    plan = plan_outputs(args.inputs, args.output, args.ext, existing, args.quality)  # every clash refused here
    for _, target in plan:
        if target.suffix.lower() in VIDEO_SUFFIXES:
            check_encoder(target)  # a container that cannot hold our codec: refused before decoding
    if args.max_pixels:
        Image.MAX_IMAGE_PIXELS = args.max_pixels
    bars = not args.quiet and sys.stderr.isatty()  # progress on a terminal only, never mixed into logs
    upscaler = _upscaler_from(args)
    total = len(plan) + len(plan.skipped)
    single = total == 1 and len(args.inputs) == 1 and not Path(args.inputs[0]).is_dir()
    done, failed = [], []
    for path, target in tqdm(plan, unit="image", disable=single or not bars, dynamic_ncols=True, file=sys.stderr):
        tiles = _TileBar(path.name)
        upscaler.progress = tiles if bars else None
        is_video = target.suffix.lower() in VIDEO_SUFFIXES
        upscaler.compile = _compiles(args.compile, upscaler, is_video)
        try:
            if is_video:
                stats = upscale_video(path, target, upscaler.upscale_array, args.scale, progress=bars,
                                      **_video_planes(upscaler))
                if not args.quiet:
                    tqdm.write(f"{path}: {stats['frames']} frames at {stats['fps']:.2f} frames/s "
                               f"({stats['realtime']:.2f}x real time)", file=sys.stdout)
            else:
                quality = args.quality if image_format(target) in QUALITY_FORMATS else None
                save_picture(upscaler.upscale_picture(load_picture(path)), target, quality=quality)
            done.append(target)
        except SRCNNError as exc:
            if single:
                raise
            tqdm.write(f"srcnn: {exc}", file=sys.stderr)
            failed.append(path)
        finally:
            tiles.close()
    if single and done:
        print(_wrote(done[0], start))
    else:
        size = sum(t.stat().st_size for t in done)
        print(f"wrote {len(done)} of {total} files to {args.output} ({_human_size(size)}, "
              f"{time.perf_counter() - start:.1f} s); skipped {len(plan.skipped)} existing, failed {len(failed)}")
    if failed:
        print(f"srcnn: {len(failed)} of {total} inputs failed: {', '.join(map(str, failed))}", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def _compiles(option: str, upscaler, is_video: bool) -> bool:
    """``--compile``: on, off, or auto, which compiles a video's network unless the model ships its
    own fast inference form (``fold_for_inference``, FSRCNN's), which runs eagerly. Compiled, FSRCNN
    makes a frame faster, but the process pays seconds of start-up for it: `benchmarks/realtime.py`'s
    10 s clip took 17.6 s compiled (inductor cache warm) against 12.2 s eagerly (AMD EPYC, README's
    Speed). For long videos, ``--compile on``."""
    if option != "auto":
        return option == "on"
    return is_video and upscaler.model is not None and not hasattr(upscaler.model, "fold_for_inference")


def _video_planes(upscaler) -> dict:
    """How ``upscale_video`` runs the frames: as their 4:2:0 planes, each frame's still luma rows
    copied from the frame before, and one frame at a time when compiled (one compiled function)."""
    return {"upscale_planes": upscaler.upscale_planes, "upscale_planes_since": upscaler.upscale_planes_since,
            "frames_at_once": 1 if upscaler.compile else None}


def _upscale_stream(args, start: float) -> int:
    """A video through pipes: ``srcnn upscale - -o - ...`` (or a file on one side). stdout carries
    the video, so every message, the closing line included, goes to stderr."""
    from ..io.video import VIDEO_SUFFIXES, upscale_video

    if len(args.inputs) != 1:
        raise SRCNNError("- (stdin) must be the only input")
    src, dst = args.inputs[0], args.output
    if src != "-" and Path(src).suffix.lower() not in VIDEO_SUFFIXES:
        raise SRCNNError(f"{src}: only a video can be written to stdout")
    if dst != "-":
        if Path(dst).suffix.lower() not in VIDEO_SUFFIXES:
            raise SRCNNError(f"{dst}: a stream from stdin is a video; name a video file ({', '.join(sorted(VIDEO_SUFFIXES))})")
        if Path(dst).exists() and not args.overwrite:
            raise SRCNNError(f"{dst} already exists; pass --overwrite to replace it")
    upscaler = _upscaler_from(args)
    upscaler.compile = _compiles(args.compile, upscaler, is_video=True)
    bars = not args.quiet and sys.stderr.isatty()
    stats = upscale_video(src, dst, upscaler.upscale_array, args.scale, progress=bars, container=args.container,
                          **_video_planes(upscaler))
    if not args.quiet:
        where = "stdout" if dst == "-" else dst
        print(f"wrote {stats['frames']} frames to {where} ({stats['fps']:.1f} frames/s, "
              f"{stats['realtime']:.2f}x real time, {time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return EXIT_OK


def _cmd_restore(args) -> int:
    """Scale-1 restoration through the upscale path: only the model differs."""
    from ..models.weights import RESTORE_TASKS

    if args.task not in RESTORE_TASKS:
        raise SRCNNError(f"unknown task {args.task!r}: choose from {', '.join(RESTORE_TASKS)}")
    args.scale, args.method = 1, "srcnn"
    return _cmd_upscale(args)


def _cmd_evaluate(args) -> int:
    from ..study.evaluate import evaluate_folder, summary

    start = time.perf_counter()
    upscaler = _upscaler_from(args)
    scores = evaluate_folder(args.data_dir, args.scale, upscaler, args.degradation, args.seed)
    result = {"degradation": args.degradation, "seed": args.seed, **summary(scores)}
    width = max(len(s.name) for s in scores)
    print(f"{'image':<{width}}  {'PSNR':>7}  {'SSIM':>6}")
    for s in scores:
        print(f"{s.name:<{width}}  {s.psnr:7.2f}  {s.ssim:.4f}")
    print(f"{'mean':<{width}}  {result['mean']['psnr']:7.2f}  {result['mean']['ssim']:.4f}")
    if args.json:
        from ..io.imageio import write_text_atomic
        write_text_atomic(args.json, json.dumps(result, indent=2) + "\n")
        print(_wrote(args.json, start, f"{len(scores)} images scored"))
    else:
        print(f"scored {len(scores)} images in {time.perf_counter() - start:.1f} s (nothing written; --json FILE keeps them)")
    return EXIT_OK


def _refuse_existing(path: str | Path, overwrite: bool) -> None:
    """A user's file is never replaced unless asked: checked before any work."""
    if Path(path).exists() and not overwrite:
        raise SRCNNError(f"{path} already exists; pass --overwrite to replace it")


def _cmd_export(args) -> int:
    from ..export import export_onnx
    from ..models.weights import resolve_model

    start = time.perf_counter()
    output = Path(args.output or Path(args.model).with_suffix(".onnx").name)
    _refuse_existing(output, args.overwrite)
    model, meta = resolve_model(args.model, scale=args.scale)
    export_onnx(model, output, {"scale": meta["scale"]}, opset=args.opset)
    print(_wrote(output, start))
    return EXIT_OK


def _card_metrics(metrics: dict) -> str:
    def one(value):
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return f"{value[0]:.2f} dB / {value[1]:.4f}"
        return str(value)
    return ", ".join(f"{name} {one(value)}" for name, value in metrics.items()) or "not measured"


def _cmd_models(args) -> int:
    import dataclasses

    from ..models import weights

    members = list(weights.Weights)
    if args.name is not None:
        chosen = [w for w in members if w.name == args.name]
        if not chosen:
            raise SRCNNError(f"no shipped model {args.name!r}: choose from {', '.join(w.name for w in members)}")
        entry = chosen[0].value  # the card: a dataclass (WeightsEntry, or another family's)
        print(chosen[0].name)
        items = dataclasses.asdict(entry) if dataclasses.is_dataclass(entry) else dict(vars(entry))
        path = getattr(entry, "path", None)
        for key, value in items.items():
            print(f"  {key}: {_card_metrics(value) if key == 'metrics' else value}")
        if path is not None:
            print(f"  path: {path}")
        return EXIT_OK
    width = max((len(w.name) for w in members), default=4)
    defaults = {weights.default_weights(w.entry.scale) for w in members}
    kind_width = max((len(w.entry.alias or "-") + 1 for w in members), default=4)
    print(f"{'name':<{width}}  {'kind':<{kind_width}}  scale  {'params':>7}  scores (PSNR / SSIM)  file")
    for w in members:
        entry = w.entry
        kind = (entry.alias or "-") + ("*" if w in defaults else "")
        print(f"{w.name:<{width}}  {kind:<{kind_width}}  x{entry.scale:<4}  {entry.params:>7}  "
              f"{_card_metrics(entry.metrics)}  {entry.file}")
    print(f"{len(members)} models; * the default of its scale; `srcnn models NAME` shows one card; "
          "--model takes a name or a kind (the kind's model for --scale)")
    return EXIT_OK


def _train_fields() -> set[str]:
    from ..training.train import TrainConfig

    return {f.name for f in fields(TrainConfig)}


def _given_options(argv: list[str] | None, command: str) -> set[str]:
    """The options of ``command`` given on the command line ``argv``: parsed again with no defaults,
    so an option left out is absent rather than at its default (``--resume`` checks only these)."""
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in commands.choices[command]._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv))) - {"command"}


def _cmd_train(args) -> int:
    import torch

    from ..inference import resolve_device
    from ..training.train import TrainConfig, train

    start = time.perf_counter()
    resolve_device(args.device)  # a missing GPU is one line, before any data loads
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume and (Path(args.out) / "config.json").exists():
        from ..training.train import resume_config

        given = _given_options(getattr(args, "argv", None), "train")
        cfg = resume_config(args.out, {name: getattr(args, name) for name in given if name in _train_fields()})
    else:
        if not args.data:
            raise SRCNNError(f"--data is required to start a run ({args.out} holds none to resume)" if args.resume
                             else "--data is required (the folders of HR images to train on)")
        options = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
                   if getattr(args, f.name, None) is not None}
        cfg = TrainConfig.paper(**options) if args.recipe == "paper" else TrainConfig(**options)
    best = train(cfg, progress=not args.quiet and sys.stderr.isatty(), stop_at=args.stop_at)  # bars never in logs
    if os.environ.get("RANK", "0") == "0":
        print(_wrote(best, start, "best weights") if Path(best).exists() else
              f"{cfg.out}: stopped before its first validation, so no best weights yet (continue with --resume)")
    return EXIT_OK


def _add_serve_parser(sub) -> None:
    sv = sub.add_parser("serve", help="a web page and an HTTP API for upscaling (needs pip install 'srcnn[serve]')")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    sv.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    sv.add_argument("--workers", type=int, default=1, help="upscaling jobs running at once (default: 1)")
    sv.add_argument("--queue", type=int, default=4, help="jobs held at once, running or waiting; beyond: 503")
    sv.add_argument("--token", default=os.environ.get("SRCNN_TOKEN"),
                    help="require 'Authorization: Bearer TOKEN' on /api/* (default: $SRCNN_TOKEN)")
    sv.add_argument("--max-upload-mb", type=float, default=32.0, help="largest upload in MiB (default: 32)")
    sv.add_argument("--max-pixels", type=int, default=4_000_000, help="largest input image, width x height")
    sv.add_argument("--time-limit", type=float, default=120.0, help="seconds per job (default: 120)")
    sv.add_argument("--keep", type=float, default=600.0, help="seconds a finished job's result is kept")
    _add_speed_options(sv, "auto")


def _cmd_serve(args) -> int:
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401  (python-multipart)
        import uvicorn
    except ImportError:
        raise SRCNNError("serve needs FastAPI, uvicorn and python-multipart: pip install 'srcnn[serve]'") from None
    import torch

    from .server.app import ServerSettings, create_app

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"srcnn: warning: serving on {args.host}, reachable from other machines"
              + ("" if args.token else "; anyone who can reach it can use it (set --token or SRCNN_TOKEN)"),
              file=sys.stderr)
    settings = ServerSettings(token=args.token or None, workers=args.workers, queue_size=max(args.queue, args.workers),
                              max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels,
                              time_limit=args.time_limit, keep_seconds=args.keep, precision=args.precision,
                              device=args.device, tile=args.tile)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `srcnn`: the help, as a usage error
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    args.argv = argv  # the command line as given (None: sys.argv), for _given_options
    # Under torchrun only rank 0 reports progress; the others speak up for warnings alone.
    level = logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING
    logging.basicConfig(level=level, format="srcnn: %(message)s")
    handlers = {"upscale": _cmd_upscale, "restore": _cmd_restore, "evaluate": _cmd_evaluate, "train": _cmd_train, "export": _cmd_export,
                "models": _cmd_models, "reproduce": _cmd_reproduce, "learn-dictionary": _cmd_learn_dictionary,
                "serve": _cmd_serve, "batch": _cmd_batch}
    try:
        return handlers[args.command](args)
    except SRCNNError as exc:
        print(f"srcnn: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("srcnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`srcnn models | head`): stop quietly, as `cat` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exit's flush cannot fail again
        return 141


if __name__ == "__main__":
    sys.exit(main())
