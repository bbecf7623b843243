"""Speed of the shipped x3 models end to end, side by side in one run (issue 13's figures).

1. The machine's bf16 matmul peak (GMAC/s), measured here.
2. For each shipped x3 model (and bicubic): one 1280x720 RGB frame to 3840x2160 through the Python API
   (`Upscaler.upscale_array`, --precision auto: what `srcnn upscale` does), output MP/s and the ratio
   to the 9-5-5; the network alone on its input plane (MP/s, GMAC/s and the fraction of the peak);
   then the same frame with the network compiled (`Upscaler(compile=True)`, what `srcnn upscale
   --compile on` does, and `--compile auto` for the video of a model without its own inference form):
   the seconds of the first call (the compiles) and the steady rate after it.
3. Whole processes: `srcnn upscale 720p.png -o 4k.png --scale 3 --model fsrcnn` against a bare
   `python -c "import torch"` (best of 3, beside the same with ``gc.freeze()``, which the CLI
   calls); an 8K output (2560x1440 x3) with fsrcnn, its peak RSS; a 10 s 640x360 30 fps clip
   with audio upscaled x2 with fsrcnn, the real-time factor, three times: as the CLI does by
   default (`--compile auto`, which runs FSRCNN's own inference form eagerly), then with
   `--compile on` and an empty inductor cache, then again with the cache that run left.

4. ``--video-stages``: the clip's stages one by one, in one process: decoding; the x2 network on one
   frame's planes with one torch thread and with all of them; the encoder alone on the upscaled
   frames, as the writer sets it (x264 veryfast, subme 1) against plain veryfast (CPU seconds, file
   size); then the whole clip through ``upscale_video`` with its frame workers (one torch thread
   each, the default) against one frame at a time on all the threads, alternately, with the page
   faults of each run; then the same clip letterboxed (2.39:1 in the 16:9 frame) with the rows that
   did not change since the frame before copied (the default) against every row computed, alternately.

With ``--device cuda`` only step 2's in-process rates run, on the GPU (no compile; the whole-process
and video figures are the CPU's): the network in bf16 there, decoding and colour on the host.

    python benchmarks/realtime.py [--repeats 3] [--skip-processes] [--video-only] [--video-stages]
                                  [--precision auto|fp32|bf16] [--device cuda]
"""

from __future__ import annotations

import argparse
import fractions
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srcnn.inference import Upscaler, bf16_supported, make_upscaler
from srcnn.models.weights import Weights, load_model
from upscale_speed import test_frame, timed_cli


def matmul_peak(seconds: float = 3.0, device: str = "cpu") -> float:
    """bf16 multiply-accumulates per second of large square matmuls: the best of three short rounds
    at each size (the machine's practical peak; one round at one size read a quarter low on a noisy
    2-core machine, below what the 9-5-5's convolutions then ran at)."""
    sizes = (8192,) if device != "cpu" else (1024, 2048)
    best = 0.0
    for n in sizes:
        a, b = (torch.randn(n, n, dtype=torch.bfloat16, device=device) for _ in range(2))
        a @ b
        for _ in range(3):
            sync(device)
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / (3 * len(sizes)):
                a @ b
                count += 1
            sync(device)
            best = max(best, count * n**3 / (time.perf_counter() - start))
    return best


def sync(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize()


def macs_per_output_pixel(model, scale: int) -> float:
    """Multiply-accumulates of the network's convolutions per output pixel."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        weight = module.weight
        total += output.numel() // output.shape[0] * weight[0].numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    h = w = 48
    with torch.inference_mode():
        out = model(torch.rand(1, model.config.channels, h, w))
    for hook in hooks:
        hook.remove()
    return total / (out.shape[-2] * out.shape[-1])


def best_of(repeats: int, fn) -> float:
    fn()  # warm-up: kernels chosen, weights laid out
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_clip(path: Path, seconds: int = 10, size=(640, 360), fps: int = 30, letterbox: int = 0) -> None:
    """A synthetic clip with motion and a 440 Hz tone (H.264 + AAC); ``letterbox``: rows of black
    above and below the picture (a wide film in a 16:9 frame)."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        base = test_frame(size[1] + 60, size[0] + 60)
        for i in range(seconds * fps):
            frame = np.ascontiguousarray(base[i % 60 : i % 60 + size[1], (2 * i) % 60 : (2 * i) % 60 + size[0]])
            if letterbox:
                frame[:letterbox] = frame[size[1] - letterbox :] = 0
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(video.encode(None))
        t = np.arange(48000 * seconds) / 48000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            chunk = np.stack([tone[start : start + 1024]] * 2)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = 48000, start, fractions.Fraction(1, 48000)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))


def probe_frames(path: Path) -> tuple[int, tuple[int, int], int]:
    import av

    with av.open(str(path)) as clip:
        frames = sum(1 for _ in clip.decode(video=0))
        v = clip.streams.video[0].codec_context
        return frames, (v.width, v.height), len(clip.streams.audio)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-processes", action="store_true", help="only the in-process rates")
    parser.add_argument("--video-only", action="store_true", help="only the video runs")
    parser.add_argument("--video-stages", action="store_true", help="only the clip's stages, one by one")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="of the in-process rates (fp32: what a CPU without native bf16 runs)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU's in-process rates")
    args = parser.parse_args()
    if args.video_only:
        return video_runs()
    if args.video_stages:
        return video_stages(args.repeats)
    gpu = args.device != "cpu"

    peak = matmul_peak(device=args.device)
    where = torch.cuda.get_device_name() if gpu else f"{torch.get_num_threads()} threads, native bf16: {bf16_supported()}"
    print(f"torch {torch.__version__}, {where}; bf16 matmul peak {peak / 1e9:.0f} GMAC/s")
    frame = test_frame(720, 1280)
    out_mp = 3840 * 2160 / 1e6
    y = frame[:, :, 1].astype(np.float32) / 255
    rows = [("bicubic", make_upscaler(3, method="bicubic"), None)]
    rows += [(w.name, make_upscaler(3, load_model(w.entry.path)[0], precision=args.precision, device=args.device), w)
             for w in Weights if w.entry.scale == 3]
    results = {}
    for name, upscaler, weights in rows:
        e2e = out_mp / best_of(args.repeats, lambda: upscaler.upscale_array(frame))
        net = gmac = None
        if weights is not None:
            grid = y if upscaler.model.config.input_grid == "lr" else Upscaler(None, 3).upscale_float(y)
            net = out_mp / best_of(args.repeats, lambda: upscaler.restore(grid))  # returns on the host: synced
            gmac = net * macs_per_output_pixel(load_model(weights.entry.path)[0], 3) / 1e3
        compiled_e2e = compile_s = None
        if weights is not None and not gpu:
            fast = make_upscaler(3, upscaler.model, precision=args.precision)
            fast.compile = True
            start = time.perf_counter()
            fast.upscale_array(frame)  # the compiles: one per band shape
            compile_s = time.perf_counter() - start
            compiled_e2e = out_mp / best_of(args.repeats, lambda fast=fast: fast.upscale_array(frame))
        results[name] = (e2e, net, gmac, compiled_e2e, compile_s)
    base, compiled_base = results["SRCNN_955_X3"][0], results["SRCNN_955_X3"][3]
    print(f"\n1280x720 -> 3840x2160 (x3), best of {args.repeats}, --precision {args.precision}, --device {args.device}")
    print(f"{'model':<20} {'end to end MP/s':>16} {'vs 9-5-5':>9} {'network MP/s':>13} {'GMAC/s':>7} {'of peak':>8}"
          f" {'compiled MP/s':>14} {'vs 9-5-5':>9} {'first call s':>13}")
    for name, (e2e, net, gmac, compiled_e2e, compile_s) in results.items():
        net_s = f"{net:13.2f}" if net else f"{'-':>13}"
        gmac_s = f"{gmac:7.0f} {gmac * 1e9 / peak:7.0%}" if gmac else f"{'-':>7} {'-':>8}"
        compiled_s = (f"{compiled_e2e:14.2f} {compiled_e2e / compiled_base:8.1f}x {compile_s:13.1f}" if compiled_e2e
                      else f"{'-':>14} {'-':>9} {'-':>13}")
        print(f"{name:<20} {e2e:16.2f} {e2e / base:8.1f}x {net_s} {gmac_s} {compiled_s}")
    if args.skip_processes or gpu:
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        Image.fromarray(frame).save(tmp / "720p.png")
        Image.fromarray(test_frame(1440, 2560)).save(tmp / "1440p.png")
        bare = bare_import_seconds("import torch")
        frozen = bare_import_seconds("import torch, gc; gc.freeze()")
        print(f"\nbare `python -c 'import torch'` {bare:.2f} s; with gc.freeze() before exit (what the CLI does "
              f"once its model is loaded) {frozen:.2f} s: the collector's walk at exit costs {bare - frozen:.2f} s")
        whole, _ = timed_cli(["upscale", str(tmp / "720p.png"), "-o", str(tmp / "4k.png"), "--scale", "3",
                              "--model", "fsrcnn", "--quiet"])
        whole_955, _ = timed_cli(["upscale", str(tmp / "720p.png"), "-o", str(tmp / "4k_955.png"), "--scale", "3",
                                  "--model", "srcnn", "--quiet"])
        print(f"whole process, 1280x720 -> 3840x2160: fsrcnn {whole:.2f} s, 9-5-5 {whole_955:.2f} s; "
              f"bare `python -c 'import torch'` {bare:.2f} s; fsrcnn / import torch = {whole / bare:.2f}x")
        wall, rss = timed_cli(["upscale", str(tmp / "1440p.png"), "-o", str(tmp / "8k.png"), "--scale", "3",
                               "--model", "fsrcnn", "--quiet"])
        print(f"2560x1440 -> 7680x4320 (8K) with fsrcnn: {wall:.2f} s, peak RSS {rss:.0f} MiB")
    return video_runs()


def bare_import_seconds(code: str, repeats: int = 3) -> float:
    """The best wall seconds of ``repeats`` processes running ``python -c CODE``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def video_runs() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_clip(tmp / "clip.mp4")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(tmp / "inductor")  # empty: the first run compiles from scratch
        for label, extra in (("the default, --compile auto: eager for FSRCNN", []),
                             ("--compile on, first run", ["--compile", "on"]),
                             ("--compile on, cache warm", ["--compile", "on"])):
            (tmp / "big.mp4").unlink(missing_ok=True)
            wall, _ = timed_cli(["upscale", str(tmp / "clip.mp4"), "-o", str(tmp / "big.mp4"), "--scale", "2",
                                 "--model", "fsrcnn", "--quiet", *extra])
            frames, size, audio = probe_frames(tmp / "big.mp4")
            print(f"10 s 640x360 30 fps clip with audio, x2 with fsrcnn ({label}): {wall:.2f} s whole process "
                  f"({10 / wall:.2f}x real time); output {frames} frames at {size[0]}x{size[1]}, "
                  f"{audio} audio stream(s)")
    return 0


def video_stages(repeats: int) -> int:
    import resource

    import av

    from srcnn.io.video import X264_OPTIONS, _upscale_420, upscale_video

    def faults() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_clip(tmp / "clip.mp4")
        start = time.perf_counter()
        with av.open(str(tmp / "clip.mp4")) as clip:
            frames = [f.to_ndarray(format="yuv420p") for f in clip.decode(video=0)]
        print(f"decoding the 10 s 640x360 clip: {time.perf_counter() - start:.2f} s, {len(frames)} frames")
        upscaler = make_upscaler(2, "fsrcnn", precision="auto")
        y, u, v = frames[0][:360], frames[0][360:450].reshape(180, 320), frames[0][450:].reshape(180, 320)
        for n in (1, threads):
            torch.set_num_threads(n)
            per_frame = best_of(repeats, lambda: [upscaler.upscale_planes(y, u, v) for _ in range(10)]) / 10
            print(f"x2 fsrcnn on one frame's planes, {n} torch thread(s): {per_frame * 1e3:.1f} ms "
                  f"({300 * per_frame:.2f} s for 300 frames)")
        torch.set_num_threads(threads)
        big = [_upscale_420(frame, upscaler.upscale_planes) for frame in frames]  # as the video path does
        for label, options in (("veryfast, subme 1 (what the writer uses)", X264_OPTIONS),
                               ("plain veryfast", {"preset": "veryfast"})):
            cpu = time.process_time()
            with av.open(str(tmp / "encoded.mp4"), "w") as out:
                stream = out.add_stream("libx264", rate=30)
                stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
                stream.options = {"crf": "18", **options}
                for i, frame in enumerate(big):
                    picture = av.VideoFrame.from_ndarray(frame, format="yuv420p")
                    picture.pts = i
                    out.mux(stream.encode(picture))
                out.mux(stream.encode(None))
            print(f"encoding the 300 upscaled frames, x264 crf 18 {label}: {time.process_time() - cpu:.2f} CPU s, "
                  f"{(tmp / 'encoded.mp4').stat().st_size / 1024:.0f} KiB")
        for run in range(repeats):
            for label, at_once in (("frame workers, one torch thread each (the default)", None),
                                   (f"one frame at a time on {threads} threads", 1)):
                (tmp / "big.mp4").unlink(missing_ok=True)
                before, start = faults(), time.perf_counter()
                stats = upscale_video(tmp / "clip.mp4", tmp / "big.mp4", upscaler.upscale_array, 2, progress=False,
                                      upscale_planes=upscaler.upscale_planes,
                                      upscale_planes_since=upscaler.upscale_planes_since, frames_at_once=at_once)
                print(f"run {run + 1}, the clip through upscale_video, {label}: {time.perf_counter() - start:.2f} s "
                      f"for {stats['frames']} frames, {faults() - before} page faults")
        # a 2.39:1 film in the 16:9 frame: 46 rows of black above and below, which frames share
        make_clip(tmp / "bars.mp4", letterbox=46)
        for run in range(repeats):
            for reuse in (True, False):
                (tmp / "big.mp4").unlink(missing_ok=True)
                start, cpu = time.perf_counter(), time.process_time()
                stats = upscale_video(tmp / "bars.mp4", tmp / "big.mp4", upscaler.upscale_array, 2, progress=False,
                                      upscale_planes=upscaler.upscale_planes,
                                      upscale_planes_since=upscaler.upscale_planes_since if reuse else None)
                label = "rows unchanged since the frame before copied (the default)" if reuse else "every row computed"
                print(f"run {run + 1}, the letterboxed clip (2.39:1), {label}: {time.perf_counter() - start:.2f} s "
                      f"({time.process_time() - cpu:.2f} CPU s) for {stats['frames']} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
