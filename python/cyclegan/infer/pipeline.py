"""The pipeline behind cyclegan-infer: the model never waits on Pillow, memory stays flat.

    feeder -> [decode pool] -> batcher + onnxruntime (one thread) -> [encode pool] -> results

Every queue is bounded. Each stage keeps draining its input until it has seen an end marker
from every producer, which is what lets an interrupt stop the run without a deadlock: on
SIGINT/SIGTERM the feeder stops, workers discard what they have not started, writes already
under way finish (each is atomic: temp file + rename), and the main thread reports.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from cyclegan.contract import DEFAULT_GEOMETRY, Geometry
from cyclegan.errors import first_line
from cyclegan.images import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_QUALITY,
    DEPTH_NOTE,
    FORMATS,
    ImageError,
    format_of,
    write_image,
)
from cyclegan.infer.detail import DEFAULT_DETAIL, finish
from cyclegan.infer.io import Decoded, Job, decode, prepare
from cyclegan.infer.runtime import OrtGenerator

STALL_S = 0.05  # a batch waits this long for more images of its size before it runs
MAX_BATCH_PIXELS = 8 * 512 * 512  # keeps batches of large images from exhausting memory
_END = object()
# Pool and batch sizes when the user gives none (why: default_workers, default_batch_size).
CORES_PER_WORKER = 8
BATCH_SIZES = {"cuda": 8, "cpu": 1}


def default_workers(device: str, cores: int) -> int:
    """Threads in each of the decode and the encode pool when --workers is not given.

    On a CPU, onnxruntime's intra-op threads take every core, and each pool thread that
    decodes or encodes while the model runs preempts one of them; on 2 cores one thread per
    pool beat two in every interleaved round (docs/benchmarks.md). Decoding plus encoding a
    photo costs a few ms against tens to hundreds for the model, so one thread per pool per
    8 cores keeps up. With CUDA the cores have nothing else to do: every one decodes and
    encodes, which is what feeding a GPU at thousands of images/s takes."""
    return max(1, cores if device == "cuda" else cores // CORES_PER_WORKER)


def default_batch_size(device: str) -> int:
    """Images per model call when --batch-size is not given.

    onnxruntime's CPU provider loses by batching these generators: measured per image at
    256 x 256 (docs/benchmarks.md), batch 8 was 8% (demo), 11% (summer2winter) and 5% (full
    size) slower than batch 1, likely because a batch's activations overflow the caches.
    On CUDA a batch fills the GPU."""
    return BATCH_SIZES["cuda" if device == "cuda" else "cpu"]


def batch_limit(batch_size: int, height: int, width: int) -> int:
    """Images of this padded size that may run together: batch_size, fewer for large ones."""
    return max(1, min(batch_size, MAX_BATCH_PIXELS // (height * width)))


@dataclass
class Result:
    job: Job
    error: str | None = None
    # With PipelineOptions.keep: (H x W x 3 uint8, H x W alpha or None, carried metadata).
    output: tuple | None = None
    bits: int = 8  # per channel in the input (written at 8: images.DEPTH_NOTE)
    frames: int | None = None  # a translated video's frames; None for an image


def failure_reason(exc: BaseException) -> str:
    """An exception as the reason column of the failures file: one line."""
    if isinstance(exc, ImageError):
        return str(getattr(exc, "reason", exc))
    text = first_line(exc, "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def model_failure(exc: BaseException) -> str:
    """The one-line failure of an image whose model call raised `exc`."""
    return f"model failed: {failure_reason(exc)}"


def output_problems(x_shape: tuple[int, ...], y: np.ndarray) -> list[str | None]:
    """Per image of a batch of shape x_shape (N x 3 x h x w): why the model's output y
    cannot be used, or None. A wrong size would be written as is, NaN as black pixels."""
    if y.shape != tuple(x_shape):
        return [f"model output has shape {y.shape[1:]}, expected its input's "
                f"{tuple(x_shape[1:])}"] * x_shape[0]
    return [None if np.isfinite(yi).all() else "model output holds NaN or inf" for yi in y]


@dataclass
class PipelineOptions:
    batch_size: int  # default_batch_size and default_workers decide when the user does not
    workers: int
    size: int | None = None
    max_size: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    quality: int = DEFAULT_QUALITY
    geometry: Geometry = DEFAULT_GEOMETRY  # the model's size rule
    work_size: int | None = None  # the scale the model runs at (None: each photo's own)
    fits: object = None  # (h, w) -> why the model cannot run at that size, or None
    detail: str = DEFAULT_DETAIL  # cyclegan.infer.detail: how outputs reach full resolution
    warn: object = print
    stop: threading.Event = field(default_factory=threading.Event)
    # For images that are not files (cyclegan.Translator): read(job) gives the photo as
    # io.read_photo does (RGB image, alpha or None), and keep hands the finished pixels
    # back on Result.output instead of writing job.dst.
    read: object = None
    keep: bool = False


class Pipeline:
    """Translate jobs with `model`; results arrive on .results, then one _END per encoder."""

    def __init__(self, model: OrtGenerator, opts: PipelineOptions):
        self.model = model
        self.opts = opts
        self.stop = opts.stop
        n, b = opts.workers, opts.batch_size
        self.paths: queue.Queue = queue.Queue(maxsize=2 * n)
        self.decoded: queue.Queue = queue.Queue(maxsize=2 * b + n)
        self.encoded: queue.Queue = queue.Queue(maxsize=2 * b + n)
        self.results: queue.Queue = queue.Queue()
        self.fatal: BaseException | None = None
        self._alpha_warned = threading.Event()
        self._animation_warned = threading.Event()
        self._depth_warned = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, jobs: list[Job]) -> None:
        n = self.opts.workers
        targets = ([(self._feed, (jobs,))] + [(self._decode_loop, ())] * n
                   + [(self._model_loop, ())] + [(self._encode_loop, ())] * n)
        for i, (fn, args) in enumerate(targets):
            # Daemon threads: a second Ctrl-C must be able to end the process at once.
            t = threading.Thread(target=fn, args=args, daemon=True,
                                 name=f"cyclegan-infer-{fn.__name__.strip('_')}-{i}")
            t.start()
            self._threads.append(t)

    def iter_results(self, poll_s: float = 0.2):
        """Yield Results until every encoder is done; polls so signal handlers can run."""
        ends = 0
        while ends < self.opts.workers:
            try:
                item = self.results.get(timeout=poll_s)
            except queue.Empty:
                continue
            if item is _END:
                ends += 1
            else:
                yield item

    def join(self, timeout: float | None = None) -> None:
        for t in self._threads:
            t.join(timeout)

    def _feed(self, jobs: list[Job]) -> None:
        for job in jobs:
            if self.stop.is_set():
                break
            self.paths.put(job)
        for _ in range(self.opts.workers):
            self.paths.put(_END)

    def _decode_loop(self) -> None:
        o = self.opts
        while True:
            job = self.paths.get()
            if job is _END:
                self.decoded.put(_END)
                return
            if self.stop.is_set():
                continue
            try:
                if o.read is None:
                    item = decode(job, o.size, o.max_size, o.max_pixels, geometry=o.geometry,
                                  work_size=o.work_size, fits=o.fits)
                else:
                    item = prepare(job, *o.read(job), o.geometry, o.work_size, o.fits)
            except Exception as exc:  # one bad file must never stop the run
                self.results.put(Result(job, failure_reason(exc)))
                continue
            if item.frames > 1 and not self._animation_warned.is_set():
                self._animation_warned.set()
                o.warn(f"warning: {job.src.name} is animated ({item.frames} frames): only "
                       "its first frame is translated (this warning is not repeated)")
            if item.bits > 8 and not self._depth_warned.is_set():
                self._depth_warned.set()
                o.warn(f"warning: {job.src.name} has {item.bits} bits per channel; "
                       f"{DEPTH_NOTE} (this warning is not repeated)")
            self.decoded.put(item)

    def _model_loop(self) -> None:
        ends = 0
        try:
            pending: dict[tuple[int, ...], list[Decoded]] = {}
            count = 0
            while ends < self.opts.workers:
                try:
                    item = self.decoded.get(timeout=STALL_S if count else None)
                except queue.Empty:  # decoders stalled: run what we have rather than wait
                    count -= self._run_biggest(pending)
                    continue
                if item is _END:
                    ends += 1
                    continue
                if self.stop.is_set():
                    pending.clear()
                    count = 0
                    continue
                group = pending.setdefault(item.x.shape, [])
                group.append(item)
                count += 1
                if len(group) >= batch_limit(self.opts.batch_size, *item.x.shape[1:]):
                    count -= len(group)
                    self._run_batch(pending.pop(item.x.shape))
                elif count >= 2 * self.opts.batch_size:  # many sizes: bound the memory
                    count -= self._run_biggest(pending)
            for group in pending.values():
                if not self.stop.is_set():
                    self._run_batch(group)
        except BaseException as exc:
            self.fatal = exc
            self.stop.set()
            while ends < self.opts.workers:  # keep draining so decoders can finish
                if self.decoded.get() is _END:
                    ends += 1
        finally:
            for _ in range(self.opts.workers):
                self.encoded.put(_END)

    def _run_biggest(self, pending: dict) -> int:
        """Run the largest group waiting for more images of its size; returns its length."""
        group = pending.pop(max(pending, key=lambda k: len(pending[k])))
        self._run_batch(group)
        return len(group)

    def _run_batch(self, items: list[Decoded]) -> None:
        if self.stop.is_set():
            return
        x = np.stack([it.x for it in items])
        for it in items:
            it.x = None  # the batch holds the pixels now
        try:
            y = self.model(x)
        except Exception as exc:
            if len(items) > 1:  # find out which image it was (e.g. one too large for memory)
                for i, it in enumerate(items):
                    it.x = x[i]
                    self._run_batch([it])
                return
            self.results.put(Result(items[0].job, model_failure(exc)))
            return
        for i, (it, problem) in enumerate(zip(items, output_problems(x.shape, y))):
            if problem is None:
                self.encoded.put((it, y[i]))
            else:
                self.results.put(Result(it.job, problem))

    def _encode_loop(self) -> None:
        while True:
            item = self.encoded.get()
            if item is _END:
                self.results.put(_END)
                return
            if self.stop.is_set():
                continue
            it, y = item
            try:
                # One encoder (the CPU default) lends the guided step the compiled
                # module's threads; several (CUDA) each finish their own photo.
                rgb = finish(it, y, self.opts.detail, threads=1 if self.opts.workers > 1 else 0)
            except Exception as exc:
                self.results.put(Result(it.job, f"full-resolution step failed: "
                                                f"{failure_reason(exc)}"))
                continue
            finally:
                it.photo = it.small = None  # the full-size photo is not needed any more
            if self.opts.keep:
                self.results.put(Result(it.job, output=(rgb, it.alpha, it.metadata)))
                continue
            try:
                kept_alpha = write_image(rgb, it.alpha, it.job.dst, self.opts.quality,
                                         it.job.format, it.metadata)
            except Exception as exc:
                self.results.put(Result(it.job, f"cannot write {it.job.dst}: "
                                                f"{failure_reason(exc)}"))
                continue
            if not kept_alpha and not self._alpha_warned.is_set():
                self._alpha_warned.set()
                name = FORMATS[it.job.format or format_of(it.job.dst)].pillow
                self.opts.warn(f"warning: {name} output has no alpha channel; transparency "
                               "is dropped (use --format png to keep it)")
            self.results.put(Result(it.job, bits=it.bits))


def translate(model: OrtGenerator, jobs: list[Job], opts: PipelineOptions, on_result) -> float:
    """Run the pipeline to the end (or until opts.stop); returns the wall time in seconds."""
    start = time.perf_counter()
    pipe = Pipeline(model, opts)
    pipe.start(jobs)
    try:
        for result in pipe.iter_results():
            on_result(result)
    except BaseException:
        opts.stop.set()  # e.g. a second Ctrl-C: no new work, even if the caller carries on
        raise
    pipe.join(timeout=5)
    if pipe.fatal is not None:
        raise pipe.fatal
    return time.perf_counter() - start
