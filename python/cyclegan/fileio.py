"""Atomic file writes: a temp file in the destination folder, fsync, then a rename, so a
reader (or a crash) only ever sees the old file or the complete new one.

Temp files are named `.NAME.PID-HEX.tmp`: the writer's process id lets a later run tell the
leftovers of a killed process (safe to delete) from the files of a live one (never touched).
NAME is shortened when the whole would pass the file system's name limit, so a file whose
own name is at that limit can still be written. The temp files this process has open are
known (`remove_own_temps`), so an aborted command can remove those of its other threads.
A folder two processes must not write at once is guarded by `exclusive_lock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cyclegan.errors import CycleganError

TMP_SUFFIX = ".tmp"
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}" + re.escape(TMP_SUFFIX) + "$")
NAME_MAX = 255  # bytes in one file name: Linux, macOS and Windows file systems alike
_live: set[Path] = set()  # temp files this process is writing now
_live_lock = threading.Lock()


def _shortened(name: str, limit: int) -> str:
    """`name` cut to at most `limit` bytes (as the file system stores it), at a character."""
    if len(os.fsencode(name)) <= limit:
        return name
    out, size = [], 0
    for char in name:
        size += len(os.fsencode(char))
        if size > limit:
            break
        out.append(char)
    return "".join(out)


def temp_path(path: Path) -> Path:
    tail = f".{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}"
    name = _shortened(path.name, NAME_MAX - 1 - len(tail))  # 1: the leading dot
    return path.parent / f".{name}{tail}"


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yields a binary file; on a clean exit it replaces `path`, on an error it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    with _live_lock:
        _live.add(tmp)
    try:
        # os.open with 0o666 honours the umask, unlike mkstemp's 0o600.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        with _live_lock:
            _live.discard(tmp)


def remove_own_temps() -> int:
    """Delete the temp files this process's writers have open (other threads' writes cut
    short by an abort: the process is about to exit); returns the count."""
    with _live_lock:
        paths = list(_live)
    removed = 0
    for tmp in paths:
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed += 1
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_writer(path) as f:
        f.write(data)


def probe_writable(folder: str | os.PathLike) -> None:
    """Create `folder` (and its parents) and prove a file can be created in it; OSError
    otherwise. Commands call this before any work, so that an unwritable output is found
    in the first second, not after an hour."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    probe = temp_path(folder / "write-probe")
    os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    probe.unlink()


def process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_temp(path: Path) -> bool:
    return _TMP_RE.match(path.name) is not None


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete temp files in `folder` (not below it) whose writer process is gone."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if m and not process_alive(int(m["pid"])):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed


class LockedError(CycleganError):
    """Another live process holds the lock."""


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an flock on `path` (holding our PID, removed on exit), or raise LockedError
    saying that another process (its PID) is doing `what`. The kernel drops the lock of a
    killed process, so a crash never leaves the folder locked."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LockedError(f"another process (pid {holder}) is {what}; wait for it to "
                              f"finish (lock file {path})") from None
        # The last holder may have removed the file between our open and flock: then this
        # lock guards nothing, and we try again on the new file.
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
