"""A translated clip's encoder and muxer, on a thread of its own behind a bounded queue.

cyclegan.infer.video decodes a clip and translates its frames; the Writer encodes them and
copies the audio packets into the output, untouched, while the next frames are translated.
At most QUEUE frames wait for the encoder, so memory is flat over any length. VideoError,
the one error a clip fails with, is defined here, below video.py, because both raise it.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

from cyclegan.errors import CycleganError, first_line

QUEUE = 4  # translated frames waiting for the encoder
PIX_FMT = "yuv420p"  # what every player decodes


@dataclass(frozen=True)
class Codec:
    encoder: str  # FFmpeg's encoder name
    crf: int  # default quality: visually lossless-ish at a moderate size
    crf_max: int
    options: dict[str, str] = field(default_factory=dict)
    tag: str | None = None  # the fourcc MP4/MOV players expect


class VideoError(CycleganError):
    """A clip that cannot be translated (undecodable, no video stream, audio that cannot be
    copied into the output's container); the reason becomes its failures-file row."""


_END = object()


class Writer:
    """Encodes and muxes on its own thread, behind a bounded queue. Video frames and audio
    packets arrive in the input's order; the muxer interleaves them by time. The video
    stream is made from the first translated frame (its display matrix is known once a
    frame is decoded), and the output's header is written then: audio packets that come
    before it wait. frames: the clip's cyclegan.infer.video.FrameTranslator, read for that
    display matrix. The caller has checked that `out` can hold every stream in `audio`."""

    def __init__(self, av, out, v_in, audio, codec: Codec, crf: int | None, frames):
        self.av, self.out, self.v_in, self.codec, self.crf = av, out, v_in, codec, crf
        self.frames = frames
        self.early: list = []  # audio packets before the first frame
        self.audio = {a.index: out.add_stream_from_template(a) for a in audio}
        self.stream = None  # created with the first frame: its size is known then
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE)
        self.error: BaseException | None = None
        self.aborted = False
        self.thread = threading.Thread(target=self._loop, daemon=True,
                                       name="cyclegan-video-writer")
        self.thread.start()

    def put(self, item) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(item)

    def finish(self) -> None:
        """Flush the encoder and wait for the writer; raises what it failed with."""
        self.queue.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error
        if self.stream is not None:
            self.out.mux(self.stream.encode(None))

    def abort(self) -> None:
        """End the thread without writing what is still queued (the output is discarded)."""
        self.aborted = True
        while self.thread.is_alive():  # drain so the writer sees the end
            try:
                self.queue.put(_END, timeout=0.1)
                break
            except queue.Full:
                self._drop()
        self.thread.join()

    def _drop(self) -> None:
        try:
            self.queue.get_nowait()
        except queue.Empty:
            pass

    def _loop(self) -> None:
        while (item := self.queue.get()) is not _END:
            if self.error is not None or self.aborted:
                continue
            try:
                if isinstance(item, self.av.Packet):
                    item.stream = self.audio[item.stream_index]
                    if self.stream is None:
                        self.early.append(item)
                    else:
                        self.out.mux(item)
                    continue
                stream = self._video(item)
                self.out.mux(stream.encode(item))
                for packet in self.early:
                    self.out.mux(packet)
                self.early.clear()
            except BaseException as exc:
                self.error = _as_video_error(self.av, exc)

    def _video(self, first):
        if self.stream is None:
            v_in, codec = self.v_in, self.codec
            rate = v_in.average_rate or v_in.guessed_rate or 25
            s = self.out.add_stream(codec.encoder, rate=rate,
                                    options={**codec.options,
                                             "crf": str(self.crf if self.crf is not None
                                                        else codec.crf)})
            s.width, s.height, s.pix_fmt = first.width, first.height, PIX_FMT
            s.time_base = s.codec_context.time_base = v_in.time_base
            if codec.tag and self.out.format.name.startswith("mov"):
                s.codec_tag = codec.tag
            if self.frames.display_matrix is not None:
                s.set_display_matrix(self.frames.display_matrix)
            self.stream = s
        return self.stream


def _as_video_error(av, exc: BaseException) -> BaseException:
    if isinstance(exc, av.FFmpegError | ValueError):
        return VideoError(f"cannot encode: {first_line(exc)}")
    return exc
