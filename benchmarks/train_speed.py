"""Training speed on this machine.

1. Throughput: patches/s of the 9-5-5 training step (Adam, 48x48 patches, batch 64) in fp32 and in
   bf16 autocast, side by side in one process.
2. ``--time-to-psnr``: wall time of the fast recipe from scratch until Set5 x3 reaches 32.39 dB (the
   ECCV paper's 9-1-5 number), validating on Set5 every ``--val-every`` steps. Set5 is only watched
   here, never used to choose anything.

    python benchmarks/train_speed.py
    python benchmarks/train_speed.py --time-to-psnr --data ../shared/data/T91 ../shared/data/BSD200 \\
        --val-data ../shared/data/Set5
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import torch

from srcnn.inference import bf16_supported
from srcnn.models import SRCNN, SRCNNConfig
from srcnn.training.train import TrainConfig, build_optimizer, compute_loss, train


def throughput(precision: str, steps: int, batch: int = 64, patch: int = 48) -> float:
    cfg = TrainConfig(batch_size=batch, patch_size=patch)
    torch.manual_seed(0)
    model = SRCNN(SRCNNConfig.from_arch("9-5-5", residual=True)).to(memory_format=torch.channels_last)
    model.init_weights("kaiming")
    optimizer = build_optimizer(model, cfg)
    r = model.config.receptive_radius
    x = torch.rand(batch, 1, patch, patch).contiguous(memory_format=torch.channels_last)
    y = torch.rand(batch, 1, patch - 2 * r, patch - 2 * r)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(x, same_size=False)
        loss = compute_loss(out.float(), y, cfg)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--time-to-psnr", action="store_true")
    parser.add_argument("--data", nargs="+")
    parser.add_argument("--val-data", nargs="+")
    parser.add_argument("--target", type=float, default=32.39)
    parser.add_argument("--val-every", type=int, default=250)
    parser.add_argument("--max-steps", type=int, default=40000)
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {bf16_supported()}")
    rates = {p: throughput(p, args.steps) for p in ("fp32", "bf16")}
    for p, rate in rates.items():
        print(f"9-5-5 training, 48x48 patches, batch 64, {p}: {rate:8.1f} patches/s")
    print(f"bf16 / fp32: {rates['bf16'] / rates['fp32']:.2f}x")

    if args.time_to_psnr:
        if not (args.data and args.val_data):
            parser.error("--time-to-psnr needs --data and --val-data")
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(data=args.data, val_data=args.val_data, out=tmp, scale=3, steps=args.max_steps,
                              val_every=args.val_every, target_psnr=args.target)
            start = time.perf_counter()
            train(cfg, progress=False)
            wall = time.perf_counter() - start
            with open(Path(tmp) / "log.csv") as f:
                rows = list(csv.DictReader(f))
        hit = next((r for r in rows if float(r["val_psnr"]) >= args.target), None)
        for r in rows:
            print(f"step {r['step']:>6}  {float(r['seconds']):7.1f} s  val PSNR {r['val_psnr']}")
        if hit is None:
            print(f"did not reach {args.target} dB in {args.max_steps} steps ({wall:.0f} s)")
            return 1
        print(f"reached {args.target} dB at step {hit['step']} after {float(hit['seconds']):.0f} s of training "
              f"({wall:.0f} s including data preparation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
