"""Ray's overhead for `srcnn batch` on one machine: images/s with --engine ray against --engine local.

Makes a folder of N (default 200) RGB images (128x128 thumbnails, or --size 400 for photo-sized
ones), then, in this one run, upscales it x2
with the same model and options:
  local      `--engine local`: one process, torch threads on every core (as `srcnn upscale`);
  ray cold   `--engine ray` as a user runs it on a laptop: starts a local Ray, then the job, then stops it;
  ray warm   `--engine ray` with Ray already running (`ray start` / a cluster): actors start, load the model, work.
and, to see Ray's own cost apart from how the two engines use the cores (torch threads on small
images against one process per core), the same on one core: local with one torch thread against a
warm Ray with one single-threaded worker.
Each run writes into a fresh folder and the outputs are checked byte-equal to the local run's.
Reports wall seconds (from the call to the last file written, Ray start included where it is
part of the run), images/s, the overhead against the local run, and each worker's peak RSS.

    python benchmarks/batch_speed.py [--images 200] [--size 128] [--precision auto] [--rounds 1] [--one-core-only]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from srcnn.apps.batch import BatchSettings, run_batch


def make_folder(folder: Path, count: int, size: int) -> None:
    """Random rectangles and ellipses: sharp edges, varied colours, PNG."""
    rng = np.random.default_rng(0)
    for i in range(count):
        image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(20):
            x0, y0 = (int(v) for v in rng.integers(0, size - 8, 2))
            x1, y1 = x0 + int(rng.integers(4, size // 3)), y0 + int(rng.integers(4, size // 3))
            shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
            shape((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        image.save(folder / f"img{i:04d}.png")


def timed(folder: Path, out: Path, settings: BatchSettings, engine: str, workers: int | None = None) -> tuple[float, dict]:
    import torch

    threads = torch.get_num_threads()  # settings.threads changes this process's torch threads
    start = time.perf_counter()
    report = run_batch(str(folder), str(out), settings, engine, workers=workers, progress=False)
    seconds = time.perf_counter() - start
    torch.set_num_threads(threads)
    assert report.done == report.inputs and not report.failed, report
    return seconds, report.workers


def same_files(a: Path, b: Path) -> bool:
    names = sorted(p.relative_to(a) for p in a.glob("*.png"))
    return names == sorted(p.relative_to(b) for p in b.glob("*.png")) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--rounds", type=int, default=1, help="repeat the runs; medians are reported")
    parser.add_argument("--one-core-only", action="store_true", help="only 'local 1 core' and 'ray warm 1 worker'")
    args = parser.parse_args()

    import os

    import ray
    import torch

    from srcnn.inference import resolve_precision

    settings = BatchSettings(args.scale, precision=args.precision)
    one_core = BatchSettings(args.scale, precision=args.precision, threads=1)
    dtype = resolve_precision(args.precision, torch.device("cpu")) or torch.float32
    from srcnn.models.weights import resolve_model

    arch = resolve_model(None, args.scale)[1].get("arch", "?")
    print(f"{args.images} images {args.size}x{args.size} -> x{args.scale}, default model ({arch}), {dtype} "
          f"({args.precision}), {os.cpu_count()} cores, ray {ray.__version__}")
    # name: (engine, settings, Ray actors, Ray started beforehand, the run it is compared with)
    runs = {"local": ("local", settings, None, False, None),
            "ray cold": ("ray", settings, None, False, "local"),
            "ray warm": ("ray", settings, None, True, "local"),
            "local 1 core": ("local", one_core, None, False, None),
            "ray warm 1 worker": ("ray", one_core, 1, True, "local 1 core")}
    if args.one_core_only:
        runs = {name: run for name, run in runs.items() if name.endswith(("1 core", "1 worker"))}
    times: dict[str, list[float]] = {name: [] for name in runs}
    workers: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        make_folder(folder, args.images, args.size)
        # Untimed: this process's first upscale pays one-off costs (weights read, kernels built) that
        # a Ray actor pays in its own process, where they are part of what Ray adds.
        warm_up = Path(tmp) / "warm-up"
        warm_up.mkdir()
        make_folder(warm_up, 2, args.size)
        timed(warm_up, Path(tmp) / "warm-up-out", settings, "local")
        for r in range(args.rounds):
            outs = {name: Path(tmp) / f"out-{name.replace(' ', '-')}-{r}" for name in runs}
            for name, (engine, job, actors, warm, _) in runs.items():
                if warm:
                    ray.init(address="local", include_dashboard=False, logging_level="WARNING")
                try:
                    seconds, workers[name] = timed(folder, outs[name], job, engine, actors)
                finally:
                    if warm:
                        ray.shutdown()
                times[name].append(seconds)
                assert same_files(outs[next(iter(runs))], outs[name]), f"{name}: outputs differ from the local run's"
    print(f"{'engine':<18} {'seconds':>8} {'images/s':>9} {'Ray overhead':>13}  peak RSS per worker (MiB)")
    for name, (_, _, _, _, base) in runs.items():
        seconds = statistics.median(times[name])
        peaks = ", ".join(f"{m:.0f}" for m in workers[name].values())
        overhead = ""
        if base:
            base_seconds = statistics.median(times[base])
            overhead = f"{100 * (seconds - base_seconds) / base_seconds:+.1f}% vs {base}"
        print(f"{name:<18} {seconds:8.2f} {args.images / seconds:9.2f} {overhead:>13}  {peaks}")
    print("outputs: byte-identical across engines")


if __name__ == "__main__":
    main()
