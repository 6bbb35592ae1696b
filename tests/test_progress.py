import io

import pytest

from cyclegan.progress import Progress, format_duration


class TTY(io.StringIO):
    def isatty(self):
        return True


def test_log_mode_writes_plain_lines_and_a_final_one():
    out = io.StringIO()
    with Progress(10, "train", unit="step", stream=out, interval=3600) as bar:
        for _ in range(10):
            bar.update(1, loss=0.123456)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    # One line at the first update, then throttled, plus the closing line.
    assert len(lines) == 2
    assert lines[-1].startswith("train 100%")
    assert "10/10" in lines[-1] and "loss=0.1235" in lines[-1] and "step/s" in lines[-1]


def test_log_mode_default_interval_is_seconds_not_every_update():
    out = io.StringIO()
    bar = Progress(1000, "x", stream=out)
    for _ in range(1000):
        bar.update()
    bar.close()
    assert len(out.getvalue().splitlines()) <= 3


def test_tty_mode_redraws_one_line():
    out = TTY()
    bar = Progress(4, "eval", stream=out, interval=0)
    for _ in range(4):
        bar.update()
    bar.close()
    text = out.getvalue()
    assert text.count("\r") == 5  # four updates and the final redraw
    assert text.endswith("\n") and text.count("\n") == 1
    assert "4/4" in text.split("\r")[-1]


def test_write_keeps_the_bar_intact():
    out = TTY()
    bar = Progress(4, "eval", stream=out, interval=0)
    bar.update()
    bar.write("warning: something")
    bar.close()
    assert "warning: something\n" in out.getvalue()


def test_disabled_is_silent():
    out = TTY()
    with Progress(3, "x", stream=out, enabled=False) as bar:
        bar.update(3, a=1)
        bar.write("hello")
    assert out.getvalue() == ""


def test_unknown_total_and_initial_offset():
    bar = Progress(None, "scan", unit="img", stream=io.StringIO())
    bar.update(5)
    assert "5 img" in bar.line()
    resumed = Progress(100, "train", stream=io.StringIO(), initial=40)
    assert resumed.n == 40 and "40/100" in resumed.line()
    assert " 40%" in resumed.line()


def test_eta_uses_rate_since_start():
    bar = Progress(100, "t", stream=io.StringIO(), initial=50)
    bar.n = 60
    line = bar.line(now=bar.start + 10.0)  # 10 steps in 10 s -> 40 s left
    assert "[00:10<00:40, 1 it/s]" in line


@pytest.mark.parametrize("seconds, text", [(0, "00:00"), (61.4, "01:01"), (3725, "1:02:05")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
