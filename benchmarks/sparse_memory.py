"""Sparse coding's peak memory and time on one 481x321 image at x3 (a BSD200 size).

Each measurement runs in a fresh process, which reports its own peak RSS (VmHWM): the chunked
reconstruction as `srcnn upscale --method sparse-coding` runs it (default chunk), and the same
code with one chunk holding every patch (how it ran before chunking), side by side.

    python benchmarks/sparse_memory.py [--image FILE] [--scale 3] [--chunks 4096 1000000000]

Without --image it takes the first 481x321 image of $SRCNN_DATA/BSD200, else a synthetic one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time
import numpy as np
from srcnn.protocol.color import to_plane
from srcnn.io.imageio import read_image
from srcnn.protocol.resize import imresize, modcrop
from srcnn.sparse import SparseCodingUpscaler

path, scale, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if path:
    hr = to_plane(read_image(path), 1)
else:  # synthetic 481x321 texture: edges and gradients everywhere
    y, x = np.mgrid[0:321, 0:481]
    hr = (128 + 60 * np.sin(x / 7.0) * np.cos(y / 11.0) + 60 * ((x // 23 + y // 17) % 2)).clip(0, 255)
hr = modcrop(hr.astype(np.float64) / 255.0, scale)
lr = imresize(hr, 1 / scale)
upscaler = SparseCodingUpscaler(scale, batch=chunk)
start = time.perf_counter()
upscaler(lr)
seconds = time.perf_counter() - start
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({"seconds": seconds, "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
                  "shape": list(hr.shape)}))
"""


def default_image() -> str:
    folder = Path(os.environ.get("SRCNN_DATA", "")) / "BSD200"
    if folder.is_dir():
        from PIL import Image

        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in {".jpg", ".png"}:
                with Image.open(path) as image:
                    if image.size == (481, 321):
                        return str(path)
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="an HR image (default: a 481x321 BSD200 image, else synthetic)")
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--chunks", type=int, nargs="+", default=[4096, 10**9],
                        help="patches per chunk to measure (default: the upscaler's 4096, and all at once)")
    args = parser.parse_args()
    image = args.image if args.image is not None else default_image()
    print(f"image: {image or 'synthetic 481x321'}, x{args.scale}, {os.cpu_count()} CPUs")
    print(f"{'chunk (patches)':>16}  {'seconds':>8}  {'peak RSS (MB)':>13}")
    for chunk in args.chunks:
        done = subprocess.run([sys.executable, "-c", CHILD, image, str(args.scale), str(chunk)],
                              capture_output=True, text=True)
        if done.returncode:
            print(f"{chunk:>16}  failed: {done.stderr.strip().splitlines()[-1]}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        label = "all at once" if chunk >= 10**8 else str(chunk)
        print(f"{label:>16}  {result['seconds']:8.1f}  {result['peak_rss_mb']:13.0f}")


if __name__ == "__main__":
    main()
