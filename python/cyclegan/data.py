"""The datasets behind `cyclegan-train --data` (image files are read by cyclegan.images).

Two sources: a folder in the official layout (trainA/trainB/testA/testB) or
"builtin:seasons", landscapes rendered by `cyclegan.seasons`. Every random decision (crop,
flip) is drawn from torch's RNG, so a seeded run, its DataLoader workers included, is
reproducible and resumable.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from cyclegan import seasons
from cyclegan.contract import parse_domains
from cyclegan.errors import CycleganError
from cyclegan.images import (
    DEFAULT_MAX_PIXELS,
    BadImageWarning,
    ImageError,
    extension_list,
    list_images,
    load_image_rgb,
)

BUILTIN_SEASONS = "builtin:seasons"
BUILTIN_LENGTH = {"train": 1000, "test": 100}
# Seed ranges: the two training domains never share a landscape (unpaired training);
# the test split uses a third range in both domains, so A[i] and B[i] are a true pair.
_SEED_BASE = {("train", "A"): 0, ("train", "B"): 1_000_000,
              ("test", "A"): 2_000_000, ("test", "B"): 2_000_000}


class DataError(CycleganError, ValueError):
    """A training or evaluation data source that cannot be used (missing, empty, unreadable)."""




def _layout(split: str) -> str:
    """What a folder must hold for `split` (only what that use reads: training needs no
    test folders, evaluation no training folders)."""
    return f"{split} needs DIR/{split}A and DIR/{split}B, each holding images"


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
        raise DataError(f"image_size and load_size must be positive ({image_size}, {load_size})")
    if load_size < image_size:
        raise DataError(f"load_size ({load_size}) must be >= image_size ({image_size})")


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
            raise DataError(f"data folder not found: {self.root} ({_layout(split)})")
        if not self.folder.is_dir():
            raise DataError(f"domain folder not found: {self.folder} ({_layout(split)})")
        self.files = list_images(self.folder)
        if not self.files:
            raise DataError(f"no images ({extension_list()}) in {self.folder} ({_layout(split)})")
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
        raise DataError(f"no readable images in {self.folder}: all {n} files failed ({listing})")

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
        raise DataError(f"domain must be 'A' or 'B', got {domain!r}")
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")


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
            raise DataError(f"unknown built-in dataset {spec!r}; available: {BUILTIN_SEASONS}")
        return SeasonsDataset(domain, split, image_size, load_size, augment, length)
    return FolderDataset(spec, domain, split, image_size, load_size, augment, max_pixels)


def domain_names(spec, names: str | None = None) -> dict[str, str]:
    """Human names of the two domains: `names` ("summer,winter") when given, "summer" and
    "winter" for the built-in data, else "A" and "B". A folder's name is not parsed: "h2z"
    would become "h" and "z"."""
    if names is not None:
        return parse_domains(names)
    if str(spec) == BUILTIN_SEASONS:
        return {"A": "summer", "B": "winter"}
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
