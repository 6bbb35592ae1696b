"""`cyclegan.Translator`: translate pictures from Python, as cyclegan-infer does (torch-free).

    t = Translator("summer2winter")      # a bundled name, an .onnx file, a checkpoint, a run
    winter = t(photo)                    # PIL image, uint8 array, torch tensor or file path
    for out in t.map(photos): ...        # a stream, through the threaded pipeline, in order

The model is found and loaded, and every option defaulted and checked, exactly as the
command does it (bundled.resolve_model, infer/config.py's InferConfig, runtime.load_model,
options.pipeline_options). Each picture takes the command's per-image steps, which stay public
here for callers that drive them themselves (cyclegan-eval batches them; a video loop can
carry state between frames):

    read     the picture as the command reads a file: EXIF orientation, any mode to 8-bit
             RGB, alpha split off (images.split_image)
    prepare  down to the working scale and into the model's input (io.prepare)
    run      the generator, one call at a time (its IO-binding buffers are shared)
    finish   back at full size (detail.finish: the guided colour grid by default)

so a picture comes back byte-identical to the file cyclegan-infer writes for it (PNG). Both
calls are thread-safe: the generator runs under a lock, everything else per call.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np
from PIL import Image

from cyclegan import images
from cyclegan.contract import DEFAULT_GEOMETRY, Geometry
from cyclegan.errors import first_line
from cyclegan.infer import bundled, detail, io, video
from cyclegan.infer.config import InferConfig
from cyclegan.infer.options import pipeline_options
from cyclegan.infer.pipeline import (
    Pipeline,
    PipelineOptions,
    model_failure,
    output_problems,
)
from cyclegan.infer.runtime import cpu_count, load_model

if TYPE_CHECKING:
    import torch

_LOG = logging.getLogger("cyclegan")
_DEFAULTS = InferConfig()  # every default is InferConfig's, as cyclegan-infer's flags are
POLL_S = 0.1  # how often map's feeder, waiting for room, checks for a stop
Picture = TypeVar("Picture", Image.Image, np.ndarray, "torch.Tensor")
# (rgb H x W x 3 uint8, alpha H x W uint8 or None, carried metadata) -> the caller's kind
Restore = Callable[[np.ndarray, "np.ndarray | None", dict], Any]
KINDS = ("a PIL image, a uint8 numpy array (H x W x 3 or H x W x 4), a torch tensor "
         "(C x H x W or N x C x H x W, uint8 or float in [0, 1]) or an image file's path")


class TranslateError(images.ImageError):
    """A picture Translator cannot take or could not translate: .path names it (the file,
    or "image" / "image N" for the N-th picture of a map), .reason says why."""


@dataclass
class _Item(io.Job):
    """One picture of a map: its place in the stream, and how its result goes back."""

    index: int = 0
    picture: object = None  # the caller's picture, until it is read
    restore: Restore | None = None


class Translator:
    """A generator and cyclegan-infer's per-image path, for pictures held in Python.

    model: a bundled model's name, an .onnx file, a cyclegan checkpoint (.pt) or a training
    run folder (None: the default bundled model). The other options are cyclegan-infer's
    flags of the same names, with the same defaults and checks (`cyclegan-infer --help`);
    a bad value raises a CycleganError naming the flag.
    """

    def __init__(self, model: str | os.PathLike | None = _DEFAULTS.model, *,
                 direction: str | None = _DEFAULTS.direction,
                 device: str = _DEFAULTS.device,
                 precision: str = _DEFAULTS.precision,
                 work_size: int | str | None = _DEFAULTS.work_size,
                 detail: str = _DEFAULTS.detail,
                 threads: int | None = _DEFAULTS.threads,
                 batch_size: int | None = _DEFAULTS.batch_size,
                 workers: int | None = _DEFAULTS.workers,
                 max_pixels: int = _DEFAULTS.max_pixels):
        cfg = InferConfig(model=model, direction=direction, device=device,
                          precision=precision, work_size=work_size, detail=detail,
                          threads=threads, batch_size=batch_size, workers=workers,
                          max_pixels=max_pixels).checked()
        self.model: Callable[[np.ndarray], np.ndarray] = load_model(
            bundled.resolve_model(cfg.model), cfg.direction, cfg.device, cfg.threads,
            log=_LOG.info, precision=cfg.precision, warn=_LOG.warning)
        self.options = pipeline_options(cfg, self.model, cpu_count(), _LOG.warning,
                                        threading.Event())
        self._lock = threading.Lock()

    @classmethod
    def around(cls, generator: Callable[[np.ndarray], np.ndarray], *,
               work_size: int | None, geometry: Geometry = DEFAULT_GEOMETRY,
               detail: str = _DEFAULTS.detail) -> Translator:
        """The per-image path around a generator already in memory (cyclegan-eval's torch
        modules, on its device): generator(x) maps N x 3 x h x w float32 in [-1, 1] to the
        same. work_size: the scale it runs at (None: each picture's own size)."""
        self = cls.__new__(cls)
        self.model = generator
        self.options = PipelineOptions(batch_size=1, workers=1, geometry=geometry,
                                       work_size=work_size, detail=detail, warn=_LOG.warning)
        self._lock = threading.Lock()
        return self

    def __repr__(self) -> str:
        return f"Translator({self.describe()})"

    def describe(self) -> str:
        """What runs: the file, its direction and precision, and the device."""
        describe = getattr(self.model, "describe", None)
        return describe() if describe else type(self.model).__name__

    @property
    def work_size(self) -> int | None:
        """The scale the generator runs at (None: every picture at its own size)."""
        return self.options.work_size

    # The per-image steps.

    def read(self, picture: Any, label: str = "image") -> tuple[Image.Image, np.ndarray | None,
                                                                 Restore]:
        """(RGB image, alpha or None, restore) of a picture as the command reads a file;
        restore(rgb, alpha, metadata) gives a result back as the caller's kind."""
        if isinstance(picture, (str, os.PathLike)):
            rgb, alpha = io.read_photo(io.Job(Path(picture), None),
                                       max_pixels=self.options.max_pixels)
            return rgb, alpha, _to_pil
        if isinstance(picture, Image.Image):
            try:  # a lazily opened file decodes here
                turned = images.upright(picture)
                # split_image rewrites its image's .info: never the caller's own picture
                img, restore = (picture.copy() if turned is picture else turned), _to_pil
            except OSError as exc:
                raise TranslateError(label, f"cannot decode the picture: "
                                            f"{first_line(exc)}") from None
        elif isinstance(picture, np.ndarray):
            img, restore = _from_array(picture, label), _array_restore(picture)
        elif _is_tensor(picture):
            img, restore = _from_tensor(picture, label)
        else:
            raise TranslateError(label, f"Translator takes {KINDS}; got a "
                                        f"{type(picture).__name__}")
        if img.width == 0 or img.height == 0:
            raise TranslateError(label, f"empty picture ({img.width} x {img.height})")
        rgb, alpha = images.split_image(img, label)
        return rgb, (np.asarray(alpha) if alpha is not None else None), restore

    def prepare(self, rgb: Image.Image, alpha: np.ndarray | None = None,
                label: str = "image") -> io.Decoded:
        """The model input of an RGB image at the working scale, and what finish needs."""
        o = self.options
        return io.prepare(io.Job(Path(label), None), rgb, alpha, o.geometry, o.work_size,
                          o.fits)

    def run(self, x: np.ndarray) -> np.ndarray:
        """The generator on N x 3 x h x w float32 in [-1, 1]; one call at a time."""
        with self._lock:
            return self.model(x)

    def finish(self, item: io.Decoded, y: np.ndarray, threads: int = 0) -> np.ndarray:
        """The output pixels (H x W x 3 uint8, full size) from the model's output for item
        (3 x h x w, padded); threads as detail.finish."""
        return detail.finish(item, y, self.options.detail, threads=threads)

    # The calls.

    @overload
    def __call__(self, picture: Image.Image | str | os.PathLike) -> Image.Image: ...
    @overload
    def __call__(self, picture: np.ndarray) -> np.ndarray: ...
    @overload
    def __call__(self, picture: torch.Tensor) -> torch.Tensor: ...

    def __call__(self, picture):
        """One picture translated in this thread, returned as the same kind (a path gives a
        PIL image) at its full size with its alpha; TranslateError says why not."""
        if _is_tensor(picture) and picture.ndim == 4:
            return sys.modules["torch"].stack([self(one) for one in picture])
        label = str(picture) if isinstance(picture, (str, os.PathLike)) else "image"
        try:
            rgb, alpha, restore = self.read(picture, label)
            item = self.prepare(rgb, alpha, label)
        except images.ImageError as exc:
            raise TranslateError(exc.path, exc.reason) from None
        x, item.x = item.x[None], None
        try:
            y = self.run(x)
        except Exception as exc:  # e.g. onnxruntime out of memory: one line, not a trace
            raise TranslateError(label, model_failure(exc)) from exc
        if problem := output_problems(x.shape, y)[0]:
            raise TranslateError(label, problem)
        return restore(self.finish(item, y[0]), item.alpha, item.metadata)

    def video(self, src: str | os.PathLike, dst: str | os.PathLike, *,
              temporal: float = _DEFAULTS.temporal, codec: str = _DEFAULTS.video_codec,
              crf: int | None = _DEFAULTS.crf,
              on_frame: Callable[[], None] | None = None) -> video.VideoResult:
        """The clip `src` translated into `dst` as `cyclegan-infer src dst` does (frame rate,
        timestamps, rotation and audio kept; written atomically), with the command's
        --temporal, --video-codec and --crf. Needs `pip install "cyclegan[video]"`;
        raises a CycleganError (VideoError, UsageError) for a clip or options it cannot
        take. on_frame: called after each frame."""
        o = self.options
        opts = video.VideoOptions(work_size=o.work_size, geometry=o.geometry, detail=o.detail,
                                  keep=temporal, codec=codec, crf=crf, fits=o.fits)
        video.check_options(dst, opts)
        return video.translate_video(self.run, src, dst, opts, on_frame)

    def map(self, pictures: Iterable[Picture]) -> Iterator[Picture]:
        """Each picture translated, in order, through the threaded pipeline (decode,
        generator and finish overlap; pictures of equal size share a model call). Memory
        stays bounded: at most a few pictures are read ahead of the one you are given.
        The first that fails raises TranslateError there; an exception of the iterable's
        own is raised where the iterable raised it."""
        o = dataclasses.replace(self.options, stop=threading.Event(), read=self._read_item,
                                keep=True)
        room = threading.Semaphore(2 * (o.batch_size + o.workers) + 1)
        source_failed: list[BaseException] = []

        def items() -> Iterator[_Item]:  # runs in the pipeline's feeder thread
            source = iter(pictures)
            for index in itertools.count():
                while not room.acquire(timeout=POLL_S):
                    if o.stop.is_set():
                        return
                try:
                    picture = next(source)
                except StopIteration:
                    return
                except Exception as exc:  # raised to the caller after the ones before it
                    source_failed.append(exc)
                    return
                label = (str(picture) if isinstance(picture, (str, os.PathLike))
                         else f"image {index}")
                yield _Item(Path(label), None, index=index, picture=picture)

        pipe = Pipeline(self.run, o)
        pipe.start(items())
        done: dict[int, Any] = {}
        turn = 0
        try:
            for result in pipe.iter_results():
                done[result.job.index] = result
                while turn in done:  # results finish out of order; they leave in order
                    result = done.pop(turn)
                    turn += 1
                    room.release()
                    if result.error is not None:
                        raise TranslateError(result.job.src, result.error)
                    yield result.job.restore(*result.output)
            if pipe.fatal is not None:
                raise pipe.fatal
            if source_failed:
                raise source_failed[0]
        finally:
            o.stop.set()  # also when the caller stops early: the threads wind down

    def _read_item(self, item: _Item) -> tuple[Image.Image, np.ndarray | None]:
        rgb, alpha, item.restore = self.read(item.picture, str(item.src))
        item.picture = None  # the photo travels on as pixels from here
        return rgb, alpha


def _is_tensor(picture: object) -> bool:
    torch = sys.modules.get("torch")  # a tensor means torch is imported already
    return torch is not None and isinstance(picture, torch.Tensor)


def _to_pil(rgb: np.ndarray, alpha: np.ndarray | None, metadata: dict) -> Image.Image:
    out = Image.fromarray(rgb, "RGB")
    if alpha is not None:
        out.putalpha(Image.fromarray(alpha, "L"))
    out.info.update(metadata)  # ICC profile and EXIF, for the caller's save()
    return out


def _from_array(a: np.ndarray, label: str) -> Image.Image:
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise TranslateError(label, "a numpy picture must be H x W x 3 or H x W x 4 uint8, "
                                    f"got {a.dtype} of shape {a.shape}")
    return Image.fromarray(np.ascontiguousarray(a), "RGB" if a.shape[2] == 3 else "RGBA")


def _array_restore(a: np.ndarray) -> Restore:
    def restore(rgb: np.ndarray, alpha: np.ndarray | None, metadata: dict) -> np.ndarray:
        return np.dstack([rgb, alpha]) if a.shape[2] == 4 else rgb

    return restore


def _from_tensor(t: torch.Tensor, label: str) -> tuple[Image.Image, Restore]:
    torch = sys.modules["torch"]
    if t.ndim != 3 or t.shape[0] not in (3, 4):
        raise TranslateError(label, "a torch picture must be C x H x W (or N x C x H x W) "
                                    f"with 3 or 4 channels, got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        u8 = t.detach().cpu()
    elif t.is_floating_point():
        f = t.detach().cpu().float()
        if f.numel() and not (0.0 <= float(f.min()) and float(f.max()) <= 1.0):
            raise TranslateError(label, "a float torch picture must hold values in [0, 1], "
                                        f"got {float(f.min()):.3g} to {float(f.max()):.3g}")
        u8 = (f * 255).round().to(torch.uint8)
    else:
        raise TranslateError(label, f"a torch picture must be uint8 or float, got {t.dtype}")
    img = _from_array(u8.permute(1, 2, 0).numpy(), label)
    dtype, device = t.dtype, t.device

    def restore(rgb: np.ndarray, alpha: np.ndarray | None, metadata: dict) -> torch.Tensor:
        out = torch.from_numpy(np.dstack([rgb, alpha]) if alpha is not None else rgb)
        out = out.permute(2, 0, 1).contiguous()
        if dtype != torch.uint8:
            out = out.to(dtype) / 255
        return out.to(device)

    return img, restore
