"""Training throughput with 1 process and with N processes under torchrun (DDP, gloo on CPU),
the same global batch, the same total number of threads.

    python benchmarks/ddp_scaling.py --data ../shared/data/T91 --steps 300 --procs 1 2
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run(procs: int, threads: int, args) -> float:
    """Patches per second of steps after the first validation (data loading and warm-up excluded)."""
    with tempfile.TemporaryDirectory() as out:
        train = ["-m", "srcnn", "train", "--data", *args.data, "--scale", "3", "--out", out,
                 "--steps", str(2 * args.steps), "--val-every", str(args.steps), "--val-count", "2",
                 "--batch-size", str(args.batch_size), "--quiet"]
        launcher = [] if procs == 1 else ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        subprocess.run([sys.executable, *launcher, *train], check=True, env=env, capture_output=True)
        with open(Path(out) / "log.csv") as f:
            rows = list(csv.DictReader(f))
    # The second half of the run, timed between the two validations.
    seconds = float(rows[1]["seconds"]) - float(rows[0]["seconds"])
    return args.steps * args.batch_size / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args()
    base = None
    for procs in args.procs:
        rate = run(procs, max(1, args.cores // procs), args)
        base = base or rate
        print(f"{procs} process(es) x {max(1, args.cores // procs)} thread(s): {rate:7.1f} patches/s "
              f"({rate / base:.2f}x)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
