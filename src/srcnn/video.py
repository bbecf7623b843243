"""Video: decode, upscale and encode frame by frame with PyAV, audio copied as it is.

Frames stream through one at a time (memory does not grow with the video); every frame keeps its
timestamp, so the frame rate and any variable timing survive; audio packets are copied without
re-encoding. The output is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from .atomic import atomic_output
from .errors import SRCNNError

__all__ = ["VIDEO_SUFFIXES", "upscale_video"]

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v"}


def _encoder_for(av, suffix: str) -> str:
    preferred = {".webm": ["libvpx-vp9", "libvpx"]}.get(suffix, ["libx264", "libopenh264", "mpeg4"])
    for name in preferred + ["mpeg4"]:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # not built into this FFmpeg
            continue
    raise SRCNNError(f"no video encoder available for {suffix}")


def upscale_video(src: str | Path, dst: str | Path, upscale_frame: Callable[[np.ndarray], np.ndarray],
                  scale: int, crf: int = 18, progress: bool = True) -> dict:
    """Upscale every frame of ``src`` (RGB uint8 arrays through ``upscale_frame``) into ``dst``."""
    import av
    from tqdm import tqdm

    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise SRCNNError(f"{src}: no such file")
    try:
        inp = av.open(str(src))
    except av.error.FFmpegError as exc:
        raise SRCNNError(f"{src}: cannot read video ({exc})") from None
    frames, start = 0, time.perf_counter()
    try:
        with inp, atomic_output(dst) as tmp:
            if not inp.streams.video:
                raise SRCNNError(f"{src}: no video stream")
            vin = inp.streams.video[0]
            audio = list(inp.streams.audio)
            with av.open(str(tmp), "w") as out:
                codec = _encoder_for(av, dst.suffix.lower())
                rate = vin.average_rate or vin.guessed_rate
                vout = out.add_stream(codec, rate=rate)
                vout.width, vout.height = vin.codec_context.width * scale, vin.codec_context.height * scale
                vout.pix_fmt = "yuv420p"
                vout.time_base = vin.time_base
                if codec in ("libx264",):
                    vout.options = {"crf": str(crf)}
                aout = {a.index: out.add_stream_from_template(a) for a in audio}
                total = vin.frames or None
                bar = tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True)
                for packet in inp.demux(vin, *audio):
                    if packet.stream.type == "audio":
                        if packet.dts is None:  # demuxer flush packet
                            continue
                        packet.stream = aout[packet.stream.index]
                        out.mux(packet)
                        continue
                    for frame in packet.decode():
                        big = av.VideoFrame.from_ndarray(upscale_frame(frame.to_ndarray(format="rgb24")), format="rgb24")
                        big.pts, big.time_base = frame.pts, frame.time_base
                        out.mux(vout.encode(big))
                        frames += 1
                        bar.update(1)
                        bar.set_postfix(fps=f"{frames / (time.perf_counter() - start):.2f}")
                out.mux(vout.encode(None))
                bar.close()
    except av.error.FFmpegError as exc:
        raise SRCNNError(f"{src}: video processing failed ({exc})") from None
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds if seconds else 0.0}
