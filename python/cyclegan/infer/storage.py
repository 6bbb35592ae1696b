"""Files where big data lives: local paths, or URIs (s3://, gs://, file://, fsspec protocols).

A URI's filesystem comes from pyarrow (S3, GCS, local, with their usual credentials:
AWS_* or ~/.aws, GOOGLE_APPLICATION_CREDENTIALS, ...; an S3 stand-in through
AWS_ENDPOINT_URL), else from fsspec when its package for the protocol is installed (wrapped
as a pyarrow filesystem, so everything below sees one interface). Only `scheme://authority`
is parsed as a URI; the rest is the file's path as it is, so names with spaces, `?` or `#`
need no escaping.

Writes are atomic per file: on a local disk a temp file then a rename (cyclegan.fileio);
on object storage one upload of the whole object, which readers see whole or not at all
(on S3 one PUT below pyarrow's part size, 10 MB; a larger file is a multipart upload, also
invisible until complete); elsewhere a temp name, then the filesystem's move.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from dataclasses import dataclass

from cyclegan.errors import UsageError, first_line
from cyclegan.fileio import TMP_SUFFIX, atomic_write_bytes

_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/]*)(?P<rest>.*)$")
OBJECT_STORES = ("S3FileSystem", "GcsFileSystem")  # pyarrow's: an upload is atomic there


class StorageError(UsageError):
    """A URI whose filesystem is not available, or an input or output that is not there."""


def is_uri(text: str | os.PathLike) -> bool:
    return _URI.match(os.fspath(text)) is not None


@functools.cache
def _filesystem(scheme: str, authority: str):
    """(pyarrow filesystem, its path of scheme://authority); one per process and authority,
    since making one may ask the server something (an S3 bucket's region)."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    root = f"{scheme}://{authority}" + ("" if authority else "/")  # file:/// is absolute
    try:
        if scheme == "s3":  # small objects then go up in one PUT, not a multipart upload
            return pafs.FileSystem.from_uri(root + "?allow_delayed_open=true")
        return pafs.FileSystem.from_uri(root)
    except pa.ArrowInvalid as exc:
        if "Unrecognized filesystem type" not in str(exc):
            raise StorageError(f"cannot open {root}: {first_line(exc)}") from None
    except OSError as exc:  # S3 asks the bucket's region: no network, no access
        raise StorageError(f"cannot open {root}: {first_line(exc)}") from None
    try:
        import fsspec
    except ImportError:
        raise StorageError(f"{scheme}:// is not a filesystem pyarrow knows; for fsspec's, "
                           f"pip install fsspec and its package for {scheme}") from None
    try:
        fs, path = fsspec.core.url_to_fs(root)
    except (ImportError, ValueError) as exc:
        raise StorageError(f"cannot open {root} with fsspec: {exc}") from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def resolve(text: str | os.PathLike):
    """(pyarrow filesystem, path on it) of a local path or a URI."""
    text = os.fspath(text)
    m = _URI.match(text)
    if m is None:
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem(), os.path.abspath(text)
    fs, base = _filesystem(m["scheme"].lower(), m["authority"])
    rest = m["rest"].strip("/")
    return fs, (f"{base.rstrip('/')}/{rest}" if rest else base)


def is_local(fs) -> bool:
    return type(fs).__name__ == "LocalFileSystem"


@dataclass(frozen=True)
class Place:
    """A folder (or file) named by a local path or a URI; `child` names what is under it in
    the same spelling, so outputs and failures read like the user's own INPUT and OUTPUT."""

    text: str

    def child(self, rel: str) -> str:
        return f"{self.text.rstrip('/')}/{rel}" if rel else self.text


def _relative(base: str, full: str) -> str:
    # fsspec filesystems may add or drop a leading "/"; compare without it.
    b, f = base.strip("/"), full.strip("/")
    return f[len(b):].lstrip("/") if b else f


def kind(text: str) -> str:
    """'file', 'folder' or 'missing'."""
    import pyarrow.fs as pafs

    fs, path = resolve(text)
    info = fs.get_file_info(path)
    return {pafs.FileType.File: "file", pafs.FileType.Directory: "folder"}.get(info.type,
                                                                             "missing")


def modified_times(text: str) -> dict[str, float]:
    """Every file under folder `text`, by its path relative to it (with '/'), with its
    modification time (0.0 where the filesystem keeps none), from one listing; {} for a
    folder that is not there (object stores have no empty folders)."""
    import pyarrow.fs as pafs

    fs, path = resolve(text)
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    return {_relative(path, i.path): i.mtime.timestamp() if i.mtime is not None else 0.0
            for i in infos if i.type == pafs.FileType.File}


def list_files(text: str) -> list[str]:
    """Paths of every file under folder `text`, relative to it (with '/'), unsorted."""
    return list(modified_times(text))


def read_bytes(text: str) -> bytes:
    if not is_uri(text):  # local paths need no pyarrow (it comes with the ray extra)
        with open(text, "rb") as f:
            return f.read()
    fs, path = resolve(text)
    with fs.open_input_stream(path) as f:
        return f.read()


def modified(text: str) -> float | None:
    """The file's modification time (seconds since the epoch), or None if it is not there."""
    if not is_uri(text):
        return os.stat(text).st_mtime if os.path.isfile(text) else None
    import pyarrow.fs as pafs

    fs, path = resolve(text)
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.File:
        return None
    return info.mtime.timestamp() if info.mtime is not None else 0.0


def write_bytes(text: str, data: bytes) -> None:
    """Write one whole file atomically (see the module's note)."""
    if not is_uri(text):
        atomic_write_bytes(text, data)
        return
    fs, path = resolve(text)
    if is_local(fs):
        atomic_write_bytes(path, data)
        return
    if type(fs).__name__ in OBJECT_STORES:  # no folders to make: pyarrow's S3 would PUT
        with fs.open_output_stream(path) as f:  # an empty marker object for each
            f.write(data)
        return
    parent = path.rsplit("/", 1)[0] if "/" in path.strip("/") else ""
    if parent:
        fs.create_dir(parent, recursive=True)
    name = f".{path.rsplit('/', 1)[-1]}.{secrets.token_hex(4)}{TMP_SUFFIX}"
    tmp = f"{parent}/{name}" if parent else name
    try:
        with fs.open_output_stream(tmp) as f:
            f.write(data)
        fs.move(tmp, path)
    except BaseException:
        try:
            fs.delete_file(tmp)
        except OSError:
            pass
        raise


def remove(text: str) -> None:
    """Delete a file if it is there."""
    if not is_uri(text):
        if os.path.isfile(text):
            os.remove(text)
        return
    fs, path = resolve(text)
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass


def make_folder(text: str) -> None:
    """Create a folder and its parents; on object storage, where folders are only key
    prefixes (pyarrow's S3 would PUT a marker object), check that the bucket is there."""
    import pyarrow.fs as pafs

    fs, path = resolve(text)
    if type(fs).__name__ not in OBJECT_STORES:
        fs.create_dir(path, recursive=True)
        return
    bucket = path.strip("/").split("/", 1)[0]
    try:
        missing = fs.get_file_info(bucket).type == pafs.FileType.NotFound
    except OSError as exc:  # no credentials, access denied, no network
        raise StorageError(f"{text}: cannot reach bucket {bucket}: {first_line(exc)}") \
            from None
    if missing:
        raise StorageError(f"{text}: there is no bucket {bucket}")
