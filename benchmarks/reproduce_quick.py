"""`srcnn reproduce --budget quick` end to end: wall time and peak memory on this machine.

Runs the command in a child process (fresh --out each time, so every study run is trained) and
reports its wall time and peak RSS (the largest of the child and the processes it waited for:
getrusage(RUSAGE_CHILDREN), measured around this one child), and the progress lines it printed.

    python benchmarks/reproduce_quick.py [--data $SRCNN_DATA] [--budget quick]

The issue's target: under 60 s and 1.5 GB on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SRCNN_DATA"),
                        help="the folder holding T91, BSD200, Set5, Set14 (default: $SRCNN_DATA)")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--quiet", action="store_true", help="do not echo the command's output")
    args = parser.parse_args()
    if not args.data:
        sys.exit("reproduce_quick: pass --data or set SRCNN_DATA")
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "srcnn", "reproduce", "--data", args.data, "--out", out,
                   "--budget", args.budget]
        start = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KB on Linux
    lines = done.stdout.strip().splitlines()
    if not args.quiet:
        print("\n".join(lines))
    if done.returncode:
        sys.exit(f"reproduce_quick: the command failed (exit {done.returncode})")
    print(f"srcnn reproduce --budget {args.budget}: {seconds:.1f} s wall, peak RSS {peak_mb:.0f} MB, "
          f"{len(lines)} lines of output, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
