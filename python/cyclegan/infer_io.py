"""Image reading and writing for cyclegan-infer: decode, pad, encode, atomic writes, naming.

Pillow releases the GIL while decoding and encoding, so these functions run in thread pools.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cyclegan.data import DEFAULT_MAX_PIXELS, load_image
from cyclegan.export import MIN_SIZE, SIZE_MULTIPLE

WRITERS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP",
           ".tif": "TIFF", ".tiff": "TIFF"}
NO_ALPHA_FORMATS = {"JPEG"}
TMP_SUFFIX = ".cyclegan-tmp"
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.\d+-[0-9a-f]{8}" + re.escape(TMP_SUFFIX) + "$")


@dataclass
class Job:
    src: Path
    dst: Path


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


def padded(n: int) -> int:
    return max(MIN_SIZE, -(-n // SIZE_MULTIPLE) * SIZE_MULTIPLE)


def to_model_input(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 -> 3 x H' x W' float32 in [-1, 1], reflect-padded at bottom/right."""
    h, w = rgb.shape[:2]
    ph, pw = padded(h) - h, padded(w) - w
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
           max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Read one image (EXIF orientation applied, any mode to RGB + optional alpha)."""
    rgb, alpha = load_image(job.src, max_pixels)
    tw, th = target_size(rgb.width, rgb.height, size, max_size)
    if (tw, th) != rgb.size:
        rgb = rgb.resize((tw, th), Image.Resampling.LANCZOS)
        alpha = alpha.resize((tw, th), Image.Resampling.LANCZOS) if alpha else None
    return Decoded(job, to_model_input(np.asarray(rgb)), th, tw,
                   np.asarray(alpha) if alpha is not None else None)


def writer_format(dst: Path) -> str:
    return WRITERS[dst.suffix.lower()]


def output_path(src: Path, rel: Path, out_root: Path, fmt: str) -> Path:
    """Same relative path and name; --format png/jpg swaps the extension, keep keeps it
    when Pillow can write it (else png)."""
    suffix = src.suffix
    if fmt == "png" or (fmt == "keep" and suffix.lower() not in WRITERS):
        suffix = ".png"
    elif fmt == "jpg":
        suffix = ".jpg"
    return out_root / rel.with_suffix(suffix) if rel.suffix else out_root / (str(rel) + suffix)


def temp_name(dst: Path) -> Path:
    """Hidden, never an image extension, and parseable so a re-run can remove leftovers."""
    return dst.with_name(f".{dst.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")


def clean_stale_temps(outputs: list[Path]) -> int:
    """Remove temp files a killed run left next to outputs this run owns; returns the count."""
    by_dir: dict[Path, set[str]] = {}
    for dst in outputs:
        by_dir.setdefault(dst.parent, set()).add(dst.name)
    removed = 0
    for folder, names in by_dir.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            m = _TMP_RE.match(entry)
            if m and m.group("name") in names:
                try:
                    os.unlink(folder / entry)
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed


def write_image(rgb: np.ndarray, alpha: np.ndarray | None, dst: Path, quality: int) -> bool:
    """Encode to a temp file beside dst, then rename. Returns False when alpha was dropped."""
    fmt = writer_format(dst)
    img = Image.fromarray(rgb, "RGB")
    kept_alpha = alpha is None or fmt not in NO_ALPHA_FORMATS
    if alpha is not None and kept_alpha:
        img.putalpha(Image.fromarray(alpha, "L"))
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "WEBP" and alpha is not None:
        options["exact"] = True  # keep RGB under fully transparent pixels
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(dst)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            img.save(f, format=fmt, **options)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return kept_alpha


def write_bytes_atomic(dst: Path, data: bytes) -> None:
    tmp = temp_name(dst)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def contact_sheet(pairs: list[tuple[Path, Path, str]], dst: Path, title: str = "",
                  height: int = 160, max_pairs: int = 16) -> Path:
    """A PNG, one labelled row per (input, output, label): input | output."""
    rows = []
    for src, out, label in pairs[:max_pairs]:
        tiles = []
        for path in (src, out):
            rgb, alpha = load_image(path)
            tile = rgb.convert("RGBA")
            if alpha is not None:
                tile.putalpha(alpha)
            tile.thumbnail((height * 4, height), Image.Resampling.LANCZOS)
            backdrop = Image.new("RGBA", tile.size, (128, 128, 128, 255))
            tiles.append(Image.alpha_composite(backdrop, tile).convert("RGB"))
        rows.append((tiles, label))
    pad, text_h = 8, 14
    width = max(sum(t.width for t in tiles) + 3 * pad for tiles, _ in rows)
    top = pad + (text_h + pad if title else 0)
    sheet = Image.new("RGB", (width, top + len(rows) * (height + text_h + 2 * pad)),
                      (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, pad), title, fill=(0, 0, 0))
    y = top
    for tiles, label in rows:
        draw.text((pad, y), label, fill=(0, 0, 0))
        x = pad
        for tile in tiles:
            sheet.paste(tile, (x, y + text_h + (height - tile.height) // 2))
            x += tile.width + pad
        y += height + text_h + 2 * pad
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    write_bytes_atomic(dst, buf.getvalue())
    return dst
