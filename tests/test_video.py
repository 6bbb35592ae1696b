"""cyclegan.infer.video and videowriter: clips translated as streams, timing, rotation and
audio kept."""

import sys
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from cyclegan.errors import UsageError
from cyclegan.infer import InferConfig, bundled, run
from cyclegan.infer.failures import read_failures
from cyclegan.infer.temporal import frame_change
from cyclegan.infer.video import (
    MissingVideoSupport,
    Stopped,
    VideoOptions,
    even,
    output_name,
    require_av,
    translate_video,
)
from cyclegan.infer.videowriter import VideoError

from conftest import colour_field

av = pytest.importorskip("av")

W, H, RATE = 96, 64, 25


def scene(seed: int, w: int, h: int) -> np.ndarray:
    return colour_field(seed, h, w)


def make_clip(path: Path, frames: int = 12, size=(W, H), rotation: int = 0,
              audio: bool = True, cut_at: int | None = None, codec: str = "libx264") -> Path:
    """A pan over a colour field (a different field from frame `cut_at` on), with an AAC
    track as long as the video and, if asked, a display rotation."""
    w, h = size
    first, second = scene(1, w + 2 * frames, h), scene(2, w + 2 * frames, h)
    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=RATE)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        if rotation:
            v.set_display_rotation(rotation)
        a = None
        if audio:
            a = c.add_stream("aac", rate=48000)
            a.layout = "mono"
        for i in range(frames):
            field = second if cut_at is not None and i >= cut_at else first
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(field[:, 2 * i:2 * i + w]),
                                           format="rgb24")
            c.mux(v.encode(f))
        if a is not None:
            rng = np.random.default_rng(0)
            for i in range(frames * 48000 // RATE // 1024):
                af = av.AudioFrame.from_ndarray(
                    rng.uniform(-0.2, 0.2, (1, 1024)).astype(np.float32), format="fltp",
                    layout="mono")
                af.sample_rate, af.pts = 48000, i * 1024
                c.mux(a.encode(af))
            c.mux(a.encode(None))
        c.mux(v.encode(None))
    return path


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
        info = {"frames": len(frames), "rate": s.average_rate, "pts": [f.pts for f in frames],
                "seconds": [float(f.pts * f.time_base) for f in frames],
                "rotation": frames[0].rotation, "size": (frames[0].width, frames[0].height),
                "rgb": [f.to_ndarray(format="rgb24") for f in frames]}
    with av.open(str(path)) as c:
        info["audio"] = [(p.pts, bytes(p)) for s in c.streams.audio for p in c.demux(s)
                         if p.dts is not None]
    return info


class Darken:
    """A stand-in generator: halves the picture's brightness, with a random brightness
    jump per call when `flicker` (what per-frame translation does to a clip); records the
    input shapes it saw."""

    def __init__(self, flicker: float = 0.0, seed: int = 0):
        self.flicker, self.rng, self.shapes = flicker, np.random.default_rng(seed), []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.shapes.append(x.shape)
        jump = self.rng.uniform(-self.flicker, self.flicker) if self.flicker else 0.0
        return np.clip(x * 0.5 - 0.3 + jump, -1, 1).astype(np.float32)


def test_frames_rate_timestamps_and_audio_are_kept(tmp_path):
    src = make_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    result = translate_video(Darken(), src, out)
    a, b = probe(src), probe(out)
    assert result.frames == b["frames"] == a["frames"] == 12
    assert b["rate"] == a["rate"] == RATE
    assert b["seconds"] == a["seconds"]  # every frame at its time: the duration too
    assert b["audio"] == a["audio"] and len(a["audio"]) > 5  # byte for byte, same times
    # Translated: darker than the input, frame by frame.
    assert all(y.mean() < x.mean() - 20 for x, y in zip(a["rgb"], b["rgb"]))


def test_rotation_is_kept_and_the_model_sees_the_frame_upright(tmp_path):
    src = make_clip(tmp_path / "in.mov", rotation=90, audio=False)
    model = Darken()
    translate_video(model, src, tmp_path / "out.mov", VideoOptions(keep=0.0))
    b = probe(tmp_path / "out.mov")
    assert b["rotation"] == 90 and b["size"] == (W, H)  # coded as the input, same matrix
    assert model.shapes[0][2:] == (W, H)  # upright: height and width swapped


def test_an_odd_sized_clip_is_padded_by_one_pixel_to_an_even_size(tmp_path):
    # 4:2:0 needs even sizes: before the padding, libx264 refused the first frame and the
    # clip was a failures row. yuv444p lets the input itself be 85 x 63.
    src = tmp_path / "odd.mp4"
    rng = np.random.default_rng(3)
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=RATE, options={"crf": "0"})
        v.width, v.height, v.pix_fmt = 85, 63, "yuv444p"
        for _ in range(4):
            c.mux(v.encode(av.VideoFrame.from_ndarray(
                rng.integers(0, 256, (63, 85, 3), dtype=np.uint8), format="rgb24")))
        c.mux(v.encode(None))
    out = tmp_path / "out.mp4"
    assert translate_video(Darken(), src, out, VideoOptions(keep=0.0)).frames == 4
    a, b = probe(src), probe(out)
    assert b["size"] == (86, 64) and b["frames"] == 4
    for x, y in zip(a["rgb"], b["rgb"]):
        y = y.astype(np.int16)
        assert y[:63, :85].mean() < x.mean() - 20  # translated: darker
        # The extra column and row repeat the last ones (within the encoder's noise).
        assert np.abs(y[:, 85] - y[:, 84]).mean() < 8
        assert np.abs(y[63, :] - y[62, :]).mean() < 8


def test_even_pads_only_what_is_odd():
    rgb = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)
    padded = even(rgb)
    assert padded.shape == (6, 4, 3) and padded.flags["C_CONTIGUOUS"]
    assert (padded[:5] == rgb).all() and (padded[5] == rgb[4]).all()
    assert even(rgb[:4]).shape == (4, 4, 3) and even(rgb[:, :3]).shape == (6, 4, 3)


def test_a_stopped_clip_leaves_nothing_and_keeps_an_older_output(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=20)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an older output")
    stop = threading.Event()
    seen = []

    def on_frame():
        seen.append(1)
        if len(seen) == 5:
            stop.set()

    with pytest.raises(Stopped):
        translate_video(Darken(), src, out, VideoOptions(stop=stop), on_frame=on_frame)
    assert len(seen) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]  # no temp
    assert out.read_bytes() == b"an older output"


def test_a_failing_model_leaves_no_partial_file(tmp_path):
    src = make_clip(tmp_path / "in.mp4")
    calls = []

    def model(x):
        calls.append(1)
        if len(calls) == 4:
            return np.full_like(x, np.nan)
        return x

    with pytest.raises(VideoError, match="NaN"):
        translate_video(model, src, tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def _excess_change(src: Path, out: Path) -> float:
    """How much more the output changes from frame to frame than the input does."""
    a, b = probe(src)["rgb"], probe(out)["rgb"]
    d_in = np.mean([frame_change(x, y) for x, y in zip(a, a[1:])])
    d_out = np.mean([frame_change(x, y) for x, y in zip(b, b[1:])])
    return d_out - d_in


def test_temporal_smoothing_at_least_halves_the_flicker(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=24, audio=False)
    runs = {}
    for keep in (0.0, 0.8):
        out = tmp_path / f"out-{keep}.mp4"
        translate_video(Darken(flicker=0.3), src, out, VideoOptions(keep=keep))
        runs[keep] = _excess_change(src, out)
    assert runs[0.0] > 3  # the stand-in's jumps show frame by frame
    assert runs[0.8] < runs[0.0] / 2, runs


def test_a_scene_cut_is_found_and_a_pan_has_none(tmp_path):
    pan = translate_video(Darken(), make_clip(tmp_path / "pan.mp4", audio=False),
                          tmp_path / "a.mp4")
    cut = translate_video(Darken(), make_clip(tmp_path / "cut.mp4", audio=False, cut_at=6),
                          tmp_path / "b.mp4")
    assert (pan.cuts, cut.cuts) == (0, 1)


def _peak_bytes(src: Path, out: Path) -> int:
    tracemalloc.start()
    try:
        translate_video(Darken(), src, out)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_clip(tmp_path):
    size = (192, 128)
    short = make_clip(tmp_path / "short.mp4", frames=8, size=size, audio=False)
    long = make_clip(tmp_path / "long.mp4", frames=24, size=size, audio=False)
    _peak_bytes(short, tmp_path / "warm.mp4")  # first-call allocations out of the way
    peak_short, peak_long = (_peak_bytes(s, tmp_path / f"{s.stem}-out.mp4")
                             for s in (short, long))
    frame = size[0] * size[1] * 3
    # Holding the extra 16 frames (or their outputs) would add 16 frames' bytes or more.
    assert peak_long - peak_short < 6 * frame, (peak_short, peak_long)


def test_undecodable_files_and_missing_streams_are_video_errors(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(VideoError, match="cannot read as a video"):
        translate_video(Darken(), bad, tmp_path / "out.mp4")
    with pytest.raises(UsageError, match="webm"):
        translate_video(Darken(), bad, tmp_path / "out.webm", VideoOptions(codec="h264"))
    assert not (tmp_path / "out.mp4").exists()


def test_audio_the_container_cannot_hold_fails_the_clip_and_leaves_nothing(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=4)  # AAC audio: WebM holds Opus or Vorbis
    with pytest.raises(VideoError, match="its aac audio cannot be copied into a webm file; "
                                         "name a .mkv output"):
        translate_video(Darken(), src, tmp_path / "out.webm")
    assert list(tmp_path.iterdir()) == [src]
    assert translate_video(Darken(), src, tmp_path / "out.mkv").frames == 4


def test_output_names_keep_written_containers():
    assert output_name(Path("a/clip.MOV")) == Path("a/clip.MOV")
    assert output_name(Path("a/clip.avi")) == Path("a/clip.mkv")


def test_missing_pyav_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingVideoSupport, match=r'cyclegan\[video\]'):
        require_av()


# The command's run: a folder of images and clips, a bad clip, one clip to one file.

DEMO = bundled.MODELS[bundled.DEMO_MODEL].path


def test_a_folder_with_clips_and_a_broken_one(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    make_clip(src / "sub" / "clip one.mp4", frames=6)
    make_clip(src / "old.avi", frames=6, audio=False, codec="mpeg4")
    (src / "broken.mp4").write_bytes(b"\0" * 4096)
    out = tmp_path / "out"
    summary = run(InferConfig(src, out, model=DEMO, quiet=True))
    assert (summary.translated, summary.failed) == (2, 1)
    assert (summary.clips, summary.frames) == (2, 12)
    assert "12 frames of 2 video(s) at" in summary.report()
    assert "images/s" not in summary.report()  # no image was translated
    assert probe(out / "sub" / "clip one.mp4")["frames"] == 6
    old, new = probe(src / "old.avi"), probe(out / "old.mkv")  # AVI: written as Matroska
    assert new["frames"] == 6 and new["seconds"] == old["seconds"]
    [(path, reason)] = read_failures(summary.failures_file)
    assert path.name == "broken.mp4" and "cannot read as a video" in reason
    again = run(InferConfig(src, out, model=DEMO, quiet=True))  # done clips are skipped
    assert (again.translated, again.skipped, again.failed) == (0, 2, 1)


def test_one_clip_to_one_file_from_the_command(tmp_path, capsys):
    from cyclegan.cli.infer import main

    src = make_clip(tmp_path / "clip.mp4", frames=6)
    assert main([str(src), str(tmp_path / "winter.mp4"), "--model", str(DEMO), "--quiet",
                 "--video-codec", "h265", "--crf", "30"]) == 0
    b = probe(tmp_path / "winter.mp4")
    assert b["frames"] == 6 and b["audio"] == probe(src)["audio"]
    assert main([str(src), str(tmp_path / "x.webm"), "--model", str(DEMO),
                 "--video-codec", "h264"]) == 2
    assert "cannot hold h264" in capsys.readouterr().err


def test_without_pyav_a_folder_lists_its_clips_as_failures(tmp_path, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "clip.mp4", frames=2, audio=False)
    monkeypatch.setitem(sys.modules, "av", None)
    summary = run(InferConfig(src, tmp_path / "out", model=DEMO, quiet=True))
    [(path, reason)] = read_failures(summary.failures_file)
    assert path.name == "clip.mp4" and 'pip install "cyclegan[video]"' in reason
    with pytest.raises(MissingVideoSupport):  # one clip named: refused before any work
        run(InferConfig(src / "clip.mp4", tmp_path / "out.mp4", model=DEMO, quiet=True))


def test_ctrl_c_in_a_clip_leaves_nothing_and_the_next_run_redoes_it(tmp_path, monkeypatch):
    import os
    import signal

    from cyclegan.infer import controller
    from cyclegan.infer.runtime import load_model

    src = make_clip(tmp_path / "clip.mp4", frames=12)
    out = tmp_path / "out"

    class CtrlCOnThirdFrame:
        def __init__(self, model):
            self.model, self.calls = model, 0
            self.__dict__.update({k: getattr(model, k) for k in
                                  ("meta", "device", "geometry", "work_size")})

        def __call__(self, x):
            self.calls += 1
            if self.calls == 3:
                os.kill(os.getpid(), signal.SIGINT)  # the handler runs in this thread
            return self.model(x)

        def describe(self):
            return self.model.describe()

    monkeypatch.setattr(controller, "load_model",
                        lambda *a, **k: CtrlCOnThirdFrame(load_model(DEMO)))
    summary = run(InferConfig(src, out, model=DEMO, quiet=True))
    assert summary.interrupted == signal.SIGINT and summary.translated == 0
    assert list(out.iterdir()) == []  # no temp file, no partial clip, no failures file
    monkeypatch.undo()
    again = run(InferConfig(src, out, model=DEMO, quiet=True))
    assert again.translated == 1 and probe(out / "clip.mp4")["frames"] == 12


def test_translator_video_is_the_commands_clip(tmp_path):
    from cyclegan import Translator

    src = make_clip(tmp_path / "clip.mp4", frames=8)
    assert run(InferConfig(src, tmp_path / "cmd.mp4", model=DEMO, quiet=True)).translated == 1
    frames = []
    t = Translator(DEMO)
    t.video(src, tmp_path / "api.mp4", on_frame=lambda: frames.append(1))
    t.video(src, tmp_path / "off.mp4", temporal=0.0)
    t.video(src, tmp_path / "small.mp4", crf=40)
    assert len(frames) == 8
    cmd, api, off, small = (probe(tmp_path / f"{n}.mp4") for n in ("cmd", "api", "off", "small"))
    assert (cmd["frames"], cmd["pts"], cmd["audio"]) == (api["frames"], api["pts"], api["audio"])

    def change(a, b) -> float:  # the largest mean difference of a frame, in grey levels
        return max(np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b))

    # The command's frames (up to about one grey level: repeated runs of one clip have
    # differed by that much, 1 run in 4), and the options reach the clip: no smoothing
    # moves frames by about 10, CRF 40 by more than the noise.
    assert change(cmd["rgb"], api["rgb"]) < 2.0
    assert change(cmd["rgb"], off["rgb"]) > 5.0
    assert change(cmd["rgb"], small["rgb"]) > 3.0
    with pytest.raises(UsageError):
        Translator(DEMO).video(src, tmp_path / "x.webm", codec="h264")


@pytest.mark.parametrize("detail", ["resize", "texture"])
def test_smoothing_needs_the_guided_grid_and_the_refusal_names_the_way_out(detail, tmp_path):
    from cyclegan.infer.video import check_options

    with pytest.raises(UsageError, match=f"--temporal 0 with --detail {detail}"):
        check_options(tmp_path / "out.mp4", VideoOptions(detail=detail, keep=0.5))
    check_options(tmp_path / "out.mp4", VideoOptions(detail=detail, keep=0.0))
    check_options(tmp_path / "out.mp4", VideoOptions(keep=0.5))
