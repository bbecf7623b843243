"""Training throughput and peak memory against dataset size, with streamed data.

Generates 1k / 10k / 50k synthetic images (once, under --root), then for each size trains the
default 9-5-5 for --steps steps with ``stream=True`` in a fresh process, and reports steps/s and
the peak RSS of the trainer and of its DataLoader workers. Memory should stay flat: only the file
list grows with the dataset.

    python benchmarks/data_scaling.py                      # 1000 10000 50000 images
    python benchmarks/data_scaling.py --sizes 1000 10000 --steps 50
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def synthetic_image(seed: int, size: int = 96) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("L", (size, size), int(rng.integers(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(10):
        x0, y0 = (int(v) for v in rng.integers(0, size - 8, 2))
        draw.rectangle((x0, y0, x0 + int(rng.integers(4, 40)), y0 + int(rng.integers(4, 40))), fill=int(rng.integers(256)))
    return image


def make_dataset(root: Path, count: int) -> Path:
    folder = root / f"images_{count}"
    done = folder / ".complete"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            synthetic_image(i).save(folder / f"{i:06d}.png")
        done.touch()
    return folder


def run_one(data: Path, val: Path, steps: int, workers: int) -> dict:
    """Train in this process; report throughput and peak RSS (self and workers), in MiB."""
    from srcnn.training.train import TrainConfig, train

    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(data=[str(data)], val_data=[str(val)], out=out, scale=3, steps=steps, val_every=steps,
                          warmup_steps=10, stream=True, workers=workers)
        start = time.perf_counter()
        train(cfg, progress=False)
        wall = time.perf_counter() - start
    return {
        "steps_per_s": steps / wall,
        "patches_per_s": steps * cfg.batch_size / wall,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "srcnn-data-scaling")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    args = parser.parse_args()

    val = make_dataset(args.root, 8)
    if args.one:
        print(json.dumps(run_one(make_dataset(args.root, args.one), val, args.steps, args.workers)))
        return 0
    rows = []
    for size in args.sizes:
        make_dataset(args.root, size)
        done = subprocess.run([sys.executable, __file__, "--one", str(size), "--steps", str(args.steps),
                               "--workers", str(args.workers), "--root", str(args.root)],
                              capture_output=True, text=True, check=True)
        rows.append((size, json.loads(done.stdout.strip().splitlines()[-1])))
    print(f"{'images':>7}  {'patches/s':>9}  {'trainer peak RSS':>16}  {'worker peak RSS':>15}")
    for size, r in rows:
        print(f"{size:7d}  {r['patches_per_s']:9.1f}  {r['peak_rss_mib']:12.0f} MiB  {r['worker_peak_rss_mib']:11.0f} MiB")
    peaks = [r["peak_rss_mib"] + r["worker_peak_rss_mib"] for _, r in rows]
    print(f"peak RSS (trainer + one worker), largest / smallest dataset: {max(peaks) / min(peaks):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
