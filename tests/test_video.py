"""Video in, video out: same frame count and timing, frames scale times larger, audio kept."""

import fractions

import numpy as np
import pytest

av = pytest.importorskip("av")

import srcnn.errors  # noqa: E402
from srcnn.apps.cli import main  # noqa: E402


def make_clip(path, frames=6, size=(32, 24), fps=12, with_audio=True, pix_fmt="yuv420p", colorspace=None):
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], pix_fmt
        if colorspace is not None:
            video.codec_context.colorspace = colorspace
        audio = out.add_stream("aac", rate=16000) if with_audio else None
        if audio is not None:
            audio.layout = "mono"
        for i in range(frames):
            rgb = np.zeros((size[1], size[0], 3), np.uint8)
            rgb[:, : (i + 1) * size[0] // frames] = (200, 80, 40)
            out.mux(video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(video.encode(None))
        if audio is not None:
            t = np.arange(int(16000 * frames / fps)) / 16000
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(samples), 1024):
                frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="flt", layout="mono")
                frame.sample_rate = 16000
                frame.pts = start
                frame.time_base = fractions.Fraction(1, 16000)
                out.mux(audio.encode(frame))
            out.mux(audio.encode(None))


def probe(path):
    with av.open(str(path)) as clip:
        v = clip.streams.video[0]
        frames = [f for f in clip.decode(video=0)]
        info = {"frames": len(frames), "size": (frames[0].width, frames[0].height), "rate": v.average_rate,
                "pts": [f.pts * f.time_base for f in frames], "audio": len(clip.streams.audio)}
    if info["audio"]:
        with av.open(str(path)) as clip:
            info["audio_packets"] = sum(1 for p in clip.demux(audio=0) if p.dts is not None)
    return info


def test_video_is_upscaled_frame_by_frame_with_its_audio(tmp_path):
    make_clip(tmp_path / "clip.mp4")
    code = main(["upscale", str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "big.mp4"), "--scale", "2",
                 "--method", "bicubic", "--quiet"])
    assert code == 0
    src, out = probe(tmp_path / "clip.mp4"), probe(tmp_path / "big.mp4")
    assert out["frames"] == src["frames"] == 6
    assert out["size"] == (64, 48)
    assert out["rate"] == src["rate"]
    assert out["pts"] == src["pts"]
    assert out["audio"] == 1 and out["audio_packets"] == src["audio_packets"]


def test_a_file_that_is_not_a_video_is_one_line_error(tmp_path, capsys):
    (tmp_path / "fake.mp4").write_bytes(b"not a video")
    code = main(["upscale", str(tmp_path / "fake.mp4"), "-o", str(tmp_path / "o.mp4"), "--scale", "2",
                 "--method", "bicubic", "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1 and "fake.mp4" in err
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".o.mp4*"))


def test_webm_gets_a_codec_it_can_hold_and_its_audio_re_encoded(tmp_path, capsys):
    make_clip(tmp_path / "clip.mp4")  # H.264 + AAC: neither goes into WebM as it is
    code = main(["upscale", str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "big.webm"), "--scale", "2",
                 "--method", "bicubic", "--quiet"])
    assert code == 0, capsys.readouterr().err
    out = probe(tmp_path / "big.webm")
    assert out["frames"] == 6 and out["size"] == (64, 48) and out["audio"] == 1
    with av.open(str(tmp_path / "big.webm")) as clip:
        assert clip.streams.video[0].codec_context.name in ("vp9", "vp8", "av1", "libdav1d")
        assert clip.streams.audio[0].codec_context.name in ("opus", "libopus")


def test_video_to_a_container_that_cannot_hold_it_is_one_line_before_decoding(tmp_path, capsys, monkeypatch):
    import srcnn.io.video

    make_clip(tmp_path / "clip.mp4", with_audio=False)
    code = main(["upscale", str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "x.gif"), "--scale", "2",
                 "--method", "bicubic", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "x.gif" in err and "Traceback" not in err
    assert not (tmp_path / "x.gif").exists()
    monkeypatch.setattr(srcnn.io.video, "_first_encoder", lambda av, names: None)  # an FFmpeg without VP9 / AV1
    code = main(["upscale", str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "x.webm"), "--scale", "2",
                 "--method", "bicubic", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "x.webm" in err and ".mp4" in err
    assert not (tmp_path / "x.webm").exists() and not list(tmp_path.glob(".x.webm*"))


def test_a_video_piped_through_stdin_and_stdout_keeps_its_frames_and_audio(tmp_path):
    import subprocess
    import sys

    make_clip(tmp_path / "clip.mkv", frames=9)  # Matroska: readable from a pipe, unlike MP4
    with open(tmp_path / "clip.mkv", "rb") as stdin, open(tmp_path / "big.mkv", "wb") as stdout:
        done = subprocess.run([sys.executable, "-m", "srcnn", "upscale", "-", "-o", "-", "--scale", "2",
                               "--model", "fsrcnn", "--threads", "1"], stdin=stdin, stdout=stdout,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote 9 frames to stdout" in done.stderr  # the closing line goes to stderr, never into the video
    src, out = probe(tmp_path / "clip.mkv"), probe(tmp_path / "big.mkv")
    assert out["frames"] == src["frames"] == 9
    assert out["size"] == (64, 48)
    assert out["audio"] == 1 and out["audio_packets"] == src["audio_packets"]


def test_stdout_takes_only_a_video_stream_in_a_container_that_streams(tmp_path, capsys):
    import srcnn.io.video

    code = main(["upscale", str(tmp_path / "photo.png"), "-o", "-", "--scale", "2", "--method", "bicubic"])
    err = capsys.readouterr().err
    assert code == 2 and "only a video" in err and err.count("\n") == 1
    with pytest.raises(srcnn.errors.SRCNNError, match="matroska"):
        srcnn.io.video.upscale_video("-", "-", lambda rgb: rgb, 2, container="mp4")


@pytest.mark.parametrize("frames_at_once", [1, 2])
def test_frames_of_a_long_video_overlap_decode_network_and_encode(tmp_path, frames_at_once):
    """Decoding, the network and encoding run at once in threads of their own, the network on
    ``frames_at_once`` frames side by side (one worker each); a frame finished before the one ahead
    of it waits its turn, so the frames come out in order."""
    import threading
    import time

    import srcnn.io.video

    make_clip(tmp_path / "clip.mp4", frames=12, with_audio=False)
    before = threading.active_count()
    lock, calls, running, most, names = threading.Lock(), [0], [0], [0], set()

    def slow_identity_upscale(rgb):
        with lock:
            calls[0] += 1
            running[0] += 1
            most[0] = max(most[0], running[0])
            names.add(threading.current_thread().name)
            slow = calls[0] % 2 == 1  # every other frame is slow: the one behind it finishes first
        time.sleep(0.1 if slow else 0.01)
        with lock:
            running[0] -= 1
        return np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1)

    stats = srcnn.io.video.upscale_video(tmp_path / "clip.mp4", tmp_path / "big.mp4", slow_identity_upscale, 2,
                                         progress=False, network_threads=2, frames_at_once=frames_at_once)
    assert stats["frames"] == 12
    assert most[0] == frames_at_once
    assert names and all(name.startswith("srcnn-frame") for name in names) and len(names) <= frames_at_once
    assert threading.active_count() == before  # the reader, writer and workers ended with the call
    # the clip's coloured bar grows frame by frame: its width gives each output frame's place
    widths = [int((frame[frame.shape[0] // 2, :, 0] > 100).sum()) for frame in frames_of(tmp_path / "big.mp4", "rgb24")]
    assert len(widths) == 12 and widths == sorted(widths) and widths[0] < widths[-1]


def frames_of(path, format):
    with av.open(str(path)) as clip:
        return [f.to_ndarray(format=format).astype(np.int16) for f in clip.decode(video=0)]


def test_4_2_0_frames_travel_as_their_planes_with_their_colour_tags(tmp_path):
    """No conversion to RGB and back: the network sees the codec's own luma, the chroma is up-scaled at
    its own size, and the colour tags (here BT.709) pass through to the output."""
    import srcnn.io.video
    from srcnn.inference import make_upscaler

    make_clip(tmp_path / "clip.mp4", frames=4, size=(48, 32), with_audio=False, colorspace=1)
    upscaler = make_upscaler(2, "fsrcnn")
    seen, made = [], []

    def planes(*p):
        seen.append(np.concatenate([plane.reshape(-1) for plane in p]))
        made.append(upscaler.upscale_planes(*p)[0].astype(np.int16))
        return upscaler.upscale_planes(*p)

    def no_rgb(rgb):
        raise AssertionError("a 4:2:0 frame went through RGB")

    srcnn.io.video.upscale_video(tmp_path / "clip.mp4", tmp_path / "big.mp4", no_rgb, 2, progress=False,
                                 upscale_planes=planes, frames_at_once=1)  # one at a time: seen in order
    source = frames_of(tmp_path / "clip.mp4", "yuv420p")
    assert [s.reshape(-1).tolist() for s in source] == [p.tolist() for p in seen]  # Y, U, V as decoded
    with av.open(str(tmp_path / "big.mp4")) as clip:
        assert clip.streams.video[0].codec_context.colorspace == 1
    out = frames_of(tmp_path / "big.mp4", "yuv420p")
    assert len(out) == 4 and out[0].shape == (96, 96)  # 64 luma rows, then 2 x 16 rows of 48 x 32 chroma
    assert max(np.abs(o[:64] - m).mean() for o, m in zip(out, made, strict=True)) < 1  # H.264's loss only


def test_the_planar_path_agrees_with_the_rgb_path(tmp_path):
    import srcnn.io.video
    from srcnn.inference import make_upscaler

    make_clip(tmp_path / "clip.mp4", frames=4, size=(48, 32), with_audio=False)
    upscaler = make_upscaler(2, "fsrcnn")
    srcnn.io.video.upscale_video(tmp_path / "clip.mp4", tmp_path / "planar.mp4", upscaler.upscale_array, 2,
                              progress=False, upscale_planes=upscaler.upscale_planes)
    srcnn.io.video.upscale_video(tmp_path / "clip.mp4", tmp_path / "rgb.mp4", upscaler.upscale_array, 2, progress=False)
    planar, rgb = frames_of(tmp_path / "planar.mp4", "yuv420p"), frames_of(tmp_path / "rgb.mp4", "yuv420p")
    assert len(planar) == len(rgb) == 4
    for a, b in zip(planar, rgb, strict=True):  # grey levels: the RGB path rounds and clips twice more
        assert np.abs(a[:64] - b[:64]).mean() < 1.5 and np.abs(a[64:] - b[64:]).mean() < 1.5



def test_a_letterboxed_clip_reuses_its_still_rows_and_comes_out_as_computed_whole(tmp_path, monkeypatch):
    """Rows that did not change since the frame before (the bars) skip the network; every frame is
    the same as when each is computed whole (the frame workers wait for the frame before)."""
    import srcnn.io.video
    from srcnn.inference import make_upscaler

    rng = np.random.default_rng(0)
    with av.open(str(tmp_path / "bars.mp4"), "w") as out:
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 48, 64, "yuv420p"
        video.options = {"qp": "0"}  # lossless: the bars decode the same in every frame
        for i in range(6):
            yuv = np.full((96, 48), 128, np.uint8)
            yuv[:64] = 16  # black bars above and below
            yuv[24:40] = rng.integers(16, 236, (16, 48))  # a moving picture between them
            out.mux(video.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")))
        out.mux(video.encode(None))
    upscaler = make_upscaler(2, "fsrcnn", precision="fp32")
    band, rows = upscaler._band, []
    upscaler._band = lambda pixels: rows.append(pixels.shape[0]) or band(pixels)
    made = {True: {}, False: {}}  # each frame's input bytes -> its output (the writer fills in the copied rows)
    since, whole_frame = srcnn.io.video._upscale_420_since, srcnn.io.video._upscale_420

    def spy_since(frame, *args):
        out = since(frame, *args)
        made[True][frame.tobytes()] = out[0]
        return out

    def spy_whole(frame, *args):
        made[False][frame.tobytes()] = out = whole_frame(frame, *args)
        return out

    monkeypatch.setattr(srcnn.io.video, "_upscale_420_since", spy_since)
    monkeypatch.setattr(srcnn.io.video, "_upscale_420", spy_whole)
    for reuse in (True, False):
        srcnn.io.video.upscale_video(tmp_path / "bars.mp4", tmp_path / f"big_{reuse}.mp4", upscaler.upscale_array,
                                     2, progress=False, upscale_planes=upscaler.upscale_planes,
                                     upscale_planes_since=upscaler.upscale_planes_since if reuse else None)
        assert probe(tmp_path / f"big_{reuse}.mp4")["frames"] == 6
    reused, whole = sorted(rows[: len(rows) // 2]), rows[len(rows) // 2 :]
    halo = upscaler._band_halo()  # each later frame: its 16 moving rows, the rows they reach, and their context
    assert whole == [64] * 6 and reused == [16 + 4 * halo] * 5 + [64] and 16 + 4 * halo < 64
    assert made[True].keys() == made[False].keys() and len(made[True]) == 6
    for key, frame in made[False].items():
        np.testing.assert_array_equal(made[True][key], frame)


def test_frames_of_odd_width_go_through_rgb(tmp_path):
    import srcnn.io.video

    make_clip(tmp_path / "clip.mp4", frames=3, size=(33, 24), with_audio=False, pix_fmt="yuv444p")
    seen = []

    def rgb_double(rgb):
        seen.append(rgb.shape)
        return np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1)

    def no_planes(*planes):
        raise AssertionError("a frame of odd width has no 4:2:0 planes")

    srcnn.io.video.upscale_video(tmp_path / "clip.mp4", tmp_path / "big.mp4", rgb_double, 2, progress=False,
                              upscale_planes=no_planes)
    assert seen == [(24, 33, 3)] * 3 and probe(tmp_path / "big.mp4")["size"] == (66, 48)


@pytest.mark.parametrize("model, option, video_compiles", [("srcnn", "auto", True), ("fsrcnn", "auto", False),
                                                           ("fsrcnn", "on", True), ("fsrcnn", "off", False)])
def test_videos_compile_the_network_by_default_unless_it_has_its_own_inference_form(tmp_path, monkeypatch, model,
                                                                                    option, video_compiles):
    """Pictures never compile by default; videos do, except with FSRCNN, whose folded eager form
    runs a short clip faster than compiling it (seconds of start-up) does."""
    import srcnn.io.video
    from PIL import Image

    from srcnn.inference import Upscaler

    make_clip(tmp_path / "clip.mp4", frames=2, with_audio=False)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "pic.png")
    compiled = {}
    real_upscale_video = srcnn.io.video.upscale_video

    def spy(src, dst, upscale_frame, *args, **kwargs):
        compiled["video"] = upscale_frame.__self__.compile
        upscale_frame.__self__.compile = False  # the choice is what is tested; the frames run eagerly
        return real_upscale_video(src, dst, upscale_frame, *args, **kwargs)

    real_upscale_picture = Upscaler.upscale_picture

    def picture_spy(self, picture):
        compiled["picture"] = self.compile
        self.compile = False
        return real_upscale_picture(self, picture)

    monkeypatch.setattr(srcnn.io.video, "upscale_video", spy)
    monkeypatch.setattr(Upscaler, "upscale_picture", picture_spy)
    code = main(["upscale", str(tmp_path / "clip.mp4"), str(tmp_path / "pic.png"), "-o", str(tmp_path / "out"),
                 "--scale", "2", "--model", model, "--compile", option, "--quiet"])
    assert code == 0 and compiled["video"] is video_compiles
    assert compiled["picture"] is (option == "on")
    assert probe(tmp_path / "out" / "clip.mp4")["frames"] == 2 and (tmp_path / "out" / "pic.png").exists()
