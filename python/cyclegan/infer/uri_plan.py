"""Planning a run whose input or output is a URI (s3://, gs://, file://, ...).

The rules are cyclegan.infer.plan's for local folders, on any filesystem that
cyclegan.infer.storage opens: every image under INPUT (recursive, sorted by relative path)
maps to the same relative path and name under OUTPUT (cyclegan.infer.io.output_path);
outputs already there are skipped (one listing of OUTPUT, not a request per file); an input
whose output name an earlier one has is a failure; an OUTPUT inside INPUT is not read as
input. Names are '/'-separated strings here: object stores have no folders, only keys.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cyclegan.errors import UsageError
from cyclegan.fileio import exclusive_lock
from cyclegan.images import IMAGE_EXTENSIONS, extension_list
from cyclegan.infer import storage
from cyclegan.infer.io import output_path
from cyclegan.infer.plan import collision, file_format, lock_path, prepare_output


@dataclass
class UriPlan:
    out_root: storage.Place
    rows: list[tuple[str, str]] = field(default_factory=list)  # (src, dst) to translate
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def _name(text: str) -> str:
    return text.rstrip("/").rsplit("/", 1)[-1]


def _parent(text: str) -> str:
    text = text.rstrip("/")
    return text.rsplit("/", 1)[0] if "/" in text else "."


def _same_place(a: str, b: str) -> bool:
    fa, pa = storage.resolve(a)
    fb, pb = storage.resolve(b)
    return type(fa) is type(fb) and pa.rstrip("/") == pb.rstrip("/")


def _inside(inner: str, outer: str) -> str | None:
    """`inner`'s path relative to `outer` when it lies below it (same filesystem), else None."""
    fi, pi = storage.resolve(inner)
    fo, po = storage.resolve(outer)
    if type(fi) is not type(fo):
        return None
    pi, po = pi.strip("/"), po.strip("/")
    return pi[len(po) + 1:] if pi.startswith(po + "/") else None


def _inputs(src: str, out_root: str) -> list[str]:
    """Relative names of the images under folder `src`, sorted like list_images."""
    nested = _inside(out_root, src)
    names = [rel for rel in storage.list_files(src)
             if PurePosixPath(rel).suffix.lower() in IMAGE_EXTENSIONS
             and not (nested and (rel + "/").startswith(nested + "/"))]
    return sorted(names, key=lambda rel: PurePosixPath(rel).parts)


def _single_output(src: str, out: str, fmt: str) -> bool:
    """A single input image written to the image file OUTPUT names (not a folder)."""
    if storage.kind(out) == "folder":
        return False
    return file_format(out, fmt) is not None


def plan_uris(src: str, out: str, fmt: str, overwrite: bool,
              stack: contextlib.ExitStack) -> UriPlan:
    """Every input of `src` with its output under `out`; UsageError before any work on a
    bad setup. A local output folder is created, checked and locked (until `stack` closes),
    as cyclegan.infer.plan does; on object storage there is nothing to create or lock."""
    kind = storage.kind(src)
    if kind == "missing":
        raise UsageError(f"input not found: {src}")
    single = kind == "file" and _single_output(src, out, fmt)
    root = _parent(out) if single else out
    if kind == "file":
        if PurePosixPath(src).suffix.lower() not in IMAGE_EXTENSIONS:
            raise UsageError(f"input {src} is not an image file")
        items = [(src, _name(src))]
    else:
        if _same_place(src, root):
            raise UsageError(f"output folder {out} is the input folder {src}: outputs would "
                             "replace the inputs; choose another output folder")
        items = [(storage.Place(src).child(rel), rel) for rel in _inputs(src, root)]
    if not items:
        raise UsageError(f"no images found under {src} (extensions read: "
                         f"{extension_list()})")
    if storage.is_uri(root):
        storage.make_folder(root)
    else:
        prepare_output(Path(root))
        stack.enter_context(exclusive_lock(lock_path(Path(root), (0, 1)),
                                           f"running cyclegan-infer into {root}"))
    plan = UriPlan(storage.Place(root))
    existing = set() if overwrite else set(storage.list_files(root))
    owner: dict[str, str] = {}
    for path, rel in items:
        name = _name(out) if single else str(
            output_path(PurePosixPath(rel), PurePosixPath(rel), PurePosixPath(), fmt))
        dst = plan.out_root.child(name)
        if dst in owner:
            plan.failures.append((path, collision(dst, owner[dst], fmt)))
            continue
        owner[dst] = path
        if _same_place(path, dst):
            raise UsageError(f"output {dst} is an input file: writing it would destroy the "
                             "input; choose another output")
        if name in existing:
            plan.skipped += 1
        else:
            plan.rows.append((path, dst))
    return plan
