"""What every console command shares: version flag, exit codes and the one error handler."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

import cyclegan
from cyclegan.errors import CycleganError
from cyclegan.fileio import remove_own_temps
from cyclegan.stopping import SIGNALS, Terminated, signals_raise

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
(_, EXIT_INTERRUPTED), (_, EXIT_TERMINATED) = SIGNALS[signal.SIGINT], SIGNALS[signal.SIGTERM]


def exit_codes(failed: str) -> str:
    """The exit-status paragraph of a command's --help; `failed` says what 1 means there."""
    return (f"exit status: 0 done; 1 {failed}; 2 usage or input error (one line on stderr "
            "naming the file and the problem); 130 interrupted by Ctrl-C, 143 by SIGTERM")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """Appends "(default: X)" unless there is no meaningful default or the help has one;
    keeps the paragraphs of descriptions and epilogs."""

    def _get_help_string(self, action):
        # Switches (nargs 0) have no value to show; --no-fused's default is fused=True.
        if action.default is None or action.nargs == 0 or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)

    def _fill_text(self, text, width, indent):
        return "\n\n".join(argparse.HelpFormatter._fill_text(self, t, width, indent)
                           for t in text.split("\n\n"))


def add_version(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", action="version", version=f"%(prog)s {cyclegan.__version__}")


def run(prog: str, body: Callable[[], int], interrupted: str = "interrupted") -> int:
    """Run a command's body; user errors become one stderr line and their exit status.
    Ctrl-C and SIGTERM unwind the body (cyclegan.stopping), so its temporary files and
    folders are removed, and end in one line saying `interrupted` and 130 / 143."""
    with signals_raise() as received:
        try:
            code = body()
        except BaseException as exc:
            received.mute()
            code = _stopped(prog, exc, received.signum, interrupted)
            if code is None:
                raise
            return code
        # A signal that library code caught (and carried on from) still stops the command.
        received.mute()
        return _stopped(prog, None, received.signum, interrupted) or code


def _stopped(prog: str, exc: BaseException | None, signum: int | None,
             interrupted: str) -> int | None:
    """The exit status for `exc` (None: a bug, whose traceback stays) or for a signal
    noted on the way, printing the one line."""
    if isinstance(exc, Terminated):
        signum = signal.SIGTERM
    elif isinstance(exc, KeyboardInterrupt):
        signum = signal.SIGINT
    if signum is not None:
        remove_own_temps()  # writes other threads had under way
        name, code = SIGNALS[signum]
        print(f"{prog}: {name}: {interrupted}", file=sys.stderr)
        return code
    if isinstance(exc, CycleganError):
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, OSError):
        # Disk full, permission denied, a vanished folder: the environment, not a bug.
        where = f": {exc.filename}" if exc.filename and str(exc.filename) not in str(exc) else ""
        print(f"{prog}: error: {exc}{where}", file=sys.stderr)
        return EXIT_USAGE
    return None
