"""Which precision of a generator cyclegan-infer runs: --precision and the files beside the model.

Variants are found by name (cyclegan.contract.variant_path: G_A2B.onnx, G_A2B.fp16.onnx,
G_A2B.int8.onnx in one folder) and bound to their fp32 file: each records the digest of the
fp32 graph it was made from (contract.FP32_DIGEST), so a variant left by an earlier export
into the same folder is known to be stale. `auto` takes the variant that is fastest on the
device when it is there and not known to be stale: int8 on a CPU (2-3x fp32 for a
full-size generator, docs/benchmarks.md) and fp16 on CUDA (int8 QDQ has no speed-up there
in onnxruntime's CUDA provider, and fp16 halves the memory traffic); a stale one is passed
over for the fp32 file, with a warning. A variant from an export older than the binding
(no digest recorded) cannot be judged and is taken, as before. A file the user names as a
variant is taken as given.
"""

from __future__ import annotations

from pathlib import Path

from cyclegan.contract import FP32_DIGEST, PRECISIONS, graph_digest, read_metadata, variant_path
from cyclegan.errors import UsageError

AUTO = "auto"  # the fastest variant beside the file for the device (FASTEST)
CHOICES = (AUTO, *PRECISIONS)
FASTEST = {"cpu": "int8", "cuda": "fp16"}
HOW_TO_MAKE = {"fp16": "--fp16", "int8": "--int8 --calibrate PHOTOS/"}


class PrecisionError(UsageError):
    """--precision asks for a variant that is not there."""


def precision_of(path: str | Path) -> str:
    """The precision a generator file's name says it has (fp32 unless it names a variant)."""
    path = Path(path)
    return next((p for p in PRECISIONS if p != "fp32" and variant_path(path, p) == path),
                "fp32")


def check(precision: str) -> None:
    if precision not in CHOICES:
        raise PrecisionError(f"--precision must be one of {', '.join(CHOICES)}, got "
                             f"{precision!r}")


def mismatch(variant: Path, fp32: Path) -> tuple[str, bool] | None:
    """None when `variant` was made from the fp32 file `fp32`; else (why not, whether that
    is certain: False for a variant that records no fp32 file, as older exports wrote)."""
    try:
        recorded = read_metadata(variant).get(FP32_DIGEST)
        actual = graph_digest(fp32) if recorded else None
    except Exception:  # unreadable: loading it would fail with its own message
        return None
    if recorded is None:
        return f"does not record which {fp32.name} it was made from", False
    if recorded != actual:
        return f"was made from another {fp32.name} (an earlier export)", True
    return None


def _remake(variant: Path, precision: str) -> str:
    source = variant_path(variant, "fp32") if precision == "int8" else "CHECKPOINT"
    return (f"cyclegan-export {source} --out {variant.parent} "
            f"{HOW_TO_MAKE.get(precision, '')}").rstrip()


def choose(path: Path, precision: str, device: str, warn=print) -> Path:
    """The file to load for `path` at `precision` ('auto' or one of PRECISIONS) on
    `device` ('cpu' or 'cuda'); PrecisionError when an asked-for variant is missing or
    stale. `auto` passes over a stale variant, saying so through `warn`."""
    check(precision)
    given = precision_of(path)
    if precision == AUTO:
        if given != "fp32":
            return path
        fastest = variant_path(path, FASTEST[device])
        if not fastest.is_file():
            return path
        why, certain = mismatch(fastest, path) or ("", False)
        if certain:
            warn(f"warning: not running {fastest.name}: it {why}; running {path.name} "
                 f"(make it again with {_remake(fastest, FASTEST[device])})")
            return path
        return fastest  # bound to `path`, or from an export too old to say
    if precision == given:
        return path
    wanted = variant_path(path, precision)
    if not wanted.is_file():
        raise PrecisionError(f"--precision {precision}: {wanted.name} not found beside "
                             f"{path.name}; make it with {_remake(wanted, precision)}")
    if precision != "fp32" and (problem := mismatch(wanted, variant_path(path, "fp32"))):
        why, certain = problem
        if certain:
            raise PrecisionError(f"--precision {precision}: {wanted.name} {why}; make it "
                                 f"again with {_remake(wanted, precision)}")
        warn(f"warning: {wanted.name} {why}")
    return wanted


def remove_stale(fp32: Path, log=print, replaced: bool = False) -> list[Path]:
    """Delete the variants beside the fp32 file `fp32` that were made from another fp32
    file; returns them. `replaced`: the caller has just written `fp32`, so a variant that
    records no fp32 file (an export older than the binding) goes too: it predates it.
    Otherwise such a variant is kept, as `choose` keeps running it."""
    removed = []
    for precision in PRECISIONS:
        variant = variant_path(fp32, precision)
        if precision == "fp32" or not variant.is_file():
            continue
        problem = mismatch(variant, fp32)
        if problem and (problem[1] or replaced):
            variant.unlink()
            log(f"removed {variant}: it {problem[0]}")
            removed.append(variant)
    return removed


def available(path: Path) -> list[str]:
    """The precisions present for generator `path` (itself included when it exists)."""
    return [p for p in PRECISIONS if variant_path(path, p).is_file()]
