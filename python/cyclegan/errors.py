"""The one base class for problems a user can fix: bad input, a bad file, a bad flag.

Every console command catches `CycleganError` in one place (`cyclegan.cli.common`), prints
its message on one line to stderr and exits with its `exit_code` (2 unless a subclass says
otherwise); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class CycleganError(Exception):
    """A user-facing error: the message says what is wrong and, where it can, what to do."""

    exit_code = 2


class UsageError(CycleganError):
    """Flags or paths that cannot work together."""


class TrainError(CycleganError):
    """A training run that cannot start or continue (bad flags, data, run folder, resume)."""


class QuantizeError(CycleganError):
    """The model or the calibration photos cannot make an int8 model; nothing was written."""


class QualityGateError(QuantizeError):
    """The int8 model is too far from fp32 on the held-back photos; nothing was written."""

    exit_code = 1


class NonFiniteLossError(TrainError):
    """Training diverged (NaN or inf loss); nothing was saved after it."""

    exit_code = 1


def first_line(exc: BaseException, default: str | None = None) -> str:
    """An exception's message cut to its first line, for one-line errors (default: its
    type name when the message is empty)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else (type(exc).__name__ if default is None else default)
