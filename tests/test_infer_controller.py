"""cyclegan.infer.controller: one planner for local paths and URIs, the contact sheet on
any output, what an interrupted run counts, and the signals every engine stops on. No Ray
needed (tests/test_infer_ray.py drives the controller through the Ray engine)."""

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

from cyclegan.errors import UsageError
from cyclegan.infer import InferConfig, storage
from cyclegan.infer.controller import Summary, open_run, output_done
from cyclegan.infer.planning import map_input, plan

MODEL = "demo"


def photos(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    for name in ("a.jpg", "b.PNG", "sub/c.gif", "sub/d e.webp"):
        Image.new("RGB", (16, 12), (40, 120, 200)).save(root / name)
    (root / "notes.txt").write_text("not an image")
    return root


def relative(p, root) -> list[tuple[str, str, str]]:
    """(input, output, format) of every job, relative to the input and output roots."""
    def rel(x, base):
        return str(x)[len(str(base).rstrip("/")) + 1:]
    return [(rel(j.src, p.input), rel(j.dst, root), j.format) for j in p.jobs]


def test_summary_rates_images_and_frames_over_their_own_seconds():
    s = Summary(Path("out"))
    for name in "abc":
        s.count(Path(name), None)
    s.count(Path("clip.mp4"), None, frames=120)
    s.count(Path("bad.mp4"), "cannot read as a video")
    s.seconds, s.video_seconds = 10.0, 4.0  # 6 s on the 3 images, 4 s on the clip
    assert (s.translated, s.clips, s.frames, len(s.failures)) == (4, 1, 120, 1)
    assert "(0.5 images/s; 120 frames of 1 video(s) at 30 frames/s)" in s.report()


@pytest.mark.parametrize("fmt", ["keep", "png"])
def test_paths_and_uris_are_planned_by_one_rule(tmp_path, fmt):
    """The same tree as local paths and as file:// URIs: the same names and formats (the
    Ray rows carry the format the plan chose, not one taken from the name again)."""
    src = photos(tmp_path / "in")
    plans = []
    for spell in (str, lambda p: f"file://{p}"):
        out = spell(tmp_path / f"out-{len(plans)}")
        cfg = InferConfig(input=spell(src), output=out, format=fmt).checked()
        with contextlib.ExitStack() as stack:
            plans.append(relative(plan(cfg, stack), out))
    assert plans[0] == plans[1]
    want = {"keep": [("a.jpg", "a.jpg", "jpg"), ("b.PNG", "b.PNG", "png"),
                     ("sub/c.gif", "sub/c.png", "png"),  # gif is read, not written
                     ("sub/d e.webp", "sub/d e.webp", "webp")],
            "png": [("a.jpg", "a.png", "png"), ("b.PNG", "b.png", "png"),
                    ("sub/c.gif", "sub/c.png", "png"), ("sub/d e.webp", "sub/d e.png", "png")]}
    assert plans[0] == want[fmt]
    assert map_input("x/y.tiff", "keep") == ("x/y.tiff", "tiff")


def test_one_message_for_each_refusal_whatever_the_spelling(tmp_path):
    src = photos(tmp_path / "in")
    for spell in (str, lambda p: f"file://{p}"):
        cases = [(spell(tmp_path / "missing"), spell(tmp_path / "o"), "input not found"),
                 (spell(src), spell(src), "is the input folder"),
                 (spell(src / "a.jpg"), spell(src / "a.jpg"), "is an input file"),
                 (spell(src / "a.jpg"), spell(tmp_path / "x.gif"), "cannot write .gif"),
                 (spell(src / "a.jpg"), spell(tmp_path / "x.png"), "but --format is jpg")]
        for i, o, message in cases:
            cfg = InferConfig(input=i, output=o, format="jpg" if "format" in message
                              else "keep").checked()
            with pytest.raises(UsageError, match=message), contextlib.ExitStack() as stack:
                plan(cfg, stack)


def test_finished_outputs_are_skipped_and_overwrite_redoes_them(tmp_path):
    src = photos(tmp_path / "in")
    (tmp_path / "out").mkdir()
    shutil.copy(src / "a.jpg", tmp_path / "out" / "a.jpg")
    for spell in (str, lambda p: f"file://{p}"):
        for overwrite, skipped in ((False, 1), (True, 0)):
            cfg = InferConfig(input=spell(src), output=spell(tmp_path / "out"),
                              overwrite=overwrite).checked()
            with contextlib.ExitStack() as stack:
                p = plan(cfg, stack)
            assert (len(p.jobs), len(p.skipped)) == (4 - skipped, skipped)


def test_output_done_tells_this_runs_writes_from_older_ones():
    assert not output_done(None, False, 100.0)
    assert output_done(50.0, False, 100.0)
    assert not output_done(99.0, True, 100.0) and output_done(100.0, True, 100.0)


def _write_outputs(job, names) -> None:
    """Stand in for an engine: write the planned outputs of inputs named `names`."""
    for j in job.jobs:
        if Path(str(j.src)).name in names:
            storage.write_bytes(j.dst, storage.read_bytes(j.src))


def test_an_interrupted_run_counts_what_is_on_disk(tmp_path):
    """An engine that learns of results a batch at a time (Ray) may be stopped with outputs
    written whose batch never reported: the summary counts the files."""
    src = photos(tmp_path / "in")
    cfg = InferConfig(input=src, output=tmp_path / "out", model=MODEL, quiet=True)
    with contextlib.ExitStack() as stack:
        job = open_run(cfg, stack, print, print, "cpu", 1)
        _write_outputs(job, {"a.jpg", "d e.webp"})
        job.summary.count(job.jobs[1].src, None)  # reported, and on disk? b.PNG is not
        job.summary.count(job.jobs[2].src, "unreadable")
        job.summary.interrupted = signal.SIGINT
        job.count_outputs()
    s = job.summary
    assert (s.translated, s.finished, s.planned) == (2, 3, 4)
    assert "1 of 4 images not done" in s.report()

    # --overwrite: an output older than the run is not this run's work.
    old = time.time() - 3600
    os.utime(tmp_path / "out" / "a.jpg", (old, old))
    cfg = InferConfig(input=src, output=tmp_path / "out", model=MODEL, quiet=True,
                      overwrite=True)
    with contextlib.ExitStack() as stack:
        job = open_run(cfg, stack, print, print, "cpu", 1)
        job.summary.interrupted = signal.SIGTERM
        job.count_outputs()
    assert job.summary.translated == 1  # d e.webp, written within this second


def test_contact_sheet_on_object_storage(tmp_path):
    """--contact-sheet with an output the sheet cannot be written beside as a local file
    (memory://, as S3): the pairs are read back through storage and the sheet uploaded."""
    fsspec = pytest.importorskip("fsspec")
    src = photos(tmp_path / "in")
    out = "memory://sheets/out"
    try:
        cfg = InferConfig(input=src, output=out, model=MODEL, quiet=True, contact_sheet=True)
        with contextlib.ExitStack() as stack:
            job = open_run(cfg, stack, print, print, "cpu", 1)
            _write_outputs(job, {"a.jpg", "b.PNG", "c.gif"})
            job.finish()
        assert job.summary.contact_sheet == f"{out}/contact_sheet.png"
        local = tmp_path / "sheet.png"
        local.write_bytes(storage.read_bytes(job.summary.contact_sheet))
        with Image.open(local) as sheet:
            assert sheet.width > 2 * 16 and sheet.height > 3 * 12  # three rows of pairs
    finally:
        fsspec.filesystem("memory").rm("/sheets", recursive=True)


def test_first_signal_asks_to_stop_second_aborts(tmp_path):
    src = photos(tmp_path / "in")
    cfg = InferConfig(input=src, output=tmp_path / "out", model=MODEL, quiet=True)
    said, stops = [], []
    with contextlib.ExitStack() as stack:
        job = open_run(cfg, stack, print, said.append, "cpu", 1)
        with pytest.raises(KeyboardInterrupt), job.stopping(lambda: stops.append(1)):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
            assert stops == [1] and job.summary.interrupted == signal.SIGTERM
            os.kill(os.getpid(), signal.SIGINT)  # pytest's handler again: aborts
            time.sleep(5)
    assert job.summary.interrupted == signal.SIGTERM and stops == [1]
    assert any("SIGTERM: stopping" in m for m in said)
