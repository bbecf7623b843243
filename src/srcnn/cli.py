"""The ``srcnn`` command: a thin layer over the Python API.

    srcnn upscale INPUT... -o OUTPUT --scale {2,3,4} [--model NAME_OR_PATH] [--method srcnn|bicubic]
    srcnn evaluate DATA_DIR --scale S [--model NAME_OR_PATH | --method bicubic] [--json FILE]
    srcnn train --data DIR [DIR...] --scale S --out RUN_DIR [...]   (also under torchrun)
    srcnn export --model NAME_OR_PATH --format onnx [-o FILE]
    srcnn learn-dictionary --data DIR [DIR...] --scale S -o FILE   (sparse-coding baseline)
    srcnn reproduce --data DIR --out DIR [--budget quick|paper]
    srcnn batch INPUT -o OUTPUT --scale S [--engine ray|local] [--address auto|HOST:PORT] [--workers N]

Every user error ends in one line on stderr and a non-zero exit; no partial output files.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import fields
from pathlib import Path

from .errors import SRCNNError

EXIT_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other error of ours."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _add_speed_options(parser: argparse.ArgumentParser, default_precision: str) -> None:
    parser.add_argument("--precision", default=default_precision, choices=("auto", "bf16", "fp32"),
                        help=f"auto: bf16 where the CPU has AMX / AVX-512 BF16 (default: {default_precision})")
    parser.add_argument("--tile", type=int, help="tile side in output pixels (default: automatic; 0: never)")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")


def _upscaler_from(args):
    import torch

    from .infer import make_upscaler

    if args.threads:
        torch.set_num_threads(args.threads)
    return make_upscaler(args.scale, args.model, args.method, args.precision, args.device, args.tile)


def _parser() -> argparse.ArgumentParser:
    from .degrade import DEGRADATIONS
    from .infer import METHODS, SCALES
    from .train import TrainConfig

    parser = _Parser(prog="srcnn", description="SRCNN image super-resolution")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("upscale", help="upscale images: a file to a file, or files / a folder to a folder")
    up.add_argument("inputs", nargs="+", metavar="INPUT")
    up.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    up.add_argument("--scale", type=int, required=True, choices=SCALES)
    up.add_argument("--model", help="a shipped model's name or a .safetensors file (default: shipped, by scale)")
    up.add_argument("--method", default="srcnn", choices=METHODS)
    _add_speed_options(up, default_precision="auto")
    up.add_argument("--quality", type=int, help="JPEG / WebP quality of the outputs (1-100)")
    up.add_argument("--skip-existing", action="store_true", help="leave outputs that already exist alone")
    up.add_argument("--max-pixels", type=int, help="raise Pillow's decompression-bomb limit (pixels per image)")
    up.add_argument("--quiet", action="store_true", help="no progress bars")

    ev = sub.add_parser("evaluate", help="PSNR / SSIM on a folder of HR images, with the papers' protocol")
    ev.add_argument("data_dir", metavar="DATA_DIR")
    ev.add_argument("--scale", type=int, required=True, choices=SCALES)
    group = ev.add_mutually_exclusive_group()
    group.add_argument("--model", help="a shipped model's name or a .safetensors file (default: shipped, by scale)")
    group.add_argument("--method", choices=METHODS, default="srcnn")
    ev.add_argument("--json", metavar="FILE", help="also write the scores as JSON")
    _add_speed_options(ev, default_precision="fp32")

    ex = sub.add_parser("export", help="export a model to ONNX (dynamic height and width)")
    ex.add_argument("--model", required=True, help="a shipped model's name or a .safetensors file")
    ex.add_argument("--format", default="onnx", choices=("onnx",))
    ex.add_argument("-o", "--output", help="output file (default: the model's name with .onnx)")
    ex.add_argument("--opset", type=int, default=17)

    tr = sub.add_parser("train", help="train an SRCNN model (resumable)")
    defaults = TrainConfig()
    tr.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders of HR images")
    tr.add_argument("--out", required=True, metavar="RUN_DIR")
    tr.add_argument("--scale", type=int, default=defaults.scale, choices=(1,) + SCALES)
    tr.add_argument("--arch", default=defaults.arch, help="filter sizes, e.g. 9-5-5, 9-1-5, 9-3-5")
    tr.add_argument("--n1", type=int, default=defaults.n1)
    tr.add_argument("--n2", type=int, default=defaults.n2)
    tr.add_argument("--channels", type=int, default=defaults.channels, choices=(1, 3), help="1: Y, 3: RGB")
    tr.add_argument("--residual", action=argparse.BooleanOptionalAction, default=None,
                    help="add the bicubic input to the output (default: on for adam, off for paper)")
    tr.add_argument("--init", choices=("kaiming", "paper"))
    tr.add_argument("--init-from", metavar="WEIGHTS", help="start from these weights (fine-tuning)")
    tr.add_argument("--degradation", default=defaults.degradation, choices=DEGRADATIONS)
    tr.add_argument("--blur-sigma", type=float, default=defaults.blur_sigma)
    tr.add_argument("--noise-sigma", type=float, default=defaults.noise_sigma, help="in 0..255 units")
    tr.add_argument("--patch-mode", choices=("random", "grid"))
    tr.add_argument("--patch-size", type=int)
    tr.add_argument("--stride", type=int, default=defaults.stride)
    tr.add_argument("--hr-scales", type=float, nargs="+", metavar="F",
                    help="also train on HR images down-scaled by these factors, e.g. 0.9 0.8 0.7 0.6")
    tr.add_argument("--batch-size", type=int)
    tr.add_argument("--val-data", nargs="+", metavar="DIR", help="validation folder (default: held out from --data)")
    tr.add_argument("--val-count", type=int, default=defaults.val_count)
    tr.add_argument("--monitor-data", nargs="+", metavar="DIR",
                    help="a test folder whose PSNR is logged for curves only (never used to pick checkpoints)")
    tr.add_argument("--recipe", default=defaults.recipe, choices=("adam", "paper"))
    tr.add_argument("--lr", type=float)
    tr.add_argument("--loss", default=defaults.loss, choices=("mse", "l1"))
    tr.add_argument("--steps", type=int, default=defaults.steps)
    tr.add_argument("--time-limit", type=float, metavar="SECONDS",
                    help="train this long at most; the lr schedule then runs on wall time (not repeatable)")
    tr.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps)
    tr.add_argument("--val-every", type=int, default=defaults.val_every)
    tr.add_argument("--precision", default=defaults.precision, choices=("auto", "bf16", "fp32"))
    tr.add_argument("--device", default=defaults.device)
    tr.add_argument("--seed", type=int, default=defaults.seed)
    tr.add_argument("--stream", action="store_true",
                    help="decode images on demand in DataLoader workers: flat memory for any dataset size")
    tr.add_argument("--workers", type=int, help="DataLoader worker processes (default: 2 when streaming, else 0)")
    tr.add_argument("--stop-at", type=int, metavar="STEP",
                    help="end this process at STEP (the schedule still runs to --steps); continue with --resume")
    tr.add_argument("--target-psnr", type=float, help="stop once validation PSNR reaches this")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    tr.add_argument("--threads", type=int, help="torch intra-op threads (default: all cores)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")

    ld = sub.add_parser("learn-dictionary", help="learn a sparse-coding (ScSR) dictionary on HR images")
    ld.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders of HR images (the authors: T91)")
    ld.add_argument("--scale", type=int, required=True, choices=SCALES)
    ld.add_argument("-o", "--output", required=True, help="the .safetensors file to write")
    ld.add_argument("--atoms", type=int, default=1024)
    ld.add_argument("--patches", type=int, default=100_000, help="training patches sampled over the images")
    ld.add_argument("--epochs", type=int, default=1)
    ld.add_argument("--holdout-from", nargs="+", metavar="DIR", default=[],
                    help="leave out the validation images that `srcnn train --data DIR...` holds out")
    ld.add_argument("--seed", type=int, default=0)

    rp = sub.add_parser("reproduce", help="train the papers' study models and write the report (Markdown + PNG)")
    rp.add_argument("--data", required=True, metavar="DIR", help="the folder holding T91, BSD200, Set5 and Set14")
    rp.add_argument("--out", required=True, metavar="DIR", help="where the report goes")
    rp.add_argument("--runs", metavar="DIR", help="where the study's training runs live (default: OUT/runs)")
    rp.add_argument("--budget", default="quick", choices=("quick", "paper"))
    rp.add_argument("--jobs", type=int, default=1, help="training runs at once (e.g. several on one GPU)")
    rp.add_argument("--device", default="auto")
    rp.add_argument("--train-only", action="store_true", help="train the study's models, write no report")
    _add_batch_parser(sub)
    return parser


def _add_batch_parser(sub) -> None:
    from .infer import METHODS, SCALES

    bp = sub.add_parser("batch", help="upscale every image under a folder or object-store prefix, on Ray Data")
    bp.add_argument("input", metavar="INPUT", help="a folder, or a URI pyarrow reads (s3://bucket/prefix, gs://...)")
    bp.add_argument("-o", "--output", required=True, help="output folder or URI (the same relative paths)")
    bp.add_argument("--scale", type=int, required=True, choices=SCALES)
    bp.add_argument("--model", help="a shipped model's name or a .safetensors file (default: shipped, by scale)")
    bp.add_argument("--method", default="srcnn", choices=METHODS)
    _add_speed_options(bp, default_precision="auto")
    bp.add_argument("--quality", type=int, help="JPEG / WebP quality of the outputs (1-100)")
    bp.add_argument("--engine", default="ray", choices=("ray", "local"),
                    help="ray: an actor pool on Ray Data; local: this process, for comparison (default: ray)")
    bp.add_argument("--address", help="join this Ray cluster (auto, or the head's host:port); default: a local Ray")
    bp.add_argument("--workers", type=int,
                    help="Ray actors (default: the cluster's CPUs / --threads; on Ray, --threads defaults to 1)")
    bp.add_argument("--quiet", action="store_true", help="no progress bar")


def _cmd_batch(args) -> int:
    from .batch import BatchSettings, run_batch

    settings = BatchSettings(args.scale, args.model, args.method, args.precision, args.device, args.tile,
                             args.threads, args.quality)
    report = run_batch(args.input, args.output, settings, args.engine, args.address, args.workers,
                       progress=not args.quiet)
    print(f"upscaled {report.done}, skipped {report.skipped}, failed {len(report.failed)} of {report.inputs} "
          f"({report.images_per_second:.2f} images/s); manifest: {report.manifest}")
    if report.failed:
        print(f"srcnn: {len(report.failed)} of {report.inputs} inputs failed (listed in {report.manifest})",
              file=sys.stderr)
        return 1
    return 0


def _cmd_learn_dictionary(args) -> int:
    from .data import split_validation
    from .imageio import list_images
    from .sparse import SparseCodingConfig, learn_dictionary
    from .train import TrainConfig

    paths = [p for d in args.data for p in list_images(d)]
    if args.holdout_from:
        _, held_out = split_validation([p for d in args.holdout_from for p in list_images(d)], TrainConfig.val_count)
        paths = [p for p in paths if p not in set(held_out)]
    if not paths:
        raise SRCNNError("no images to learn from")
    cfg = SparseCodingConfig(atoms=args.atoms, training_patches=args.patches, epochs=args.epochs, seed=args.seed)
    dictionary = learn_dictionary(paths, args.scale, cfg)
    dictionary.save(args.output)
    print(f"wrote {args.output} ({dictionary.info['patches']} patches, {dictionary.info['seconds']} s)")
    return 0


def _cmd_reproduce(args) -> int:
    from .reproduce import train_study

    runs = Path(args.runs) if args.runs else Path(args.out) / "runs"
    train_study(args.data, runs, args.budget, args.device, args.jobs)
    if not args.train_only:
        from .report import write_report

        report = write_report(args.data, args.out, runs, args.budget)
        print(f"wrote {report}")
    return 0


def _cmd_upscale(args) -> int:
    from PIL import Image
    from tqdm import tqdm

    from .imageio import IMAGE_SUFFIXES, list_images, load_picture, save_picture
    from .video import VIDEO_SUFFIXES, upscale_video

    if args.max_pixels:
        Image.MAX_IMAGE_PIXELS = args.max_pixels
    inputs: list[tuple[Path, Path]] = []  # (input file, path relative to the output folder)
    for item in map(Path, args.inputs):
        if item.is_dir():
            inputs += [(p, p.relative_to(item)) for p in list_images(item)]
        elif item.exists():
            inputs.append((item, Path(item.name)))
        else:
            raise SRCNNError(f"{item}: no such file or folder")
    output = Path(args.output)
    single = len(inputs) == 1 and not Path(args.inputs[0]).is_dir()
    to_file = single and output.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
    upscaler = _upscaler_from(args)
    done, skipped, failed = 0, 0, []
    bar = tqdm(inputs, unit="image", disable=single or args.quiet, dynamic_ncols=True)
    for path, rel in bar:
        is_video = path.suffix.lower() in VIDEO_SUFFIXES
        target = output if to_file else (output / rel).with_suffix(rel.suffix if is_video else ".png")
        if args.skip_existing and target.exists():
            skipped += 1
            continue
        try:
            if is_video:
                stats = upscale_video(path, target, upscaler.upscale_array, args.scale, progress=not args.quiet)
                print(f"{path}: {stats['frames']} frames at {stats['fps']:.2f} frames/s")
            else:
                save_picture(upscaler.upscale_picture(load_picture(path)), target, quality=args.quality)
            done += 1
        except SRCNNError as exc:
            if single:
                raise
            tqdm.write(f"srcnn: {exc}", file=sys.stderr)
            failed.append(path)
    if not single:
        print(f"upscaled {done}, skipped {skipped}, failed {len(failed)} of {len(inputs)}")
    if failed:
        print(f"srcnn: {len(failed)} of {len(inputs)} inputs failed: {', '.join(map(str, failed))}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _cmd_evaluate(args) -> int:
    from .evaluate import evaluate_folder, summary

    upscaler = _upscaler_from(args)
    scores = evaluate_folder(args.data_dir, args.scale, upscaler)
    result = summary(scores)
    width = max(len(s.name) for s in scores)
    print(f"{'image':<{width}}  {'PSNR':>7}  {'SSIM':>6}")
    for s in scores:
        print(f"{s.name:<{width}}  {s.psnr:7.2f}  {s.ssim:.4f}")
    print(f"{'mean':<{width}}  {result['mean']['psnr']:7.2f}  {result['mean']['ssim']:.4f}")
    if args.json:
        from .imageio import write_text_atomic
        write_text_atomic(args.json, json.dumps(result, indent=2) + "\n")
    return 0


def _cmd_export(args) -> int:
    from .export import export_onnx
    from .weights import resolve_model

    model, meta = resolve_model(args.model, scale=None)
    output = Path(args.output or Path(args.model).with_suffix(".onnx").name)
    export_onnx(model, output, {"scale": meta["scale"]}, opset=args.opset)
    print(f"wrote {output}")
    return 0


def _cmd_train(args) -> int:
    import torch

    from .train import TrainConfig, train

    if args.threads:
        torch.set_num_threads(args.threads)
    options = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
               if getattr(args, f.name, None) is not None}
    cfg = TrainConfig.paper(**options) if args.recipe == "paper" else TrainConfig(**options)
    best = train(cfg, progress=not args.quiet, stop_at=args.stop_at)
    if os.environ.get("RANK", "0") == "0":
        print(f"best weights: {best}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Under torchrun only rank 0 reports progress; the others speak up for warnings alone.
    level = logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING
    logging.basicConfig(level=level, format="srcnn: %(message)s")
    handlers = {"upscale": _cmd_upscale, "evaluate": _cmd_evaluate, "train": _cmd_train, "export": _cmd_export,
                "reproduce": _cmd_reproduce, "learn-dictionary": _cmd_learn_dictionary, "batch": _cmd_batch}
    try:
        return handlers[args.command](args)
    except SRCNNError as exc:
        print(f"srcnn: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("srcnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
