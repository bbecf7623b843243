"""Upscaling speed and memory on this machine.

For each shipped x3 model (or --model files): output megapixels per second on one 1280x720 -> x3
(3840x2160) frame, for the network alone on its input grid (the bicubic-upscaled plane for SRCNN,
the LR plane for FSRCNN), with the fast path (what `srcnn upscale` uses:
--precision auto, tiles) and with the plain PyTorch path (fp32, NCHW, whole frame), in the same
run, and their ratio. Then, each in a fresh process: the whole `srcnn upscale` command for a
1280x720 image to 3840x2160 (start to written file), and the peak RSS of an 8K (7680x4320) output.

    python benchmarks/upscale_speed.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srcnn.inference import Upscaler, bf16_supported
from srcnn.models.weights import Weights, load_model


def test_frame(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([128 + 100 * np.sin(x / 23.0), 128 + 100 * np.sin(y / 17.0), 128 + 90 * np.sin((x + y) / 31.0)], 2)
    return rgb.astype(np.uint8)


def network_rate(upscaler: Upscaler, plane: np.ndarray, repeats: int) -> float:
    """Output MP/s of the network on its input plane (the model loaded, warm)."""
    upscaler.restore(plane[:256, :256])  # warm-up: kernels chosen, weights laid out
    start = time.perf_counter()
    for _ in range(repeats):
        upscaler.restore(plane)
    out_pixels = plane.size * upscaler.model.config.upscale_factor ** 2
    return repeats * out_pixels / 1e6 / (time.perf_counter() - start)


def plain_rate(model, plane: np.ndarray, repeats: int) -> float:
    """The plain path: fp32, NCHW, the whole frame in one forward."""
    x = torch.from_numpy(plane.astype(np.float32))[None, None]
    with torch.inference_mode():
        model(x[..., :256, :256])
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return repeats * plane.size * model.config.upscale_factor ** 2 / 1e6 / (time.perf_counter() - start)


def timed_cli(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `srcnn ...` process.

    The child reads its own VmHWM at exit: getrusage(RUSAGE_CHILDREN) would report this (large)
    benchmark process's peak instead, since a child started by fork or vfork inherits the parent's
    high-water mark until it calls exec."""
    probe = ("import atexit, runpy, sys\n"
             "def report():\n"
             "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
             "    print('VmHWM', hwm, file=sys.stderr)\n"
             "atexit.register(report)\n"
             f"sys.argv = ['srcnn'] + {args!r}\n"
             "runpy.run_module('srcnn', run_name='__main__')\n")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    hwm_kib = int(done.stderr.split("VmHWM")[-1].split()[0])
    return wall, hwm_kib / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="*", help="weights files (default: every shipped x3 model)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-processes", action="store_true", help="only the in-process network rates")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {bf16_supported()}")
    models = [(Path(p).name, load_model(p)[0]) for p in args.model] if args.model else \
        [(w.name, load_model(w.entry.path)[0]) for w in Weights if w.entry.scale == 3]
    frame = test_frame(720, 1280)
    lr_plane = frame[:, :, 1].astype(np.float32) / 255
    hr_plane = Upscaler(None, 3).upscale_float(lr_plane)  # 2160 x 3840
    print(f"{'model':<22} {'fast MP/s':>9} {'plain MP/s':>10} {'ratio':>6}")
    for name, model in models:
        plane = lr_plane if model.config.input_grid == "lr" else hr_plane  # each network's own input grid
        fast = network_rate(Upscaler(model, 3, precision="auto"), plane, args.repeats)
        plain = plain_rate(model, plane, max(1, args.repeats // 2))
        print(f"{name:<22} {fast:9.2f} {plain:10.2f} {fast / plain:5.1f}x")
    if args.skip_processes:
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        src720, src1440 = Path(tmp) / "720p.png", Path(tmp) / "1440p.png"
        Image.fromarray(frame).save(src720)
        Image.fromarray(test_frame(1440, 2560)).save(src1440)
        model_args = ["--model", args.model[0]] if args.model else []
        wall, _ = timed_cli(["upscale", str(src720), "-o", str(Path(tmp) / "4k.png"), "--scale", "3", *model_args])
        print(f"srcnn upscale 1280x720 -> 3840x2160, whole process: {wall:.2f} s")
        wall, rss = timed_cli(["upscale", str(src1440), "-o", str(Path(tmp) / "8k.png"), "--scale", "3", *model_args])
        print(f"srcnn upscale 2560x1440 -> 7680x4320: {wall:.2f} s, peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
