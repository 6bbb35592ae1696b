"""Inference-specific image handling: decode to model input, model output to pixels, naming.

Reading and writing files is cyclegan.images; this module adds what only cyclegan-infer
needs: resizing options, padding to the size the generator takes, and output names. Pillow
releases the GIL while decoding and encoding, so these functions run in thread pools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from cyclegan.contract import DEFAULT_GEOMETRY, Geometry
from cyclegan.images import (
    BITS,
    CARRIED_METADATA,
    DEFAULT_MAX_PIXELS,
    FORMATS,
    FRAMES,
    ImageError,
    format_of,
    load_image,
)
from cyclegan.infer.scale import work_dims

# Downscaling to the working scale: Pillow first box-reduces by a whole factor, leaving at
# least this factor to its Lanczos filter. 12 MP to 341 x 256 here: 73 ms against 340 ms
# for Lanczos alone, within 3 grey levels of it (mean 0.6).
REDUCING_GAP = 3.0
KEEP = "keep"  # --format keep: the input's format where it can be written, else FALLBACK
FALLBACK = "png"


def format_choices() -> tuple[str, ...]:
    """cyclegan-infer --format choices: keep, then every writable format."""
    return (KEEP, *FORMATS)


@dataclass
class Job:
    src: Path
    dst: Path
    format: str | None = None  # a FORMATS name, decided by the plan (None: decode only)


@dataclass
class Decoded:
    """One photo ready for the model, and what its output needs afterwards."""

    job: Job
    x: np.ndarray | None  # 3 x h' x w' float32 in [-1, 1], padded by the size rule
    height: int  # the output's size (the photo's, after --size / --max-size)
    width: int
    alpha: np.ndarray | None  # H x W uint8, re-attached to the output untouched
    # When the model runs at a working scale below the photo's own: the photo (H x W x 3
    # uint8, the guide of the full-resolution step) and what the model saw (h x w x 3 uint8,
    # unpadded). None when it runs at the photo's size and its output is the result.
    photo: np.ndarray | None = None
    small: np.ndarray | None = None
    # What the output keeps of the input's metadata (images.CARRIED_METADATA: ICC, EXIF).
    metadata: dict[str, bytes] = field(default_factory=dict)
    frames: int = 1  # in the input's file (an animation: only the first is translated)
    bits: int = 8  # per channel in the input's file (more: images.DEPTH_NOTE)


def target_size(w: int, h: int, size: int | None, max_size: int | None) -> tuple[int, int]:
    """--size scales the shorter side to `size`; --max-size then caps the longer side."""
    if size:
        s = size / min(w, h)
        w, h = max(1, round(w * s)), max(1, round(h * s))
    if max_size and max(w, h) > max_size:
        s = max_size / max(w, h)
        w, h = max(1, round(w * s)), max(1, round(h * s))
    return w, h


def to_model_input(rgb: np.ndarray, geometry: Geometry = DEFAULT_GEOMETRY) -> np.ndarray:
    """H x W x 3 uint8 -> 3 x H' x W' float32 in [-1, 1], reflect-padded at bottom/right to
    the sizes the generator takes."""
    h, w = rgb.shape[:2]
    ph, pw = geometry.padded(h) - h, geometry.padded(w) - w
    if ph or pw:
        # numpy reflects repeatedly when the pad exceeds the image (and repeats a 1-pixel edge).
        rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    x = rgb.transpose(2, 0, 1).astype(np.float32)
    x *= 1 / 127.5
    x -= 1.0
    return x


def from_model_output(y: np.ndarray, height: int, width: int) -> np.ndarray:
    """3 x H' x W' in [-1, 1] -> H x W x 3 uint8, cropped back to the input size."""
    y = y[:, :height, :width].transpose(1, 2, 0)
    return np.clip(np.rint((y + 1.0) * 127.5), 0, 255).astype(np.uint8)


def read_photo(job: Job, size: int | None = None, max_size: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Image.Image, np.ndarray | None]:
    """(RGB image at its output size, alpha or None): EXIF orientation applied, any mode
    to RGB, --size / --max-size applied."""
    rgb, alpha = load_image(job.src, max_pixels)
    tw, th = target_size(rgb.width, rgb.height, size, max_size)
    if tw * th > max_pixels:  # --size may enlarge far past the limit the header passed
        raise ImageError(job.src, f"image too large after resizing to {tw} x {th} (limit "
                                  f"{max_pixels:,} pixels; see --max-pixels)")
    if (tw, th) != rgb.size:
        rgb = rgb.resize((tw, th), Image.Resampling.LANCZOS)
        alpha = alpha.resize((tw, th), Image.Resampling.LANCZOS) if alpha else None
    return rgb, (np.asarray(alpha) if alpha is not None else None)


def prepare(job: Job, rgb: Image.Image, alpha: np.ndarray | None,
            geometry: Geometry = DEFAULT_GEOMETRY, work_size: int | None = None,
            fits=None) -> Decoded:
    """The model input for a photo: at its own size, or (work_size given and the photo
    larger) resized so its short side is work_size. fits(h, w), if given, says why the
    generator cannot run at that padded size (e.g. memory), or None."""
    dims = work_dims(rgb.width, rgb.height, work_size)
    run = rgb if dims is None else rgb.resize(dims, Image.Resampling.LANCZOS,
                                              reducing_gap=REDUCING_GAP)
    if fits is not None and (problem := fits(geometry.padded(run.height),
                                             geometry.padded(run.width))):
        raise ImageError(job.src, problem)
    small = np.asarray(run)
    photo = None if dims is None else np.asarray(rgb)
    metadata = {k: rgb.info[k] for k in CARRIED_METADATA if k in rgb.info}
    return Decoded(job, to_model_input(small, geometry), rgb.height, rgb.width, alpha,
                   photo, None if dims is None else small, metadata,
                   rgb.info.get(FRAMES, 1), rgb.info.get(BITS, 8))


def decode(job: Job, size: int | None = None, max_size: int | None = None,
           max_pixels: int = DEFAULT_MAX_PIXELS, *, geometry: Geometry = DEFAULT_GEOMETRY,
           work_size: int | None = None, fits=None) -> Decoded:
    """read_photo, then prepare: one image from its file to a model input."""
    rgb, alpha = read_photo(job, size, max_size, max_pixels)
    return prepare(job, rgb, alpha, geometry, work_size, fits)


def output_format(src: Path, fmt: str) -> str:
    """The FORMATS name an input is written in: --format NAME, or with keep the input's own
    when it can be written, else FALLBACK."""
    return (format_of(src) or FALLBACK) if fmt == KEEP else fmt


def output_path(src: Path, rel: Path, out_root: Path, fmt: str) -> Path:
    """Same relative path and name, with the output format's extension (keep keeps the
    input's own spelling, e.g. .JPG)."""
    name = output_format(src, fmt)
    suffix = src.suffix if name == format_of(src) and fmt == KEEP else FORMATS[name].extensions[0]
    return out_root / rel.with_suffix(suffix) if rel.suffix else out_root / (str(rel) + suffix)
