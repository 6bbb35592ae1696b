"""Which precision of a generator cyclegan-infer runs: --precision and the files beside the model.

Variants are found by name (cyclegan.contract.variant_path: G_A2B.onnx, G_A2B.fp16.onnx,
G_A2B.int8.onnx in one folder), so choosing never opens a model. `auto` takes the variant
that is fastest on the device when it is there: int8 on a CPU (about 2x fp32 for a full-size
generator, docs/benchmarks.md) and fp16 on CUDA (int8 QDQ has no speed-up there in
onnxruntime's CUDA provider, and fp16 halves the memory traffic); a file the user names as
a variant is taken as given.
"""

from __future__ import annotations

from pathlib import Path

from cyclegan.contract import PRECISIONS, variant_path
from cyclegan.errors import UsageError

CHOICES = ("auto", *PRECISIONS)
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


def choose(path: Path, precision: str, device: str) -> Path:
    """The file to load for `path` at `precision` ('auto' or one of PRECISIONS) on
    `device` ('cpu' or 'cuda'); PrecisionError when an asked-for variant is missing."""
    check(precision)
    given = precision_of(path)
    if precision == "auto":
        if given != "fp32":
            return path
        fastest = variant_path(path, FASTEST[device])
        return fastest if fastest.is_file() else path
    if precision == given:
        return path
    wanted = variant_path(path, precision)
    if not wanted.is_file():
        # int8 is made from the fp32 file; fp32 and fp16 come from the training checkpoint.
        source = variant_path(path, "fp32") if precision == "int8" else "CHECKPOINT"
        raise PrecisionError(
            f"--precision {precision}: {wanted.name} not found beside {path.name}; make it "
            f"with cyclegan-export {source} --out {path.parent} "
            f"{HOW_TO_MAKE.get(precision, '')}".rstrip())
    return wanted


def available(path: Path) -> list[str]:
    """The precisions present for generator `path` (itself included when it exists)."""
    return [p for p in PRECISIONS if variant_path(path, p).is_file()]
