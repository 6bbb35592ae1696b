"""Where a run reads and writes: local paths, or URIs, behind one small interface.

The run controller (cyclegan.infer.controller) plans with these operations and never asks
which kind it has. Local paths follow symlinked folders (images.list_images) and compare
files by device and inode, so one file under two spellings is one file. URIs
(cyclegan.infer.storage: s3://, gs://, file://, fsspec's) are '/'-separated strings, since
object stores have no folders, only keys; they compare by filesystem and path, and a
folder's files and times come from one listing, not a request per file. A run whose INPUT
or OUTPUT is a URI treats both through storage (a local path there too).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from cyclegan.images import IMAGE_EXTENSIONS, list_images
from cyclegan.infer import storage
from cyclegan.infer.video import VIDEO_SUFFIXES

Place = Path | str  # a local path, or a URI (str)


def places_for(*texts) -> type[LocalPlaces] | type[UriPlaces]:
    """The operations for a run between these places (input, output)."""
    return UriPlaces if any(storage.is_uri(t) for t in texts) else LocalPlaces


def spelled(places, text) -> Place:
    """`text` in the spelling `places` works with: a Path, or the string as written."""
    return Path(text) if places is LocalPlaces else os.fspath(text)


class LocalPlaces:
    """Local paths: symlinked folders followed, files compared by device and inode."""

    @staticmethod
    def kind(place: Path) -> str:
        return "file" if place.is_file() else "folder" if place.is_dir() else "missing"

    @staticmethod
    def file_id(place: Path):
        try:
            st = os.stat(place)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    @staticmethod
    def child(root: Path, rel: str) -> Path:
        return root / rel

    @staticmethod
    def parent(place: Path) -> Path:
        return place.parent

    @staticmethod
    def relative(root: Path, place: Path) -> str:
        return place.relative_to(root).as_posix()

    @staticmethod
    def images(src: Path, root: Path) -> list[tuple[Path, str]]:
        out = root.resolve()
        nested = src.resolve() in out.parents
        listed = list_images(src, IMAGE_EXTENSIONS | set(VIDEO_SUFFIXES))
        return [(p, p.relative_to(src).as_posix()) for p in listed
                if not (nested and out in p.resolve().parents)]

    @staticmethod
    def modified(root: Path, places: list[Path]) -> list[float | None]:
        def mtime(p: Path) -> float | None:
            try:
                return p.stat().st_mtime
            except OSError:
                return None
        return [mtime(p) for p in places]

    @staticmethod
    def local(place: Path) -> Path:
        return place


class UriPlaces:
    """URIs (and local paths beside them, read through pyarrow's local filesystem): names
    are '/'-separated strings, since object stores have no folders, only keys."""

    @staticmethod
    def kind(place: str) -> str:
        return storage.kind(place)

    @staticmethod
    def file_id(place: str):
        fs, path = storage.resolve(place)
        return type(fs).__name__, path.rstrip("/")

    @staticmethod
    def child(root: str, rel: str) -> str:
        return storage.Place(root).child(rel)

    @staticmethod
    def parent(place: str) -> str:
        text = place.rstrip("/")
        return text.rsplit("/", 1)[0] if "/" in text else "."

    @staticmethod
    def relative(root: str, place: str) -> str:
        return place[len(root.rstrip("/")) + 1:]

    @classmethod
    def images(cls, src: str, root: str) -> list[tuple[str, str]]:
        (kind_i, inner), (kind_o, outer) = cls.file_id(root), cls.file_id(src)
        inner, outer = inner.strip("/"), outer.strip("/")
        nested = inner[len(outer) + 1:] + "/" if (
            kind_i == kind_o and inner.startswith(outer + "/")) else None
        names = [rel for rel in storage.list_files(src)
                 if PurePosixPath(rel).suffix.lower() in IMAGE_EXTENSIONS
                 and not (nested and (rel + "/").startswith(nested))]
        return [(cls.child(src, rel), rel)
                for rel in sorted(names, key=lambda rel: PurePosixPath(rel).parts)]

    @classmethod
    def modified(cls, root: str, places: list[str]) -> list[float | None]:
        times = storage.modified_times(root)  # one listing, not a request per file
        return [times.get(cls.relative(root, p)) for p in places]

    @staticmethod
    def local(place: str) -> Path | None:
        fs, path = storage.resolve(place)
        return Path(path) if storage.is_local(fs) else None
