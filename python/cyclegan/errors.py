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
