"""The run directory: config.json, log.jsonl, samples/, checkpoints/ (files written atomically)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from cyclegan.errors import CycleganError
from cyclegan.fileio import atomic_write_bytes, remove_stale_temps

LATEST = "latest.pt"


class TrainError(CycleganError):
    """A problem with the user's input or environment, reported without a traceback."""


class NonFiniteLossError(TrainError):
    """Training diverged (NaN or inf loss); nothing was saved after it."""

    exit_code = 1


def write_json(path: Path, obj: dict) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot read {path}: {exc}") from exc


def append_log(path: Path, record: dict) -> None:
    """One JSON object per line; a single write per record, so lines never interleave."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def latest_checkpoint(run: Path) -> Path:
    return run / "checkpoints" / LATEST


def epoch_checkpoint(run: Path, epoch: int) -> Path:
    return run / "checkpoints" / f"epoch_{epoch:04d}.pt"


def sample_path(run: Path, epoch: int) -> Path:
    return run / "samples" / f"epoch_{epoch:04d}.png"


def prepare(run: Path, resume: bool) -> None:
    """Create the run folders and prove they are writable, before any training starts."""
    if run.exists() and not run.is_dir():
        raise TrainError(f"--out {run} exists and is not a directory")
    if not resume and latest_checkpoint(run).exists():
        raise TrainError(f"--out {run} already holds a run; continue it with --resume {run} "
                         "or choose another --out")
    try:
        for sub in ("checkpoints", "samples"):
            (run / sub).mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=run)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TrainError(f"--out {run} is not writable: {exc.strerror or exc}") from exc
    # A process killed while checkpointing leaves its temp file (as large as a checkpoint).
    for folder in (run, run / "checkpoints", run / "samples"):
        remove_stale_temps(folder)


def truncate_log(run: Path, step: int) -> None:
    """Drop log.jsonl lines after `step` (the checkpoint a resume starts from), so the
    steps the resumed run repeats are not logged twice; a torn last line goes too."""
    path = run / "log.jsonl"
    try:
        lines = path.read_bytes().splitlines(keepends=True)
    except FileNotFoundError:
        return
    keep = 0
    for line in lines:
        try:
            record = json.loads(line)
            if not line.endswith(b"\n") or record["step"] > step:
                break
        except (ValueError, TypeError, KeyError):
            break
        keep += 1
    if keep < len(lines):
        atomic_write_bytes(path, b"".join(lines[:keep]))
