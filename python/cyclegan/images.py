"""Reading and writing image files, for inference and training alike (torch-free).

Reading: every failure becomes an ImageError naming the file and the reason; decompression
bombs are refused by pixel count; EXIF orientation is applied; any mode comes back as 8-bit
RGB plus an optional alpha channel. Writing: the output formats are the one FORMATS table
(extensions, Pillow format, save options, alpha), and every file is written atomically.
Also the labelled image grid and the contact sheet (training samples, sweep reports,
cyclegan-infer's demo run).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cyclegan.errors import CycleganError
from cyclegan.fileio import atomic_writer


@dataclass(frozen=True)
class OutputFormat:
    """How one output format is written."""

    extensions: tuple[str, ...]  # lower case; the first is what `--format NAME` writes
    pillow: str  # Pillow's format name
    alpha: bool  # keeps an alpha channel (else it is dropped, with a warning)
    quality: bool = False  # takes --quality
    options: Mapping[str, object] = field(default_factory=dict)  # fixed save options
    alpha_options: Mapping[str, object] = field(default_factory=dict)  # added with alpha


# The writable formats: `cyclegan-infer --format` choices, output extensions and save
# options all come from here. Adding a format is one entry.
FORMATS: dict[str, OutputFormat] = {
    "png": OutputFormat((".png",), "PNG", alpha=True),
    "jpg": OutputFormat((".jpg", ".jpeg"), "JPEG", alpha=False, quality=True),
    # exact: keep the RGB under fully transparent pixels.
    "webp": OutputFormat((".webp",), "WEBP", alpha=True, quality=True,
                         alpha_options={"exact": True}),
    # Pillow writes 32-bit BMPs but reads them back without alpha: treat BMP as opaque.
    "bmp": OutputFormat((".bmp",), "BMP", alpha=False),
    "tiff": OutputFormat((".tif", ".tiff"), "TIFF", alpha=True),
}
READ_ONLY_EXTENSIONS = frozenset({".gif"})  # read, never written (output falls back to png)
IMAGE_EXTENSIONS = READ_ONLY_EXTENSIONS | {e for f in FORMATS.values() for e in f.extensions}
DEFAULT_MAX_PIXELS = 50_000_000


class BadImageWarning(UserWarning):
    """A dataset skipped files it could not read."""


class ImageError(CycleganError):
    """An image that cannot be used; `path` and `reason` say which and why."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def format_of(path: str | os.PathLike) -> str | None:
    """The FORMATS name that writes files with this path's extension, or None."""
    suffix = Path(path).suffix.lower()
    for name, fmt in FORMATS.items():
        if suffix in fmt.extensions:
            return name
    return None


def extension_list() -> str:
    return " ".join(sorted(IMAGE_EXTENSIONS))


# Reading.


def _too_large(path, size, max_pixels: int) -> ImageError:
    w, h = size
    return ImageError(path, f"image too large ({w} x {h}; limit {max_pixels:,} pixels)")


def _header_size(path) -> tuple[int, int] | None:
    """Dimensions from the header alone, for files Pillow's own bomb check refuses to open."""
    Image.init()
    try:
        with open(path, "rb") as fp:
            prefix = fp.read(16)
            for fmt in Image.ID:
                factory, accept = Image.OPEN[fmt]
                if accept and not accept(prefix):
                    continue
                fp.seek(0)
                try:
                    return factory(fp, str(path)).size
                except Exception:
                    continue
    except OSError:
        pass
    return None


def _stat_checks(path) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except OSError as e:
        raise ImageError(path, f"cannot access file ({e.strerror or e})") from None
    if not os.path.isfile(path):
        raise ImageError(path, "not a regular file")
    if st.st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")


def _open(path, max_pixels: int) -> tuple[Image.Image, int, int]:
    """Open and fully decode one image (the first frame of an animation), turning every
    failure into an ImageError; (image, frames in the file, bits per channel in it)."""
    _stat_checks(path)
    try:
        img = Image.open(path)
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(path, "not an image Pillow can read (unknown or corrupt header)") from None
    except Image.DecompressionBombError:
        size = _header_size(path)
        if size is None:
            raise ImageError(path, "image too large (decompression bomb)") from None
        raise _too_large(path, size, max_pixels) from None
    except Exception as e:
        raise ImageError(path, f"cannot open image ({e})") from None
    bits = _bits(img)  # before load(), which clears the tiles
    try:
        if img.width * img.height > max_pixels:
            raise _too_large(path, img.size, max_pixels)
        img.load()
    except ImageError:
        img.close()
        raise
    except Exception as e:
        img.close()
        raise ImageError(path, f"truncated or corrupt image data ({e})") from None
    frames = getattr(img, "n_frames", 1)
    turned = upright(img)
    if turned is not img:
        img.close()
    return turned, frames, bits


def upright(img: Image.Image) -> Image.Image:
    """The image with its EXIF orientation applied: a new image, or `img` itself when its
    EXIF cannot be read (broken EXIF should not cost a good image its pixels)."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:
        return img


def _to_uint8(arr: np.ndarray, full_scale: float) -> np.ndarray:
    return np.round(np.clip(arr.astype(np.float64), 0, full_scale) * (255.0 / full_scale)).astype(
        np.uint8
    )


def _split_alpha(img: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grayscale (Pillow opens 16-bit PNGs as I;16 or I): scale 0..65535 to 0..255.
        return Image.fromarray(_to_uint8(np.asarray(img), 65535.0)).convert("RGB"), None
    if mode == "F":
        arr = np.asarray(img)
        scale = 1.0 if np.nanmax(arr, initial=0.0) <= 1.0 else 255.0
        return Image.fromarray(_to_uint8(np.nan_to_num(arr), scale)).convert("RGB"), None
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("PA", "La", "RGBa"):
        img = img.convert("RGBA")
    if img.mode in ("LA", "RGBA"):
        alpha = img.getchannel("A")
        rgb = img.convert("L").convert("RGB") if img.mode == "LA" else img.convert("RGB")
        return rgb, alpha
    if img.mode == "RGB":
        return img, None
    return img.convert("RGB"), None


# .info key of a loaded image: bits per channel in its file, when more than the 8 every
# output has (16-bit PNG and TIFF). The pipeline is 8-bit from decoding on (Pillow holds
# 16-bit RGB only as 8-bit), so such an input loses its low byte, and DEPTH_NOTE says so
# where a user reads (cyclegan-infer's --help, its warning and its summary).
BITS = "bits"
DEPTH_NOTE = ("outputs have 8 bits per channel: a 16-bit (or floating-point) PNG or TIFF "
              "input loses its finer levels")


def _bits(img: Image.Image) -> int:
    """Bits per channel in the file: 16-bit grayscale opens as I;16 / I, 16-bit RGB(A)
    as 8-bit RGB(A) whose raw mode (the decoder's, before load) says ;16."""
    if img.mode.startswith("I;16") or img.mode == "I":
        return 16
    if img.mode == "F":
        return 32
    raw = [t.args[0] if isinstance(t.args, tuple) else t.args for t in img.tile]
    return 16 if any(isinstance(r, str) and ";16" in r for r in raw) else 8


# The metadata an output keeps of its input: Pillow's .info keys, which are also its save
# options (PNG, JPEG, WebP and TIFF write both; BMP neither).
CARRIED_METADATA = ("icc_profile", "exif")
# .info key of a loaded image: how many frames its file holds (only when more than one;
# only the first is read: an animated GIF or WebP is translated as its first frame).
FRAMES = "frames"
EXIF_ORIENTATION = 0x0112


def _carried(img: Image.Image) -> dict[str, bytes]:
    """The ICC profile when it describes RGB (a Display-P3 photo shown without its profile
    shifts colour; a CMYK or gray profile does not describe the RGB we write), and the EXIF
    with its orientation reset (the pixels are stored upright)."""
    kept = {}
    icc = img.info.get("icc_profile")
    if isinstance(icc, bytes) and icc[16:20] == b"RGB ":  # the profile's colour space
        kept["icc_profile"] = icc
    try:
        exif = img.getexif()
        if exif:
            if EXIF_ORIENTATION in exif:
                exif[EXIF_ORIENTATION] = 1
            kept["exif"] = exif.tobytes()
    except Exception:  # unreadable EXIF: the pixels still translate, without it
        pass
    return kept


def load_image(
    path, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[Image.Image, Image.Image | None]:
    """(RGB image, alpha channel or None), EXIF orientation applied.

    Grayscale (including 16-bit), palette (with transparency), CMYK and RGBA inputs all come
    back as 8-bit RGB (.info[BITS] records a deeper file's depth); raises ImageError for
    anything that cannot be decoded or is larger than `max_pixels`. The RGB image's .info
    holds, of CARRIED_METADATA, what an output of it should keep (see _carried); Pillow's
    resize and convert copy .info along.
    """
    img, frames, bits = _open(path, max_pixels)
    return split_image(img, path, frames, bits)


def split_image(img: Image.Image, origin, frames: int = 1, bits: int = 8
                ) -> tuple[Image.Image, Image.Image | None]:
    """load_image's conversion of an opened, upright image (cyclegan.Translator's images
    in memory take it too): (8-bit RGB with the carried metadata in .info, alpha or None).
    `origin` names the image in an ImageError; `bits`: per channel in its file. The RGB
    image may be `img` itself, its .info rewritten."""
    kept = _carried(img)
    if frames > 1:
        kept[FRAMES] = frames
    if bits > 8:
        kept[BITS] = bits
    try:
        rgb, alpha = _split_alpha(img)
    except Exception as e:
        raise ImageError(origin, f"unsupported image mode {img.mode} ({e})") from None
    for key in (*CARRIED_METADATA, FRAMES, BITS):
        rgb.info.pop(key, None)
    rgb.info.update(kept)
    return rgb, alpha


def load_image_rgb(path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image as 8-bit RGB (alpha dropped); see load_image."""
    return load_image(path, max_pixels)[0]


def list_images(folder, suffixes=IMAGE_EXTENSIONS) -> list[Path]:
    """Image files under `folder` (recursive), sorted by relative path; `suffixes` (lower
    case) says which names are listed (cyclegan-infer adds its video suffixes).

    Symlinked subfolders are followed (a folder of links to shoots is a common layout); a
    folder reached again, through a link loop or a second link to it, is listed once, at
    its first path. A single image file is returned as a one-element list.
    """
    root = Path(folder)
    if root.is_file():
        if root.suffix.lower() in IMAGE_EXTENSIONS:
            return [root]
        raise ValueError(f"{root} is not an image file (extensions: {extension_list()})")
    if not root.is_dir():
        raise FileNotFoundError(f"folder not found: {root}")
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames.sort()  # the first path to a folder reached twice is the sorted-first one
        here = Path(dirpath)
        found += [here / n for n in filenames
                  if Path(n).suffix.lower() in suffixes and (here / n).is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).parts)


# Writing.

# What --quality means for the formats that take it (OutputFormat.quality): Pillow's scale.
DEFAULT_QUALITY = 95
QUALITY_RANGE = (1, 100)


def save_options(fmt: OutputFormat, quality: int, with_alpha: bool) -> dict:
    options = dict(fmt.options)
    if fmt.quality:
        options["quality"] = quality
    if with_alpha:
        options.update(fmt.alpha_options)
    return options


def write_image(rgb: np.ndarray, alpha: np.ndarray | None, dst: Path,
                quality: int = DEFAULT_QUALITY,
                fmt: str | None = None, metadata: Mapping[str, bytes] | None = None) -> bool:
    """Write H x W x 3 uint8 (+ H x W alpha) atomically in format `fmt` (a FORMATS name;
    None: the one dst's extension names), with `metadata` (CARRIED_METADATA keys: an input's
    ICC profile and EXIF) where the format holds it.

    Returns False when the format cannot keep the alpha channel and it was dropped.
    """
    name = fmt or format_of(dst)
    if name not in FORMATS:
        raise ValueError(f"no writer for {Path(dst).suffix!r} files ({', '.join(FORMATS)})")
    fmt = FORMATS[name]
    img = Image.fromarray(rgb, "RGB")
    with_alpha = alpha is not None and fmt.alpha
    if with_alpha:
        img.putalpha(Image.fromarray(alpha, "L"))
    with atomic_writer(dst) as f:
        img.save(f, format=fmt.pillow, **save_options(fmt, quality, with_alpha),
                 **{k: v for k, v in (metadata or {}).items() if k in CARRIED_METADATA})
    return alpha is None or fmt.alpha


def write_png(path: str | os.PathLike, img: Image.Image) -> None:
    with atomic_writer(path) as f:
        img.save(f, format="PNG")


def ignore_pillow_bomb_warnings() -> None:
    """Refusals are ours (max_pixels), reported per file; Pillow's warning would be noise."""
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
