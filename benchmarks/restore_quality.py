"""Denoising and JPEG-artefact removal on grey images, ours beside the classical anchors.

Grey images: the Y channel of Set5 + Set14 (``--data`` folders). Protocol: ``srcnn evaluate --scale 1``
(PSNR / SSIM on Y, 1 pixel shaved, the result rounded to uint8), with the same seeded noise draw for
every method (seed, image name). Denoising at sigma 15/25/50: the noisy input, OpenCV
``fastNlMeansDenoising`` (h per sigma: the best of 0.4..1.6 x sigma on two T91 training images,
never on the test images), BM3D (``bm3d`` package, told the true sigma) and ours (``--denoise-model``,
default the shipped ``denoise``). JPEG at quality 10/20/30/40: the decoded JPEG and ours
(``--jpeg-model``, default the shipped ``jpeg``). Seconds: mean wall time of the method per image.

    python benchmarks/restore_quality.py [--limit N] [--bm3d-sigmas 15 25 50] [--ensemble] [--json FILE]

BM3D costs about a minute per megapixel on one busy core, so by default it runs at sigma 25 only
(the issue's comparison): Set5 + Set14 then take about 5 minutes on 2 cores. Progress goes to
stderr; the Markdown tables to stdout. OpenCV and bm3d: ``pip install srcnn[compare]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from srcnn.study import restoration_study as rs
from srcnn.io.imageio import list_images, read_image
from srcnn.study.report import cpu_name

DATA = Path(os.environ.get("SRCNN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TUNING_IMAGES = 2  # T91 images that choose OpenCV's h


def read_grey(folders: list[Path], limit: int | None = None) -> rs.Images:
    paths = [p for folder in folders for p in list_images(folder)][:limit]
    return rs.grey_images((p.stem, read_image(p)) for p in paths)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", type=Path, default=[DATA / "Set5", DATA / "Set14"],
                        help="folders of test images (default: $SRCNN_DATA/Set5 and Set14)")
    parser.add_argument("--tune-data", type=Path, default=DATA / "T91",
                        help=f"training images; the first {TUNING_IMAGES} choose OpenCV's h (default: T91)")
    parser.add_argument("--limit", type=int, help="score the first N test images only (a quick run)")
    parser.add_argument("--sigmas", nargs="+", type=float, default=list(rs.DENOISE_SIGMAS))
    parser.add_argument("--bm3d-sigmas", nargs="*", type=float, default=[25.0],
                        help="sigmas at which BM3D runs (slow; default 25; none: skip it)")
    parser.add_argument("--qualities", nargs="+", type=int, default=list(rs.JPEG_QUALITIES))
    parser.add_argument("--denoise-model", default="denoise", help="alias or weights file (default: denoise)")
    parser.add_argument("--jpeg-model", default="jpeg", help="alias or weights file (default: jpeg)")
    parser.add_argument("--ensemble", action="store_true",
                        help="also score ours with the geometric self-ensemble (--ensemble: 8x its time)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    args = parser.parse_args()

    def progress(message: str) -> None:
        print(f"restore_quality: {message}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    images = read_grey(args.data, args.limit)
    if not images:
        sys.exit(f"restore_quality: no images in {', '.join(map(str, args.data))}")
    tuning = read_grey([args.tune_data], TUNING_IMAGES) if args.tune_data.is_dir() else []
    progress(f"{len(images)} test images; choosing OpenCV's h on {len(tuning)} images of {args.tune_data}")
    nlm_h = {sigma: rs.tune_nlm_h(tuning, sigma, args.seed) if tuning else None for sigma in args.sigmas}
    progress("OpenCV h per sigma: " + ", ".join(f"{s:g}: {h}" for s, h in nlm_h.items()))
    denoising = rs.denoising_table(images, args.sigmas, args.denoise_model, nlm_h, args.bm3d_sigmas, args.seed,
                                   progress, args.ensemble)
    progress("JPEG")
    jpeg = rs.jpeg_table(images, args.qualities, args.jpeg_model, args.seed, args.ensemble)
    seconds = time.perf_counter() - start

    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    pixels = sum(image.size for _, image in images)
    print("\n".join([
        "# Denoising and JPEG-artefact removal, grey images",
        "",
        f"- Command: `{command}`",
        f"- CPU: {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (models fp32)",
        f"- Images: {len(images)} ({pixels / 1e6:.2f} MP) from {', '.join(p.name for p in args.data)}, Y channel; "
        f"seed {args.seed}; benchmark wall time {seconds:.0f} s",
        f"- OpenCV h: the best of {rs.NLM_H_FACTORS[0]}..{rs.NLM_H_FACTORS[-1]} x sigma on {len(tuning)} "
        f"training images ({args.tune_data.name})",
        "",
        "## Denoising (additive Gaussian noise)",
        "",
        rs.denoising_markdown(denoising, nlm_h, args.denoise_model),
        "",
        "## JPEG artefacts",
        "",
        rs.jpeg_markdown(jpeg, args.jpeg_model),
    ]))
    if args.json:
        document = {"command": command, "cpu": cpu_name(), "images": [name for name, _ in images], "seed": args.seed,
                    "seconds": seconds, "nlm_h": {f"{s:g}": h for s, h in nlm_h.items()},
                    "denoising": rs.table_dict(denoising), "jpeg": rs.table_dict(jpeg)}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
