"""What every console command shares: version flag, exit codes and the one error handler."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import cyclegan
from cyclegan.errors import CycleganError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


def exit_codes(failed: str) -> str:
    """The exit-status paragraph of a command's --help; `failed` says what 1 means there."""
    return (f"exit status: 0 done; 1 {failed}; 2 usage or input error (one line on stderr "
            "naming the file and the problem); 130 interrupted by Ctrl-C, 143 by SIGTERM")


def add_version(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", action="version", version=f"%(prog)s {cyclegan.__version__}")


def run(prog: str, body: Callable[[], int], interrupted: str = "interrupted") -> int:
    """Run a command's body; user errors become one stderr line and their exit status."""
    try:
        return body()
    except CycleganError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # Disk full, permission denied, a vanished folder: the environment, not a bug.
        where = f": {exc.filename}" if exc.filename and str(exc.filename) not in str(exc) else ""
        print(f"{prog}: error: {exc}{where}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
