"""Planning a cyclegan-infer run: which output each input becomes, and what is already done.

Every input under INPUT (recursive, sorted by relative path) maps to the same relative path
and name under OUTPUT, with the extension of its output format (`map_input`, the one place
an input becomes an output: a new kind of input is a branch there). Outputs already there
are skipped; an input whose output name an earlier one has is a failure (compared over the
whole sorted list, so every shard agrees on the owner); an OUTPUT inside INPUT is not read
as input; an output that is an input file is refused. Local paths and URIs are listed,
compared and read through cyclegan.infer.places. The run itself (lock held, summary,
signals) is cyclegan.infer.controller's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cyclegan.errors import UsageError
from cyclegan.fileio import exclusive_lock, probe_writable, remove_stale_temps
from cyclegan.images import FORMATS, IMAGE_EXTENSIONS, extension_list, format_of
from cyclegan.infer import storage, video
from cyclegan.infer.config import InferConfig
from cyclegan.infer.io import KEEP, Job, output_format, output_path
from cyclegan.infer.places import Place, places_for, spelled


def file_format(out: Place, fmt: str) -> str | None:
    """The format of the image file OUTPUT names (a path or a URI), None when its name is
    not an image file's; UsageError for an image type we only read (e.g. .gif) or a name
    that disagrees with --format."""
    name = format_of(out)
    if name is None:
        suffix = PurePosixPath(str(out)).suffix
        if suffix.lower() in IMAGE_EXTENSIONS:
            raise UsageError(f"output {out}: cannot write {suffix} files; name a "
                             f"{', '.join(FORMATS)} file or a folder")
        return None
    if fmt not in (KEEP, name):
        raise UsageError(f"output {out} names a {name} file, but --format is {fmt}")
    return name


def map_input(rel: str, fmt: str) -> tuple[str, str]:
    """(output name relative to OUTPUT, its FORMATS name) of the input at `rel` under INPUT:
    the one rule for output names and formats, for both engines."""
    path = PurePosixPath(rel)
    if video.is_video(path):
        return str(video.output_name(path)), video.FORMAT
    return str(output_path(path, path, PurePosixPath(), fmt)), output_format(path, fmt)


@dataclass
class Plan:
    input: Place
    out_root: Place
    jobs: list[Job]  # to translate: src, dst (Path or URI), output format
    skipped: list[tuple[Place, Place]]  # (src, dst) already done
    failures: list[tuple[Place, str]]  # inputs that cannot be translated (collisions)
    places: type  # LocalPlaces or UriPlaces: how this plan's places are listed and read


def _single_output(side, src: Place, out: Place, fmt: str) -> str | None:
    """The output format when one image goes to an image file name; None: OUTPUT is a
    folder."""
    if side.kind(src) != "file" or side.kind(out) == "folder":
        return None
    if video.is_video(src):
        return video.FORMAT if video.is_video(out) else None
    return file_format(out, fmt)


def _inputs(side, src: Place, root: Place) -> list[tuple[Place, str]]:
    """(input, its path relative to INPUT) for every image under INPUT."""
    kind = side.kind(src)
    if kind == "missing":
        raise UsageError(f"input not found: {src}")
    if kind == "file":
        return [(src, PurePosixPath(str(src).rstrip("/")).name)]
    if side.file_id(src) == side.file_id(root):
        raise UsageError(f"output folder {root} is the input folder {src}: outputs would "
                         "replace the inputs; choose another output folder")
    items = side.images(src, root)
    if not items:
        raise UsageError(f"no images found under {src} (extensions read: "
                         f"{extension_list()}; videos: {' '.join(video.VIDEO_SUFFIXES)})")
    return items


def collision(dst: Place, owner: Place, fmt: str) -> str:
    """The failure of an input whose output name an earlier input already has."""
    hint = "rename one of them" if fmt == KEEP else "use --format keep"
    return f"output {dst} would also be written from {owner} ({hint})"


def lock_path(out_root: Path, shard: tuple[int, int]) -> Path:
    i, n = shard
    return out_root / (".cyclegan-infer.lock" if n == 1 else
                       f".cyclegan-infer.shard-{i}-of-{n}.lock")


def prepare_output(side, root: Place, shard: tuple[int, int],
                   stack: contextlib.ExitStack) -> None:
    """Create the output folder, prove it writable and lock it (per shard, until `stack`
    closes: two runs on one folder would delete each other's failures file and race on
    outputs), before any work. On object storage there is nothing to create or lock; the
    bucket must be there."""
    folder = side.local(root)
    if folder is None:
        storage.make_folder(root)
        return
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output {root} exists and is not a folder")
    try:
        probe_writable(folder)
    except OSError as exc:
        raise UsageError(f"output folder {root} is not writable: "
                         f"{exc.strerror or exc}") from None
    stack.enter_context(exclusive_lock(lock_path(folder, shard),
                                       f"running cyclegan-infer into {root}"))


def plan(cfg: InferConfig, stack: contextlib.ExitStack) -> Plan:
    """This shard's jobs for cfg.input -> cfg.output (UsageError before any work on a bad
    setup); the output folder stays locked until `stack` closes."""
    side = places_for(cfg.input, cfg.output)
    src, out = spelled(side, cfg.input), spelled(side, cfg.output)
    single = _single_output(side, src, out, cfg.format)
    root = side.parent(out) if single else out
    items = _inputs(side, src, root)
    prepare_output(side, root, cfg.shard, stack)
    i, n = cfg.shard
    mine = [k % n == i for k in range(len(items))]
    inputs = {side.file_id(s) for (s, _), m in zip(items, mine) if m}
    owner: dict[Place, Place] = {}
    todo, failures = [], []
    for (s, rel), m in zip(items, mine):
        name, fmt = (PurePosixPath(str(out)).name, single) if single else \
            map_input(rel, cfg.format)
        dst = side.child(root, name)
        if dst in owner:
            if m:
                failures.append((s, collision(dst, owner[dst], cfg.format)))
            continue
        owner[dst] = s
        if not m:
            continue
        if side.file_id(dst) in inputs:
            raise UsageError(f"output {dst} is an input file: writing it would destroy the "
                             "input; choose another output")
        todo.append(Job(s, dst, fmt))
    done = [False] * len(todo) if cfg.overwrite else \
        [t is not None for t in side.modified(root, [j.dst for j in todo])]
    return Plan(src, root, [j for j, d in zip(todo, done) if not d],
                [(j.src, j.dst) for j, d in zip(todo, done) if d], failures, side)


def remove_temps_of_dead_runs(places: list[Place], side) -> int:
    """Temp files a killed writer left in the local folders of `places`; returns the count."""
    folders = {p.parent for p in map(side.local, places) if p is not None}
    return sum(remove_stale_temps(folder) for folder in sorted(folders))
