"""Inference-specific image handling: decode to model input, model output to pixels, naming.

Reading and writing files is cyclegan.images; this module adds what only cyclegan-infer
needs: resizing options, padding to the size the generator takes, and output names. Pillow
releases the GIL while decoding and encoding, so these functions run in thread pools.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cyclegan.contract import DEFAULT_GEOMETRY, Geometry
from cyclegan.images import DEFAULT_MAX_PIXELS, FORMATS, ImageError, format_of, load_image

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
    job: Job
    x: np.ndarray  # 3 x H' x W' float32 in [-1, 1], H' and W' padded to the model's multiple
    height: int
    width: int
    alpha: np.ndarray | None  # H x W uint8, re-attached to the output untouched


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


def decode(job: Job, size: int | None = None, max_size: int | None = None,
           max_pixels: int = DEFAULT_MAX_PIXELS, geometry: Geometry = DEFAULT_GEOMETRY) -> Decoded:
    """Read one image (EXIF orientation applied, any mode to RGB + optional alpha)."""
    rgb, alpha = load_image(job.src, max_pixels)
    tw, th = target_size(rgb.width, rgb.height, size, max_size)
    if tw * th > max_pixels:  # --size may enlarge far past the limit the header passed
        raise ImageError(job.src, f"image too large after resizing to {tw} x {th} (limit "
                                  f"{max_pixels:,} pixels; see --max-pixels)")
    if (tw, th) != rgb.size:
        rgb = rgb.resize((tw, th), Image.Resampling.LANCZOS)
        alpha = alpha.resize((tw, th), Image.Resampling.LANCZOS) if alpha else None
    return Decoded(job, to_model_input(np.asarray(rgb), geometry), th, tw,
                   np.asarray(alpha) if alpha is not None else None)


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
