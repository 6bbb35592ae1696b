"""Graceful stops: SIGINT / SIGTERM finish the current step, checkpoint, and exit.

The first signal only sets a flag that the loop reads between steps (so the checkpoint holds
a whole step); it also restores the default handlers, so a second Ctrl-C aborts at once.
DataLoader workers ignore both signals: only the main process decides when to stop, and a
worker killed by the terminal's Ctrl-C cannot break the final checkpoint.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = {signal.SIGINT: ("SIGINT", 130), signal.SIGTERM: ("SIGTERM", 143)}


class StopRequest:
    """Context manager; `.signal` is None, or the name of the signal that asked to stop."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self.exit_code = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def _handle(self, signum: int, frame) -> None:
        self.signal, self.exit_code = SIGNALS[signum]
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def ignore_in_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: leave SIGINT / SIGTERM to the main process."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
