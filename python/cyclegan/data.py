"""Image loading and the datasets behind `cyclegan-train --data`.

Two sources: a folder in the official layout (trainA/trainB/testA/testB) or
"builtin:seasons", landscapes rendered by `cyclegan.seasons`. Every random decision (crop,
flip) is drawn from torch's RNG, so a seeded run, its DataLoader workers included, is
reproducible and resumable.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from . import seasons

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
DEFAULT_MAX_PIXELS = 50_000_000
BUILTIN_SEASONS = "builtin:seasons"
BUILTIN_LENGTH = {"train": 1000, "test": 100}
# Seed ranges: the two training domains never share a landscape (unpaired training);
# the test split uses a third range in both domains, so A[i] and B[i] are a true pair.
_SEED_BASE = {("train", "A"): 0, ("train", "B"): 1_000_000,
              ("test", "A"): 2_000_000, ("test", "B"): 2_000_000}
_LAYOUT = "expected layout: DIR/trainA, DIR/trainB, DIR/testA, DIR/testB, each holding images"


class BadImageWarning(UserWarning):
    """A dataset skipped files it could not read."""


class ImageError(Exception):
    """An image that cannot be used; `path` and `reason` say which and why."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


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


def _open(path, max_pixels: int) -> Image.Image:
    """Open and fully decode one image, turning every failure into an ImageError."""
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
    try:
        upright = ImageOps.exif_transpose(img)
    except Exception:
        # Broken EXIF should not cost a good image its pixels; keep it as stored.
        return img
    if upright is not img:
        img.close()
    return upright


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


def load_image(
    path, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[Image.Image, Image.Image | None]:
    """(RGB image, alpha channel or None), EXIF orientation applied.

    Grayscale (including 16-bit), palette (with transparency), CMYK and RGBA inputs all come
    back as 8-bit RGB; raises ImageError for anything that cannot be decoded or is larger
    than `max_pixels`.
    """
    img = _open(path, max_pixels)
    try:
        return _split_alpha(img)
    except Exception as e:
        raise ImageError(path, f"unsupported image mode {img.mode} ({e})") from None


def load_image_rgb(path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image as 8-bit RGB (alpha dropped); see load_image."""
    return load_image(path, max_pixels)[0]


def list_images(folder) -> list[Path]:
    """Image files under `folder` (recursive), sorted by relative path.

    A single image file is returned as a one-element list.
    """
    root = Path(folder)
    if root.is_file():
        if root.suffix.lower() in IMAGE_EXTENSIONS:
            return [root]
        raise ValueError(f"{root} is not an image file (extensions: {_extensions()})")
    if not root.is_dir():
        raise FileNotFoundError(f"folder not found: {root}")
    found = [p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def _extensions() -> str:
    return " ".join(sorted(IMAGE_EXTENSIONS))


def from_pil(img: Image.Image) -> torch.Tensor:
    """PIL image -> float tensor 3 x H x W in [-1, 1]."""
    arr = np.asarray(img.convert("RGB") if img.mode != "RGB" else img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float tensor 3 x H x W in [-1, 1] (values outside are clipped) -> RGB PIL image."""
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"to_pil expects a 3 x H x W tensor, got shape {tuple(tensor.shape)}")
    t = tensor.detach().to("cpu", torch.float32).clamp(-1.0, 1.0).add(1.0).mul(127.5).round()
    return Image.fromarray(t.to(torch.uint8).permute(1, 2, 0).numpy())


def _augment(img: Image.Image, image_size: int, load_size: int, augment: bool) -> Image.Image:
    if not augment:
        if img.size != (image_size, image_size):
            img = img.resize((image_size, image_size), Image.Resampling.BICUBIC)
        return img
    if img.size != (load_size, load_size):
        img = img.resize((load_size, load_size), Image.Resampling.BICUBIC)
    if load_size > image_size:
        top, left = (int(v) for v in torch.randint(0, load_size - image_size + 1, (2,)))
        img = img.crop((left, top, left + image_size, top + image_size))
    if torch.rand(()) < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return img


def _check_sizes(image_size: int, load_size: int) -> None:
    if image_size < 1 or load_size < 1:
        raise ValueError(f"image_size and load_size must be positive ({image_size}, {load_size})")
    if load_size < image_size:
        raise ValueError(f"load_size ({load_size}) must be >= image_size ({image_size})")


class FolderDataset(Dataset):
    """One domain of a folder in the official layout, e.g. ROOT/trainA.

    Files are not decoded up front (datasets can be large). A file that fails to load is
    skipped on read: it is recorded in `bad_files` (path -> reason), the first one triggers a
    single warning, and the next readable file is returned instead. Each DataLoader worker
    keeps its own record.
    """

    def __init__(self, root, domain: str, split: str = "train", image_size: int = 256,
                 load_size: int = 286, augment: bool = True,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
        _check_sizes(image_size, load_size)
        self.root = Path(root)
        self.folder = self.root / f"{split}{domain}"
        if not self.root.is_dir():
            raise ValueError(f"data folder not found: {self.root} ({_LAYOUT})")
        if not self.folder.is_dir():
            raise ValueError(f"domain folder not found: {self.folder} ({_LAYOUT})")
        self.files = list_images(self.folder)
        if not self.files:
            raise ValueError(f"no images ({_extensions()}) in {self.folder} ({_LAYOUT})")
        self.image_size, self.load_size, self.augment = image_size, load_size, augment
        self.max_pixels = max_pixels
        self.bad_files: dict[Path, str] = {}
        self._warned = False

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        n = len(self.files)
        for k in range(n):
            path = self.files[(index + k) % n]
            if path in self.bad_files:
                continue
            try:
                img = load_image_rgb(path, self.max_pixels)
            except ImageError as e:
                self._record_bad(path, e.reason)
                continue
            return from_pil(_augment(img, self.image_size, self.load_size, self.augment))
        listing = "; ".join(f"{p.name}: {r}" for p, r in list(self.bad_files.items())[:5])
        raise ValueError(f"no readable images in {self.folder}: all {n} files failed ({listing})")

    def _record_bad(self, path: Path, reason: str) -> None:
        self.bad_files[path] = reason
        if not self._warned:
            self._warned = True
            listing = "\n".join(f"  {p}: {r}" for p, r in self.bad_files.items())
            warnings.warn(f"skipping unreadable images in {self.folder} (any further ones are "
                          f"only counted in bad_files):\n{listing}", BadImageWarning, stacklevel=3)


class SeasonsDataset(Dataset):
    """Built-in landscapes: domain A is summer, B winter.

    Item i of a split/domain is the landscape with seed `seed_base + i`; the train domains
    use disjoint seeds, the test split the same seeds in both (paired).
    """

    def __init__(self, domain: str, split: str = "train", image_size: int = 256,
                 load_size: int = 286, augment: bool = True, length: int | None = None):
        _check_sizes(image_size, load_size)
        self.season = {"A": "summer", "B": "winter"}[domain]
        self.seed_base = _SEED_BASE[(split, domain)]
        self.length = BUILTIN_LENGTH[split] if length is None else int(length)
        if self.length < 1:
            raise ValueError(f"length must be positive, got {length}")
        self.image_size, self.augment = image_size, augment

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        img = seasons.render(self.seed_base + index, self.image_size, self.season)
        t = torch.from_numpy(img).permute(2, 0, 1).mul(2.0).sub(1.0)
        if self.augment and torch.rand(()) < 0.5:
            t = t.flip(-1)
        return t.contiguous()


def _check_domain_split(domain: str, split: str) -> None:
    if domain not in ("A", "B"):
        raise ValueError(f"domain must be 'A' or 'B', got {domain!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def make_dataset(spec, domain: str, split: str = "train", image_size: int = 256,
                 load_size: int = 286, augment: bool = True, *,
                 max_pixels: int = DEFAULT_MAX_PIXELS, length: int | None = None) -> Dataset:
    """Dataset of 3 x S x S float tensors in [-1, 1] for one domain of `spec`.

    spec is a folder in the official layout or "builtin:seasons" (`length` sets the number of
    built-in items; default 1000 train, 100 test).
    """
    _check_domain_split(domain, split)
    if str(spec).startswith("builtin:"):
        if str(spec) != BUILTIN_SEASONS:
            raise ValueError(f"unknown built-in dataset {spec!r}; available: {BUILTIN_SEASONS}")
        return SeasonsDataset(domain, split, image_size, load_size, augment, length)
    return FolderDataset(spec, domain, split, image_size, load_size, augment, max_pixels)


def domain_names(spec) -> dict[str, str]:
    """Human names of the two domains: from "X2Y..." folder names (e.g. summer2winter_yosemite
    -> summer, winter), "summer"/"winter" for the built-in data, else "A"/"B"."""
    if str(spec) == BUILTIN_SEASONS:
        return {"A": "summer", "B": "winter"}
    match = re.match(r"([A-Za-z]+)2([A-Za-z]+)", Path(spec).name)
    if match:
        return {"A": match.group(1), "B": match.group(2)}
    return {"A": "A", "B": "B"}


def seasons_pairs(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n paired landscapes (seeds seed .. seed+n-1): (summer, winter), each n x 3 x size x size
    in [-1, 1]."""
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    pairs = [seasons.render_pair(seed + i, size) for i in range(n)]
    summer = np.stack([s for s, _ in pairs]).transpose(0, 3, 1, 2)
    winter = np.stack([w for _, w in pairs]).transpose(0, 3, 1, 2)
    return (torch.from_numpy(summer).mul(2.0).sub(1.0).contiguous(),
            torch.from_numpy(winter).mul(2.0).sub(1.0).contiguous())
