"""Videos: a clip translated frame by frame as a stream, its timing, rotation and audio kept.

    decode (this thread) -> working scale, model, colour grid -> temporal smoothing
    -> guided apply at full size -> [bounded queue] -> encode + mux (writer thread)

A clip is never held whole: the encoder and muxer work behind a bounded queue
(cyclegan.infer.videowriter), so memory is flat over any length. Each frame keeps its own
timestamp (variable frame rates stay variable, the duration stays), the rotation is kept as
the input's display matrix (frames are turned upright for the generator and back), and
every audio stream's packets are copied into the output untouched, never re-encoded. The
output is written to a temp file and renamed when complete (cyclegan.fileio), so an
interrupted or failed clip leaves nothing behind and the next run translates it again.
Frames go through the same per-image steps as photos (cyclegan.infer.io.prepare, the model,
cyclegan.infer.detail), with the colour grid smoothed over time in between
(cyclegan.infer.temporal).

PyAV is the optional dependency (`cyclegan[video]`): its wheels bundle FFmpeg's libraries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from cyclegan.contract import DEFAULT_GEOMETRY, Geometry
from cyclegan.errors import CycleganError, UsageError, first_line
from cyclegan.fileio import atomic_writer
from cyclegan.infer import guided
from cyclegan.infer.detail import DEFAULT_DETAIL, colour_grid, finish
from cyclegan.infer.io import Job, prepare
from cyclegan.infer.pipeline import Result
from cyclegan.infer.temporal import DEFAULT_KEEP, GridSmoother
from cyclegan.infer.videowriter import Codec, VideoError, Writer
from cyclegan.progress import Progress

INSTALL = 'pip install "cyclegan[video]"'
# Containers read as videos (anything FFmpeg reads could be, but a folder scan needs names).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".ts", ".m2ts", ".3gp", ".ogv")
# Containers written: an input in one of these keeps its name; any other becomes Matroska,
# which takes every audio codec, so audio is still copied rather than re-encoded.
WRITTEN = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
OTHER_SUFFIX = ".mkv"
# Job.format of a clip (image jobs carry a FORMATS name).
FORMAT = "video"


AUTO = "auto"
# --video-codec choices. CRF: lower is better and larger; 18 for x264 is the usual "visually
# lossless" point, and the x265 / VP9 defaults sit at about the same quality.
CODECS = {
    "h264": Codec("libx264", 18, 51, {"preset": "medium"}),
    "h265": Codec("libx265", 22, 51, {"preset": "medium", "x265-params": "log-level=error"},
                  tag="hvc1"),
    "vp9": Codec("libvpx-vp9", 31, 63, {"b": "0", "row-mt": "1"}),
}
WEBM_CODECS = ("vp9",)


class MissingVideoSupport(UsageError):
    """PyAV is not installed."""


class Stopped(Exception):
    """The run was asked to stop (a signal) while this clip was being translated."""


def require_av():
    """The av module, or a one-line error naming the extra to install."""
    try:
        import av
    except ImportError:
        raise MissingVideoSupport(f"videos need PyAV, which is not installed: {INSTALL}") from None
    return av


def is_video(path: Path | str) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def output_name(rel: Path) -> Path:
    """The output's path relative to the output folder: the input's own, or .mkv for a
    container we do not write."""
    return rel if rel.suffix.lower() in WRITTEN else rel.with_suffix(OTHER_SUFFIX)


def choose_codec(dst: Path | str, choice: str = AUTO) -> str:
    """The CODECS name a clip named `dst` is encoded with; UsageError for a pair the
    container cannot hold (WebM takes only VP9 of ours)."""
    webm = WRITTEN.get(Path(dst).suffix.lower()) == "webm"
    if choice == AUTO:
        return "vp9" if webm else "h264"
    if choice not in CODECS:
        raise UsageError(f"--video-codec must be one of {AUTO}, {', '.join(CODECS)}, got "
                         f"{choice!r}")
    if webm and choice not in WEBM_CODECS:
        raise UsageError(f"{dst}: a .webm file cannot hold {choice}; use --video-codec vp9 "
                         "or another container (.mp4, .mkv)")
    return choice


@dataclass
class VideoOptions:
    work_size: int | None = None  # the scale the generator runs at (None: each frame's own)
    geometry: Geometry = DEFAULT_GEOMETRY  # the model's size rule
    detail: str = DEFAULT_DETAIL  # how frames reach full size (cyclegan.infer.detail)
    keep: float = DEFAULT_KEEP  # temporal smoothing (cyclegan.infer.temporal); 0: off
    codec: str = AUTO  # a CODECS name, or auto: by the output's container
    crf: int | None = None  # None: the codec's default
    fits: object = None  # (h, w) -> why the model cannot run at that size, or None
    stop: threading.Event = field(default_factory=threading.Event)


def check_options(dst: Path | str, opts: VideoOptions) -> None:
    """UsageError, before any work, for an output container we do not write, a codec or
    quality it cannot take, or smoothing without the colour grid it smooths."""
    if Path(dst).suffix.lower() not in WRITTEN:
        raise UsageError(f"output {dst}: videos are written as {', '.join(sorted(WRITTEN))}")
    codec = CODECS[choose_codec(dst, opts.codec)]
    if opts.crf is not None and not 0 <= opts.crf <= codec.crf_max:
        raise UsageError(f"--crf for {codec.encoder} must be 0..{codec.crf_max}, got "
                         f"{opts.crf}")
    if opts.keep and opts.detail != "guided":
        raise UsageError("videos are smoothed over time through the guided step's colour "
                         "grid: use --detail guided, or --temporal 0 with --detail "
                         f"{opts.detail}")


@dataclass
class VideoResult:
    frames: int  # translated and written
    cuts: int  # scene cuts found (temporal smoothing restarted)
    seconds: float


def frame_estimate(src: Path | str) -> int | None:
    """The clip's frame count as its header says (or duration x rate), for a progress bar;
    None when unknown or unreadable (translate_video reports why)."""
    try:
        av = require_av()
    except MissingVideoSupport:
        return None
    try:
        with av.open(str(src)) as c:
            s = c.streams.video[0]
            if s.frames:
                return s.frames
            rate = s.average_rate or s.guessed_rate
            if s.duration and rate:
                return round(float(s.duration * s.time_base * rate))
            if c.duration and rate:
                return round(c.duration / 1e6 * float(rate))
    except (av.FFmpegError, IndexError, OSError):
        return None
    return None


def translate_video(model: Callable[[np.ndarray], np.ndarray], src: Path | str,
                    dst: Path | str, opts: VideoOptions | None = None,
                    on_frame: Callable[[], None] | None = None) -> VideoResult:
    """Translate the clip `src` into `dst` (written atomically). model: N x 3 x h x w
    float32 in [-1, 1] -> the same (cyclegan.infer.runtime.OrtGenerator). on_frame: called
    after each frame is translated. VideoError for a clip that cannot be translated,
    Stopped when opts.stop is set (nothing is left at `dst`)."""
    av = require_av()
    opts = opts or VideoOptions()
    check_options(dst, opts)
    codec = CODECS[choose_codec(dst, opts.codec)]
    start = time.perf_counter()
    try:
        src_c = av.open(str(src), metadata_errors="replace")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"cannot read as a video: {first_line(exc)}") from None
    with src_c, atomic_writer(dst) as f:
        if not src_c.streams.video:
            raise VideoError("no video stream")
        v_in = src_c.streams.video[0]
        v_in.thread_type = "AUTO"
        frames = FrameTranslator(model, Job(Path(src), Path(dst)), opts, v_in)
        with av.open(f, "w", format=WRITTEN[Path(dst).suffix.lower()]) as out:
            _check_audio(out, src_c.streams.audio)
            writer = Writer(av, out, v_in, src_c.streams.audio, codec, opts.crf, frames)
            try:
                for packet in src_c.demux(v_in, *src_c.streams.audio):
                    if packet.stream is not v_in:
                        if packet.dts is not None:  # None: a demuxer's flush marker
                            writer.put(packet)
                        continue
                    for frame in _decode(av, packet):
                        if opts.stop.is_set():
                            raise Stopped
                        writer.put(frames.translate(frame))
                        if on_frame is not None:
                            on_frame()
            except BaseException:
                writer.abort()
                raise
            writer.finish()
        if frames.count == 0:
            raise VideoError("no frame could be decoded")
    return VideoResult(frames.count, frames.smoother.cuts if frames.smoother else 0,
                       time.perf_counter() - start)


def translate_videos(model, jobs: list[Job], opts: VideoOptions, on_result,
                     show: bool = True) -> float:
    """Each clip in turn, with its own progress bar in frames; on_result gets a Result per
    clip (its error says why one failed: the failures file's row). A stop request ends the
    run within a clip, which gets no Result and nothing at its output: the next run
    translates it again. Returns the wall time in seconds."""
    start = time.perf_counter()
    for job in jobs:
        if opts.stop.is_set():
            break
        with Progress(frame_estimate(job.src), job.src.name, unit="frame",
                      enabled=show) as bar:
            try:
                done = translate_video(model, job.src, job.dst, opts, on_frame=bar.update)
            except Stopped:
                break
            except CycleganError as exc:
                on_result(Result(job, str(exc)))
            except Exception as exc:  # one bad clip must never stop the run
                on_result(Result(job, f"{type(exc).__name__}: {first_line(exc, '')}"))
            else:
                on_result(Result(job, frames=done.frames))
    return time.perf_counter() - start


def _check_audio(out, audio) -> None:
    """VideoError for an audio stream the output's container cannot hold: audio is copied
    as it is, never re-encoded."""
    for a in audio:
        name = a.codec_context.name
        if name not in out.supported_codecs:
            raise VideoError(f"its {name} audio cannot be copied into a {out.format.name} "
                             f"file; name a {OTHER_SUFFIX} output")


def _decode(av, packet):
    try:
        return packet.decode()
    except av.FFmpegError as exc:
        raise VideoError(f"cannot decode frame: {first_line(exc)}") from None


class FrameTranslator:
    """One clip's frames through the per-image steps, in order: translate_video's own, and
    what benchmarks/bench_video.py measures flicker on (the frames before the encoder adds
    its own noise). stream: the clip's video stream (its time base and rate)."""

    def __init__(self, model, job: Job, opts: VideoOptions, stream):
        self.model, self.job, self.opts = model, job, opts
        self.time_base = stream.time_base
        rate = stream.average_rate or stream.guessed_rate
        # One frame's duration in the stream's time base: where a frame without a (or with
        # a repeated) timestamp goes.
        self.step = max(1, round(1 / (rate * self.time_base))) if rate else 1
        self.smoother = GridSmoother(opts.keep) if opts.keep else None
        self.count = 0
        self.pts = None  # of the last frame written
        self.display_matrix = None

    def translate(self, frame):
        """The translated frame (an av.VideoFrame in the input's orientation and time)."""
        import av

        turns = round(frame.rotation / 90) % 4  # counter-clockwise quarter turns to display
        rgb = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), turns))
        item = prepare(self.job, Image.fromarray(rgb), None, self.opts.geometry,
                       self.opts.work_size, self.opts.fits)
        if item.photo is None and self.smoother is not None:
            # A frame no larger than the working scale still finishes through the colour
            # grid, so it can be smoothed: the generator's colours on the frame's own pixels.
            item.photo = item.small = rgb
        y = self.model(item.x[None])[0]
        if not np.isfinite(y).all():
            raise VideoError(f"model output holds NaN or inf (frame {self.count})")
        if self.smoother is None:
            out = finish(item, y, self.opts.detail)
        else:
            out = guided.apply(self.smoother(colour_grid(item, y), item.small), item.photo)
        result = av.VideoFrame.from_ndarray(even(np.rot90(out, -turns)), format="rgb24")
        result.pts, result.time_base = self._pts(frame), frame.time_base or self.time_base
        if self.count == 0:
            self.display_matrix = _display_matrix(frame)
        self.count += 1
        return result

    def _pts(self, frame) -> int:
        """The input frame's timestamp; a missing or repeated one is a frame after the last."""
        pts = frame.pts
        if pts is None or (self.pts is not None and pts <= self.pts):
            pts = 0 if self.pts is None else self.pts + self.step
        self.pts = pts
        return pts


def even(rgb: np.ndarray) -> np.ndarray:
    """The frame as encoded (contiguous): an odd width or height grows by one pixel, a copy
    of the last column or row. The encoder's PIX_FMT (cyclegan.infer.videowriter) halves the
    colour planes, so H.264 and H.265 refuse odd sizes; padding keeps every input pixel and
    the picture's edge continuous, where cropping would lose a column and 4:4:4 would not
    play on most devices."""
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(rgb)


def _display_matrix(frame) -> list[int] | None:
    """The frame's display matrix (rotation and flips), 9 int32, or None."""
    from av.sidedata.sidedata import Type

    # Looked up by type: iterating the side data gives the entries up to PyAV 18.1.0 and
    # their types from 18.1.1 on.
    data = frame.side_data.get(Type.DISPLAYMATRIX)
    return None if data is None else np.frombuffer(bytes(data)[:36], np.int32).tolist()
