"""Video: decode, upscale and encode frame by frame with PyAV, audio copied as it is.

Frames stream through one at a time (memory does not grow with the video); every frame keeps its
timestamp, so the frame rate and any variable timing survive; audio packets are copied without
re-encoding where the output container holds their codec (else re-encoded to one it holds: Opus
for WebM, AAC elsewhere). The video codec is one the container holds (VP9 / AV1 for WebM, H.264
elsewhere), checked before any frame is decoded. The output is written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from .atomic import atomic_output
from ..errors import SRCNNError

__all__ = ["VIDEO_SUFFIXES", "check_encoder", "upscale_video"]

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v"}


# The video encoders each container can hold, best first (FFmpeg's names).
_ENCODERS = {".webm": ("libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1")}
_DEFAULT_ENCODERS = ("libx264", "libopenh264", "mpeg4")
# Audio re-encoding for a container that cannot hold the input's audio codec as it is.
_AUDIO_ENCODERS = {".webm": ("libopus", "opus")}
_DEFAULT_AUDIO_ENCODERS = ("aac", "libopus")


def _first_encoder(av, names) -> str | None:
    for name in names:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # not built into this FFmpeg
            continue
    return None


def check_encoder(dst: str | Path) -> str:
    """The video encoder ``upscale_video`` will use for ``dst``'s container, or SRCNNError when this
    FFmpeg has none the container can hold (checked before any decoding)."""
    import av

    suffix = Path(dst).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise SRCNNError(f"{dst}: not a video container we write ({', '.join(sorted(VIDEO_SUFFIXES))})")
    names = _ENCODERS.get(suffix, _DEFAULT_ENCODERS)
    name = _first_encoder(av, names)
    if name is None:
        raise SRCNNError(f"{dst}: this FFmpeg has no encoder a {suffix} file can hold ({', '.join(names)}); "
                         "choose .mp4 or .mkv")
    return name


def _audio_stream(av, out, template, suffix: str):
    """(output stream, re-encode?): the input's audio copied where the container holds its codec."""
    try:
        return out.add_stream_from_template(template), False
    except ValueError:  # e.g. AAC in WebM
        name = _first_encoder(av, _AUDIO_ENCODERS.get(suffix, _DEFAULT_AUDIO_ENCODERS))
        if name is None:
            raise SRCNNError(f"{suffix} cannot hold this video's {template.codec_context.name} audio and no "
                             "encoder for it is available; choose .mkv") from None
        stream = out.add_stream(name, rate=48000 if "opus" in name else template.rate)
        stream.layout = template.layout.name
        return stream, True


# Containers that can be written to a pipe (no seeking back to finish the file), by --container name.
STREAM_FORMATS = {"matroska": ".mkv", "mpegts": ".ts"}
_QUEUE = 8  # frames in flight between the stages: enough to overlap them, bounded memory
# veryfast with superfast's sub-pixel motion refinement (subme 1): the encoder shares the cores with
# the network, and this costs it about a third less time for a slightly larger file at the same crf
# (`python benchmarks/realtime.py --video-stages` compares it with plain veryfast)
X264_OPTIONS = {"preset": "veryfast", "x264-params": "subme=1"}


def _open_input(av, src):
    if src == "-":
        import sys

        return av.open(sys.stdin.buffer, "r")  # FFmpeg probes the stream's container
    src = Path(src)
    if not src.exists():
        raise SRCNNError(f"{src}: no such file")
    return av.open(str(src))


def _stream_suffix(container: str) -> str:
    if container not in STREAM_FORMATS:
        raise SRCNNError(f"--container {container}: a stream to stdout needs one of {', '.join(STREAM_FORMATS)} "
                         "(MP4 must seek back to finish its file)")
    return STREAM_FORMATS[container]


def upscale_video(src: str | Path, dst: str | Path, upscale_frame: Callable[[np.ndarray], np.ndarray],
                  scale: int, crf: int = 18, progress: bool = True, container: str = "matroska",
                  network_threads: int | None = None,
                  upscale_planes: Callable[..., tuple[np.ndarray, ...]] | None = None,
                  frames_at_once: int | None = None,
                  upscale_planes_since: Callable[..., tuple[tuple[np.ndarray, ...], list]] | None = None) -> dict:
    """Upscale every frame of ``src`` (RGB uint8 arrays through ``upscale_frame``) into ``dst``.

    ``upscale_planes`` (``Upscaler.upscale_planes``), where given, takes the frames instead as the
    Y, U and V planes of 4:2:0 video (frames of even width and height), as the codec holds them: no
    conversion to RGB and back on either side, and the chroma is up-scaled at a quarter of the
    pixels. The output, 4:2:0 as always, keeps the input's colour tags (matrix, range, primaries).

    ``src`` / ``dst`` may be "-": stdin / stdout, so the command sits in an FFmpeg pipeline
    (``container`` then names the output's format: matroska or mpegts). Decoding, the network and
    encoding run at once in threads joined by bounded queues (PyAV and torch release the GIL), so
    the slowest stage sets the pace and at most a few frames are ever in memory.
    ``network_threads``: torch threads for the network meanwhile (default: all of them; the network
    is the slowest stage, and on 2 cores a clip went faster so than with one core left to the codecs:
    16.0 s against 20.8 s, FSRCNN x2, `benchmarks/realtime.py`). ``frames_at_once``: frames upscaled
    side by side, each in a worker of its own with its share of those threads (default: one per
    thread; 1 for a compiled network). One torch thread per frame beats two threads on one frame
    while the codecs share the cores: the threads of one frame wait for each other whenever a codec
    holds a core (`python benchmarks/realtime.py --video-stages` times both).
    ``upscale_planes_since`` (``Upscaler.upscale_planes_since``), where given with ``upscale_planes``:
    each 4:2:0 frame's luma rows that nothing changed near since the frame before skip the network,
    and the writer copies them from that frame's output as it takes the frames in order (so no worker
    waits for another). The same frames, for less work where rows stand still (letterbox bars,
    still scenes, screen recordings; `--video-stages` times a letterboxed clip)."""
    import av

    to_stdout = str(dst) == "-"
    suffix = _stream_suffix(container) if to_stdout else Path(dst).suffix.lower()
    codec = check_encoder(f"out{suffix}" if to_stdout else dst)
    try:
        inp = _open_input(av, src)
    except av.error.FFmpegError as exc:
        raise SRCNNError(f"{src}: cannot read video ({exc})") from None
    try:
        with inp:
            if not inp.streams.video:
                raise SRCNNError(f"{src}: no video stream")
            if to_stdout:
                import sys

                with av.open(sys.stdout.buffer, "w", format=container) as out:
                    return _transcode(av, inp, out, codec, suffix, upscale_frame, scale, crf, progress,
                                      network_threads, upscale_planes, frames_at_once, upscale_planes_since)
            with atomic_output(dst) as tmp, av.open(str(tmp), "w") as out:
                return _transcode(av, inp, out, codec, suffix, upscale_frame, scale, crf, progress, network_threads,
                                  upscale_planes, frames_at_once, upscale_planes_since)
    except av.error.FFmpegError as exc:
        raise SRCNNError(f"{src}: video processing failed ({exc})") from None


def _planes_420(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyAV's 4:2:0 layout, (3h/2, w): the Y plane's h*w bytes, then U's and V's (h/2)*(w/2) each."""
    width = frame.shape[1]
    height = frame.shape[0] * 2 // 3
    flat, luma = frame.reshape(-1), height * width
    y = flat[:luma].reshape(height, width)
    u, v = (flat[luma + i * luma // 4 : luma + (i + 1) * luma // 4].reshape(height // 2, width // 2) for i in (0, 1))
    return y, u, v


def _frame_420(planes: tuple[np.ndarray, ...]) -> np.ndarray:
    """The planes back in PyAV's 4:2:0 layout (the Y plane's rows come first, whole)."""
    return np.concatenate([plane.reshape(-1) for plane in planes]).reshape(-1, planes[0].shape[1])


def _upscale_420(frame: np.ndarray, upscale_planes) -> np.ndarray:
    """A 4:2:0 frame -> the same layout of the up-scaled planes."""
    return _frame_420(upscale_planes(*_planes_420(frame)))


def _upscale_420_since(frame: np.ndarray, upscale_planes_since, earlier: np.ndarray | None):
    """``_upscale_420`` after the frame ``earlier`` (None: the first): the up-scaled frame and the runs
    of LR luma rows left for the writer to copy from the earlier frame's output."""
    y, u, v = _planes_420(frame)
    same_size = earlier is not None and earlier.shape == frame.shape
    planes, kept = upscale_planes_since(y, u, v, earlier=_planes_420(earlier)[0] if same_size else None)
    return _frame_420(planes), kept


def _transcode(av, inp, out, codec: str, suffix: str, upscale_frame, scale: int, crf: int, progress: bool,
               network_threads: int | None, upscale_planes, frames_at_once: int | None, upscale_planes_since) -> dict:
    import queue
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    vin = inp.streams.video[0]
    vin.thread_type = "AUTO"  # FFmpeg's own decoding threads
    audio = list(inp.streams.audio)
    rate = vin.average_rate or vin.guessed_rate
    vout = out.add_stream(codec, rate=rate)
    vout.width, vout.height = vin.codec_context.width * scale, vin.codec_context.height * scale
    vout.pix_fmt = "yuv420p"
    vout.time_base = vin.time_base
    width, height = vin.codec_context.width, vin.codec_context.height
    planar = upscale_planes is not None and width % 2 == 0 and height % 2 == 0
    layout = "yuv420p" if planar else "rgb24"  # what the frames travel as between the threads
    if planar:  # the planes pass through as they are, so their colour tags do too
        for tag in ("colorspace", "color_range", "color_primaries", "color_trc"):
            setattr(vout.codec_context, tag, getattr(vin.codec_context, tag))
    if codec == "libx264":
        vout.options = {"crf": str(crf), **X264_OPTIONS}
    elif codec == "libvpx-vp9":
        vout.options = {"crf": str(crf + 13), "b": "0", "row-mt": "1"}  # constant quality, like x264's crf 18
    aout = {a.index: _audio_stream(av, out, a, suffix) for a in audio}

    decoded: queue.Queue = queue.Queue(_QUEUE)  # ("video", array, pts, time_base) | ("audio", packet) | None
    upscaled: queue.Queue = queue.Queue(_QUEUE)
    errors: list[BaseException] = []
    stop = threading.Event()
    written = [0]  # frames encoded so far (the writer's count)
    fps = float(rate) if rate else 0.0

    def put(q, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for packet in inp.demux(vin, *audio):
                if packet.stream.type == "audio":
                    if packet.dts is not None and not put(decoded, ("audio", packet)):  # None: a flush packet
                        return
                    continue
                for frame in packet.decode():
                    if not put(decoded, ("video", frame.to_ndarray(format=layout), frame.pts, frame.time_base)):
                        return
        except BaseException as exc:  # handed to the main thread, which raises it
            errors.append(exc)
        finally:
            put(decoded, None)

    def write() -> None:
        before = None  # the frame before's output, whose rows a frame may copy
        try:
            while (item := upscaled.get()) is not None:
                if item[0] == "audio":
                    stream, reencode = aout[item[1].stream.index]
                    if reencode:
                        for sound in item[1].decode():
                            sound.pts = None  # the encoder re-times the resampled audio
                            out.mux(stream.encode(sound))
                    else:
                        item[1].stream = stream
                        out.mux(item[1])
                    continue
                pixels = item[1].result()
                if isinstance(pixels, tuple):  # (frame, runs of LR luma rows to copy from the frame before)
                    pixels, kept = pixels
                    for top, bottom in kept:
                        pixels[top * scale : bottom * scale] = before[top * scale : bottom * scale]
                    before = pixels
                big = av.VideoFrame.from_ndarray(pixels, format=layout)
                big.pts, big.time_base = item[2], item[3]
                out.mux(vout.encode(big))
                written[0] += 1
                bar.update(1)
                speed = written[0] / (time.perf_counter() - start)
                bar.set_postfix(fps=f"{speed:.1f}", realtime=f"{speed / fps:.2f}x" if fps else "?")
            out.mux(vout.encode(None))
            for stream, reencode in aout.values():
                if reencode:
                    out.mux(stream.encode(None))
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    import torch

    threads = torch.get_num_threads()
    total = network_threads or threads
    workers = max(1, min(frames_at_once or total, total))
    # each worker runs its frames with its share of the torch threads (set in the worker: torch's
    # count is per thread once a thread has used it)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="srcnn-frame", initializer=torch.set_num_threads,
                              initargs=(max(1, total // workers),))
    start = time.perf_counter()
    bar = tqdm(total=vin.frames or None, unit="frame", disable=not progress, dynamic_ncols=True)
    reader, writer = threading.Thread(target=read, daemon=True), threading.Thread(target=write, daemon=True)
    reader.start()
    writer.start()
    try:
        earlier = None  # the frame before, whose unchanged rows the next frame's writer copies
        while (item := decoded.get()) is not None and not errors:
            if item[0] == "video":  # in order in the queue, upscaled by whichever worker is free
                if planar and upscale_planes_since is not None:
                    future = pool.submit(_upscale_420_since, item[1], upscale_planes_since, earlier)
                    earlier = item[1]
                elif planar:
                    future = pool.submit(_upscale_420, item[1], upscale_planes)
                else:
                    future = pool.submit(upscale_frame, item[1])
                item = ("video", future, item[2], item[3])
            if not put(upscaled, item):
                break
    finally:
        if errors or not writer.is_alive():
            stop.set()
        put(upscaled, None)
        writer.join()
        stop.set()  # the reader, if it is still blocked on a full queue
        reader.join()
        pool.shutdown(cancel_futures=True)
        bar.close()
        torch.set_num_threads(threads)
    frames = written[0]
    if errors:
        exc = errors[0]
        if isinstance(exc, (SRCNNError, av.error.FFmpegError)):
            raise exc
        raise SRCNNError(f"video processing failed ({type(exc).__name__}: {exc})") from exc
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds if seconds else 0.0,
            "realtime": frames / seconds / fps if seconds and fps else 0.0}
