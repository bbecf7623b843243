"""A greedy weight soup (Wortsman et al., "Model soups", ICML 2022) of runs fine-tuned from one file.

    python scripts/greedy_soup.py --data ../shared/data/T91 ../shared/data/BSD200 --scale 3 \
        --out soup.safetensors FSRCNN_S_X3 runs/a/best.safetensors runs/b/best.safetensors

The candidates (shipped names or weights files of one architecture) are ranked by their score on the
validation split that `srcnn train` holds out of its training folders (never Set5 / Set14); the soup
starts as the best one, and each next candidate joins (its weights averaged in, all members weighing
the same) only where the average scores higher than the soup without it. Writes the soup, with the
members and its validation score in its metadata, only where it beats the best single candidate
(and never over an existing file unless --overwrite).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from srcnn.errors import SRCNNError
from srcnn.io.imageio import read_image
from srcnn.inference import Upscaler
from srcnn.models.weights import resolve_model, save_model
from srcnn.study.evaluate import evaluate_images, summary
from srcnn.training.data import held_out_paths


def _average(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([s[k].double() for s in states]).mean(0).to(states[0][k].dtype) for k in states[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="the training folders")
    parser.add_argument("--scale", type=int, required=True)
    parser.add_argument("--out", required=True, help="where the soup goes (written only if it beats every candidate)")
    parser.add_argument("models", nargs="+", help="shipped names or weights files, one architecture")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    args = parser.parse_args()
    if Path(args.out).exists() and not args.overwrite:  # refused before any scoring, never replaced unasked
        raise SRCNNError(f"{args.out} exists; choose another --out or pass --overwrite")
    torch.set_num_threads(1)
    images = [(p.stem, read_image(p)) for p in held_out_paths(args.data)]
    models = [resolve_model(name, args.scale)[0] for name in args.models]
    if any(m.config != models[0].config for m in models):
        raise SRCNNError("the candidates differ in architecture; a soup averages one architecture's weights")
    template = models[0]

    def score(state: dict[str, torch.Tensor]) -> float:
        template.load_state_dict(state)
        return summary(evaluate_images(images, args.scale, Upscaler(template, args.scale, "fp32")))["mean"]["psnr"]

    states = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    scores = [score(s) for s in states]
    order = sorted(range(len(states)), key=lambda i: -scores[i])
    for i in order:
        print(f"{args.models[i]:<60} {scores[i]:.4f}")
    members, best = [order[0]], scores[order[0]]
    for i in order[1:]:
        trial = score(_average([states[j] for j in members + [i]]))
        verdict = "joins" if trial > best else "left out"
        print(f"  + {args.models[i]}: {trial:.4f} ({verdict})")
        if trial > best:
            members, best = members + [i], trial
    if len(members) == 1:
        print(f"no soup beats {args.models[order[0]]} ({best:.4f}); nothing written")
        return 1
    template.load_state_dict(_average([states[j] for j in members]))
    save_model(template, args.out, args.scale, val_psnr=round(best, 4),
               soup=" + ".join(args.models[j] for j in members))
    print(f"wrote {args.out}: {len(members)} members, validation {best:.4f} dB")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SRCNNError as exc:
        print(f"greedy_soup: {exc}", file=sys.stderr)
        sys.exit(2)
