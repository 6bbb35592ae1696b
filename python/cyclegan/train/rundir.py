"""The run directory's files, written atomically: config.json, log.jsonl, checkpoints/ and
samples/ (their layout is `cyclegan.runlayout`'s)."""

from __future__ import annotations

import json
from pathlib import Path

from cyclegan.errors import TrainError
from cyclegan.fileio import atomic_write_bytes, probe_writable, remove_stale_temps
from cyclegan.runlayout import health_path, latest_checkpoint, log_path


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


def prepare(run: Path, resume: bool) -> bool:
    """Create the run folders and prove they are writable, before any training starts.
    Returns whether the run folder itself was created here (see `discard`)."""
    if run.exists() and not run.is_dir():
        raise TrainError(f"--out {run} exists and is not a directory")
    if not resume and latest_checkpoint(run).exists():
        raise TrainError(f"--out {run} already holds a run; continue it with --resume {run} "
                         "or choose another --out")
    created = not run.exists()
    try:
        for sub in ("checkpoints", "samples"):
            probe_writable(run / sub)
    except OSError as exc:
        raise TrainError(f"--out {run} is not writable: {exc.strerror or exc}") from exc
    # A process killed while checkpointing leaves its temp file (as large as a checkpoint).
    for folder in (run, run / "checkpoints", run / "samples"):
        remove_stale_temps(folder)
    return created


def discard(run: Path) -> None:
    """Remove a run folder that `prepare` created, if nothing was saved in it yet (a run
    that failed while building its networks leaves no empty folder behind)."""
    if latest_checkpoint(run).exists():
        return
    for sub in ("checkpoints", "samples"):
        try:
            (run / sub).rmdir()
        except OSError:
            return  # not empty: something of value is there
    try:
        run.rmdir()
    except OSError:
        pass


def truncate_log(run: Path, step: int) -> None:
    """Drop log.jsonl and health.jsonl lines after `step` (the checkpoint a resume starts
    from), so the steps the resumed run repeats are not logged twice; a torn last line goes
    too."""
    for path in (log_path(run), health_path(run)):
        _truncate(path, step)


def _truncate(path: Path, step: int) -> None:
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
