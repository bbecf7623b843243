"""`srcnn serve` under load, on loopback: N concurrent clients posting real images.

Starts `srcnn serve` in a subprocess on 127.0.0.1 (a free port), then CLIENTS threads post
256x256 crops of Set14 / Set5 (from SRCNN_DATA; the package's example image where they are
absent) to POST /api/upscale at --scale, until --requests requests are answered or --seconds pass.
A further thread asks /healthz every 100 ms meanwhile. Prints requests/s, p50 / p95 / max latency,
clean refusals (503 + Retry-After, which clients obey) and anything else as errors, /healthz
latency during the load, and the server's RSS every 50 requests and its peak.

    python benchmarks/serve_load.py                      # 8 clients, 200 requests of 256x256 at x3
    python benchmarks/serve_load.py --clients 16 --queue 4 --workers 1
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def crops(size: int, count: int) -> list[bytes]:
    """PNG bytes of ``count`` size x size crops of real photographs."""
    data = Path(os.environ.get("SRCNN_DATA", REPO.parent / "shared" / "data"))
    paths = sorted((data / "Set14").glob("*")) + sorted((data / "Set5").glob("*"))
    paths = [p for p in paths if p.suffix.lower() in (".bmp", ".png")] or [REPO / "examples" / "sample.png"]
    out = []
    rng = np.random.default_rng(0)
    while len(out) < count:
        image = Image.open(paths[len(out) % len(paths)]).convert("RGB")
        if min(image.size) < size:
            image = image.resize((max(size, image.width), max(size, image.height)), Image.BICUBIC)
        left = int(rng.integers(0, image.width - size + 1))
        top = int(rng.integers(0, image.height - size + 1))
        buf = io.BytesIO()
        image.crop((left, top, left + size, top + size)).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="stop after this many answered requests")
    parser.add_argument("--seconds", type=float, default=600, help="and after this many seconds at most")
    parser.add_argument("--size", type=int, default=256, help="side of the square images posted")
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="srcnn serve --workers (jobs at once)")
    parser.add_argument("--queue", type=int, default=8, help="srcnn serve --queue (jobs held at once)")
    parser.add_argument("--threads", type=int, default=1, help="srcnn serve --threads (torch threads)")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "srcnn", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(args.workers), "--queue", str(args.queue), "--threads", str(args.threads),
         "--precision", args.precision], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print(server.stderr.read() if server.stderr else "", file=sys.stderr)
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        images = crops(args.size, 16)
        # Warm-up: the engine is built on the first request (load once, serve per request).
        httpx.post(base + "/api/upscale", files={"file": ("w.png", images[0])}, data={"scale": str(args.scale)},
                   timeout=120).raise_for_status()
        rss_start = rss_mib(server.pid)

        lock = threading.Lock()
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        rss_after: dict[int, float] = {}
        answered = [0]
        stop = threading.Event()
        end_by = time.monotonic() + args.seconds

        def client(index: int) -> None:
            with httpx.Client(base_url=base, timeout=120) as http:
                n = index
                while not stop.is_set():
                    data = images[n % len(images)]
                    n += args.clients
                    t0 = time.perf_counter()
                    try:
                        r = http.post("/api/upscale", files={"file": ("img.png", data)},
                                      data={"scale": str(args.scale)})
                        key, ok = str(r.status_code), r.status_code == 200
                        if ok:
                            Image.open(io.BytesIO(r.content)).verify()
                        retry = float(r.headers.get("retry-after", 0)) if r.status_code in (429, 503) else 0
                    except Exception as exc:  # noqa: BLE001 - counted, not raised
                        key, ok, retry = type(exc).__name__, False, 0
                    elapsed = time.perf_counter() - t0
                    with lock:
                        if answered[0] >= args.requests:
                            break
                        answered[0] += 1
                        statuses[key] = statuses.get(key, 0) + 1
                        if ok:
                            latencies.append(elapsed)
                        if answered[0] % 50 == 0 or answered[0] == args.requests:
                            rss_after[answered[0]] = rss_mib(server.pid)
                        if answered[0] >= args.requests or time.monotonic() > end_by:
                            stop.set()
                    if retry:
                        time.sleep(min(retry, 2.0))

        health: list[float] = []

        def prober() -> None:
            with httpx.Client(base_url=base, timeout=10) as http:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    http.get("/healthz").raise_for_status()
                    health.append(time.perf_counter() - t0)
                    time.sleep(0.1)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        threads.append(threading.Thread(target=prober))
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        peak = rss_mib(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(10)

    refused = sum(v for k, v in statuses.items() if k in ("429", "503"))
    errors = sum(v for k, v in statuses.items() if k not in ("200", "429", "503"))
    ms = 1000.0
    print(f"srcnn serve --workers {args.workers} --queue {args.queue} --threads {args.threads} "
          f"--precision {args.precision}; {args.clients} clients, {args.size}x{args.size} PNG at x{args.scale}")
    print(f"answered {sum(statuses.values())} in {wall:.1f} s: {len(latencies)} ok, {refused} refused (429/503), "
          f"{errors} errors {dict(sorted(statuses.items()))}")
    print(f"throughput: {len(latencies) / wall:.2f} images/s")
    print(f"latency: p50 {percentile(latencies, 50) * ms:.0f} ms, p95 {percentile(latencies, 95) * ms:.0f} ms, "
          f"max {max(latencies, default=float('nan')) * ms:.0f} ms")
    print(f"/healthz during load ({len(health)} probes): p50 {percentile(health, 50) * ms:.1f} ms, "
          f"p95 {percentile(health, 95) * ms:.1f} ms, max {max(health, default=float('nan')) * ms:.1f} ms")
    print(f"server RSS: {rss_start:.0f} MiB after warm-up; after N requests: "
          + ", ".join(f"{n}: {v:.0f}" for n, v in sorted(rss_after.items())) + f" MiB; peak {peak:.0f} MiB")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
