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
from .errors import SRCNNError

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


def upscale_video(src: str | Path, dst: str | Path, upscale_frame: Callable[[np.ndarray], np.ndarray],
                  scale: int, crf: int = 18, progress: bool = True) -> dict:
    """Upscale every frame of ``src`` (RGB uint8 arrays through ``upscale_frame``) into ``dst``."""
    import av
    from tqdm import tqdm

    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise SRCNNError(f"{src}: no such file")
    codec = check_encoder(dst)
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
                rate = vin.average_rate or vin.guessed_rate
                vout = out.add_stream(codec, rate=rate)
                vout.width, vout.height = vin.codec_context.width * scale, vin.codec_context.height * scale
                vout.pix_fmt = "yuv420p"
                vout.time_base = vin.time_base
                if codec == "libx264":
                    vout.options = {"crf": str(crf)}
                elif codec == "libvpx-vp9":
                    vout.options = {"crf": str(crf + 13), "b": "0"}  # constant quality, like x264's crf 18
                aout = {a.index: _audio_stream(av, out, a, dst.suffix.lower()) for a in audio}
                total = vin.frames or None
                bar = tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True)
                for packet in inp.demux(vin, *audio):
                    if packet.stream.type == "audio":
                        if packet.dts is None:  # demuxer flush packet
                            continue
                        stream, reencode = aout[packet.stream.index]
                        if reencode:
                            for sound in packet.decode():
                                sound.pts = None  # the encoder re-times the resampled audio
                                out.mux(stream.encode(sound))
                        else:
                            packet.stream = stream
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
                for stream, reencode in aout.values():
                    if reencode:
                        out.mux(stream.encode(None))
                bar.close()
    except av.error.FFmpegError as exc:
        raise SRCNNError(f"{src}: video processing failed ({exc})") from None
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds if seconds else 0.0}
