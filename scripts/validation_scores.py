"""Score models on the validation split that `srcnn train` holds out of its training folders.

    python scripts/validation_scores.py --data ../shared/data/T91 ../shared/data/BSD200 --scale 3 \
        --model SRCNN_955_X3 FSRCNN_X3 [--degradation bicubic jpeg:75 noise:10]

Decisions between models (which one ships, which is the default) are made on these images, never on
Set5 / Set14. Prints mean Y-PSNR / SSIM with the papers' protocol, fp32.
"""

from __future__ import annotations

import argparse

import torch

from srcnn.training.data import held_out_paths
from srcnn.study.evaluate import evaluate_images, summary
from srcnn.io.imageio import read_image
from srcnn.inference import make_upscaler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="the training folders")
    parser.add_argument("--scale", type=int, required=True)
    parser.add_argument("--model", nargs="+", required=True, help="shipped names, aliases or weights files")
    parser.add_argument("--method", default="srcnn", help="srcnn (with --model) or bicubic")
    parser.add_argument("--degradation", nargs="+", default=["bicubic"],
                        help="LR inputs to score on, as `srcnn evaluate --degradation` (seed 0): e.g. bicubic jpeg:75 noise:10")
    args = parser.parse_args()
    torch.set_num_threads(1)
    images = [(p.stem, read_image(p)) for p in held_out_paths(args.data)]
    for name in args.model:
        method = "bicubic" if name == "bicubic" else args.method
        upscaler = make_upscaler(args.scale, None if name == "bicubic" else name, method, "fp32")
        for degradation in args.degradation:
            mean = summary(evaluate_images(images, args.scale, upscaler, degradation))["mean"]
            print(f"x{args.scale} {degradation:<10} {name:<40} {mean['psnr']:.4f}  {mean['ssim']:.5f}  "
                  f"({len(images)} images)")


if __name__ == "__main__":
    main()
