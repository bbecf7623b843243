"""What `torch.compile` would buy the upscaler's network (issue 13's next step), side by side in one run.

For each shipped x3 model: the network exactly as `Upscaler` runs it with `--precision auto` on a
bf16 CPU (a bf16 copy in channels-last memory, fed one band of a 1280x720 LR frame, 96 rows), eager
against `torch.compile` with fixed shapes and with dynamic shapes: compile seconds (the first call),
output MP/s, the speed-up, and the largest difference from eager on the band. Inductor's caches are
off, so the compile seconds are what a first run pays. A compile costs seconds per distinct band
shape, more than the whole of a single-image `srcnn upscale`, so the package compiles (the whole
band pipeline, not only the network: `Upscaler(compile=True)`) for video only, unless asked
(`--compile on`); `benchmarks/realtime.py` measures that path end to end.

    python benchmarks/compile_speed.py [--rows 96] [--repeats 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import os
import time
import warnings

# Compile seconds as a first run pays them: no inductor caches from earlier runs.
os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
warnings.filterwarnings("ignore", message="dynamo_pgo force disabled")

import torch  # noqa: E402

from srcnn.inference import bf16_supported  # noqa: E402
from srcnn.models.weights import Weights, load_model  # noqa: E402

MODELS = ("SRCNN_955_X3", "FSRCNN_X3", "FSRCNN_S_X3")
WIDTH = 1280  # a 720p LR frame's width


def seconds_per_call(net, x: torch.Tensor, repeats: int) -> float:
    with torch.inference_mode():
        net(x)
        start = time.perf_counter()
        for _ in range(repeats):
            net(x)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=96, help="LR rows in the band")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if bf16_supported() else torch.float32
    print(f"torch {torch.__version__}, {args.threads} threads, {dtype}; band {args.rows}x{WIDTH} LR, x3")
    print(f"{'model':<14} {'eager MP/s':>10} {'mode':>8} {'compile s':>9} {'MP/s':>7} {'speed-up':>8} {'max diff':>9}")
    for name in MODELS:
        entry = Weights[name].entry
        model, _ = load_model(entry.path)
        eager = copy.deepcopy(model).eval().to(dtype).to(memory_format=torch.channels_last)
        grid = entry.scale if model.config.input_grid == "hr" else 1  # an HR-grid net gets the bicubic-sized band
        x = torch.rand(1, 1, args.rows * grid, WIDTH * grid).to(dtype).contiguous(memory_format=torch.channels_last)
        megapixels = args.rows * WIDTH * entry.scale**2 / 1e6
        eager_s = seconds_per_call(eager, x, args.repeats)
        with torch.inference_mode():
            reference = eager(x).float()
        for dynamic in (False, True):
            torch._dynamo.reset()
            compiled = torch.compile(eager, dynamic=dynamic)
            start = time.perf_counter()
            with torch.inference_mode():
                out = compiled(x).float()
            compile_s = time.perf_counter() - start
            compiled_s = seconds_per_call(compiled, x, args.repeats)
            diff = (out - reference).abs().max().item()
            print(f"{name:<14} {megapixels / eager_s:>10.1f} {'dynamic' if dynamic else 'fixed':>8} "
                  f"{compile_s:>9.1f} {megapixels / compiled_s:>7.1f} {eager_s / compiled_s:>7.2f}x {diff:>9.2e}",
                  flush=True)


if __name__ == "__main__":
    main()
