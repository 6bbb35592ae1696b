"""Signals, one mechanism for every command: Ctrl-C (SIGINT) and SIGTERM stop cleanly.

- By default (`cyclegan.cli.common.run`, inside `signals_raise`), SIGTERM raises `Terminated`
  in the main thread, as Ctrl-C raises KeyboardInterrupt: the work unwinds, so `finally`
  blocks, atomic writers and temporary folders (ours and onnxruntime's calibration folders)
  clean up, and the command exits 143 (130 for Ctrl-C) with one line. The signal is also
  noted, because the exception can come out as another one: raised while a C extension
  initializes, it becomes an ImportError.
- Work that has a better place to stop (a training step, the images being written) holds a
  `StopRequest`: the first signal only sets a flag that the work reads, and the handlers
  that were in place are restored at once, so a second signal aborts as above.
DataLoader workers ignore both signals: only the main process decides when to stop, and a
worker killed by the terminal's Ctrl-C cannot break the final checkpoint.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

SIGNALS = {signal.SIGINT: ("SIGINT", 130), signal.SIGTERM: ("SIGTERM", 143)}


class Terminated(BaseException):
    """SIGTERM, raised in the main thread. A BaseException like KeyboardInterrupt, so code
    that catches Exception (to report one bad file and go on) does not swallow it."""

    exit_code = SIGNALS[signal.SIGTERM][1]


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class Received:
    """The signal that `signals_raise` raised for (None: none yet)."""

    signum: int | None = None

    def handle(self, signum: int, frame) -> None:
        self.signum = signum
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    def mute(self) -> None:
        """Ignore further signals: the command is reporting how it ended."""
        if _main_thread():
            for sig in SIGNALS:
                signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def signals_raise() -> Iterator[Received]:
    """While inside, SIGTERM raises Terminated and SIGINT KeyboardInterrupt, and the
    yielded Received notes which came (signal handlers live in the main thread; elsewhere
    nothing changes and nothing is noted)."""
    received = Received()
    if not _main_thread():
        yield received
        return
    previous = {sig: signal.signal(sig, received.handle) for sig in SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class StopRequest:
    """Context manager; `.signum` is None, or the signal that asked to stop (`.signal` its
    name). `on_signal(name)` runs in the handler, e.g. to set an Event other threads watch
    or to say what happens now."""

    def __init__(self, on_signal: Callable[[str], None] | None = None) -> None:
        self.signum: int | None = None
        self._on_signal = on_signal
        self._previous: dict[int, object] = {}

    @property
    def signal(self) -> str | None:
        return None if self.signum is None else SIGNALS[self.signum][0]

    def __enter__(self) -> StopRequest:
        if _main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def _handle(self, signum: int, frame) -> None:
        self.signum = signum
        self._restore()
        if self._on_signal is not None:
            self._on_signal(self.signal)

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def ignore_in_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: leave SIGINT / SIGTERM to the main process."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
