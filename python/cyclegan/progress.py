"""A small progress bar: one refreshing line on a terminal, sparse plain lines in logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO

TTY_INTERVAL = 0.1
LOG_INTERVAL = 5.0
BAR_WIDTH = 20


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _format_value(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class Progress:
    """Progress(total, desc, unit="it", enabled=True); .update(n=1, **postfix); .close().

    On a TTY the line is redrawn at most every 0.1 s; otherwise (CI logs, files) a plain
    line is written at most every 5 s, plus one when closed. `enabled=False` is silent.
    """

    def __init__(self, total: int | None, desc: str, unit: str = "it", enabled: bool = True,
                 stream: TextIO | None = None, interval: float | None = None,
                 initial: int = 0):
        self.total = total
        self.desc = desc
        self.unit = unit
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.interval = interval if interval is not None else (
            TTY_INTERVAL if self.tty else LOG_INTERVAL)
        self.n = self.initial = initial
        self.postfix: dict[str, object] = {}
        self.start = time.monotonic()
        self._last_draw = -float("inf")
        self._last_len = 0
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1, **postfix: object) -> None:
        self.n += n
        self.postfix.update(postfix)
        now = time.monotonic()
        if now - self._last_draw >= self.interval:
            self._draw(now)

    def write(self, message: str) -> None:
        """Print a message without garbling the bar."""
        if not self.enabled:
            return
        if self.tty and self._last_len:
            self.stream.write("\r" + " " * self._last_len + "\r")
        self.stream.write(message.rstrip("\n") + "\n")
        if self.tty and self._last_len:
            self._draw(time.monotonic())
        self.stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._draw(time.monotonic())
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = (time.monotonic() if now is None else now) - self.start
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        parts = [self.desc] if self.desc else []
        if self.total:
            frac = min(1.0, self.n / self.total)
            filled = int(frac * BAR_WIDTH)
            parts.append(f"{frac:4.0%} |{'#' * filled}{'.' * (BAR_WIDTH - filled)}| "
                         f"{self.n}/{self.total}")
        else:
            parts.append(f"{self.n} {self.unit}")
        timing = f"[{format_duration(elapsed)}"
        if self.total and rate > 0:
            timing += f"<{format_duration(max(0, self.total - self.n) / rate)}"
        rate_text = f"{rate:,.0f}" if rate >= 1000 else f"{rate:.3g}"
        parts.append(f"{timing}, {rate_text} {self.unit}/s]")
        if self.postfix:
            parts.append(" ".join(f"{k}={_format_value(v)}" for k, v in self.postfix.items()))
        return " ".join(parts)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        if not self.enabled:
            return
        text = self.line(now)
        if self.tty:
            pad = max(0, self._last_len - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._last_len = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
