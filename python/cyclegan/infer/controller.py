"""What a cyclegan-infer *run* is, for every engine: plan, lock, skip, stop, summarize.

    open_run(cfg) -> Run: defaults filled in, every input mapped to its output (local paths
                   and URIs alike), finished outputs skipped, the output folder created,
                   proved writable and locked, the model checked, the plan logged
    engine:        translates run.jobs, counting each result (summary.count) inside
                   run.stopping() (the first Ctrl-C or SIGTERM asks it to stop)
    run.finish():  temp files of dead writers removed, the failures file, the contact sheet

The in-process engine (cyclegan.infer.inprocess) and the Ray engine
(cyclegan.infer.ray_engine) both drive a Run; each decides only where the work runs.

Planning (inputs to outputs, skips, collisions) is cyclegan.infer.planning's.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cyclegan.grids import contact_sheet
from cyclegan.images import (
    DEPTH_NOTE,
    ImageError,
)
from cyclegan.infer import bundled, storage, video
from cyclegan.infer.config import DEFAULT_OUTPUT, InferConfig
from cyclegan.infer.failures import failures_name, failures_tsv
from cyclegan.infer.io import Job
from cyclegan.infer.options import video_options, work_size
from cyclegan.infer.places import Place
from cyclegan.infer.planning import Plan, plan, remove_temps_of_dead_runs
from cyclegan.infer.runtime import OrtGenerator, load_model
from cyclegan.progress import Progress
from cyclegan.stopping import StopRequest

CONTACT_SHEET = "contact_sheet.png"
SHEET_ROWS = 16  # input | output pairs on the contact sheet (the title counts the rest)


@dataclass
class Summary:
    output: Place
    planned: int = 0
    finished: int = 0  # jobs that got a result, success or failure
    translated: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0  # all of the run's translating, videos included
    clips: int = 0  # of the translated inputs, videos
    frames: int = 0  # their frames
    video_seconds: float = 0.0  # the part of seconds spent on videos
    interrupted: int | None = None  # the signal that stopped the run
    failures: list[tuple[Place, str]] = field(default_factory=list)
    failures_file: Place | None = None
    contact_sheet: Place | None = None
    model: str = ""  # what ran: file, precision, device
    deeper: int = 0  # translated inputs with more than 8 bits per channel (DEPTH_NOTE)

    def count(self, src: Place, error: str | None, bits: int = 8,
              frames: int | None = None) -> None:
        """One job's result: translated (error None) or failed; bits: per channel in the
        input; frames: a translated video's (None for an image)."""
        self.finished += 1
        if error is None:
            self.translated += 1
            self.deeper += bits > 8
            if frames is not None:
                self.clips += 1
                self.frames += frames
        else:
            self.failures.append((src, error))

    def rates(self) -> str:
        """Images per second over the images' time and, for videos, frames per second over
        theirs: a clip is hundreds of frames, so one rate over both would mean neither."""
        def per_s(n: int, seconds: float) -> str:
            return f"{n / seconds if seconds > 0 else 0.0:.3g}"
        images = self.translated - self.clips
        parts = []
        if images or not self.clips:
            parts.append(f"{per_s(images, self.seconds - self.video_seconds)} images/s")
        if self.clips:
            parts.append(f"{self.frames} frames of {self.clips} video(s) at "
                         f"{per_s(self.frames, self.video_seconds)} frames/s")
        return "; ".join(parts)

    @property
    def exit_code(self) -> int:
        if self.interrupted is not None:
            return 128 + self.interrupted
        return 1 if self.failed else 0

    def report(self) -> str:
        where = _shown(self.output)
        lines = [f"translated {self.translated}, skipped {self.skipped} (already done), "
                 f"failed {self.failed} in {self.seconds:.1f} s ({self.rates()}); "
                 f"output in {where}"]
        if self.model:
            lines.append(f"model: {self.model}")
        if self.deeper:
            lines.append(f"{self.deeper} input(s) had more than 8 bits per channel; "
                         f"{DEPTH_NOTE}")
        if self.interrupted is not None:
            left = self.planned - self.finished
            lines.append(f"interrupted by {signal.Signals(self.interrupted).name}: {left} of "
                         f"{self.planned} images not done; run the same command again to "
                         "finish (finished images are skipped)")
        if self.failures_file:
            lines.append(f"failures listed in {self.failures_file}")
        if self.contact_sheet:
            lines.append(f"contact sheet (input | output): {_shown(self.contact_sheet)}")
        return "\n".join(lines)


def _shown(place: Place) -> str:
    return place if isinstance(place, str) else str(place.resolve())


def with_defaults(cfg: InferConfig) -> InferConfig:
    """No INPUT: the bundled samples into ./cyclegan-output with a contact sheet.
    No --model: the default bundled generator; a bare name: that bundled generator.
    Every value checked (UsageError naming the flag)."""
    cfg = cfg.checked()
    if cfg.input is None:
        cfg.input, cfg.contact_sheet = bundled.SAMPLES, True
        if cfg.model is None:
            cfg.model = bundled.DEMO_MODEL
    if cfg.output is None:
        cfg.output = DEFAULT_OUTPUT
    cfg.model = bundled.resolve_model(cfg.model)
    return cfg


def output_done(modified: float | None, overwrite: bool, started: float) -> bool:
    """Whether an output (modified at `modified`, None: not there) counts as finished: it is
    there, and with --overwrite it was written by this run (started at `started`, whole
    seconds: object stores keep no finer time)."""
    return modified is not None and not (overwrite and modified < started)


# The run.


@dataclass
class Run:
    cfg: InferConfig
    plan: Plan
    model: OrtGenerator  # as the driver loaded it (an engine may run it elsewhere)
    summary: Summary
    warn: object
    started: float = field(default_factory=lambda: float(int(time.time())))

    @property
    def jobs(self) -> list[Job]:
        return self.plan.jobs

    @property
    def images(self) -> list[Job]:
        return [j for j in self.plan.jobs if j.format != video.FORMAT]

    @property
    def clips(self) -> list[Job]:
        """Videos: each with a progress bar of its own, in frames."""
        return [j for j in self.plan.jobs if j.format == video.FORMAT]

    def progress(self) -> Progress:
        images = len(self.images)
        return Progress(images, "cyclegan-infer", unit="img",
                        enabled=not self.cfg.quiet and bool(images))

    @contextlib.contextmanager
    def stopping(self, stop):
        """While inside, the first SIGINT or SIGTERM is noted in the summary and calls
        `stop()` (the engine winds down, or raises out of a wait); a second one aborts."""
        def on_signal(name: str) -> None:
            self.summary.interrupted = signal.Signals[name]
            self.warn(f"\n{name}: stopping; finishing writes in progress (press Ctrl-C "
                      "again to abort at once)")
            stop()

        with StopRequest(on_signal):
            yield

    def count_outputs(self) -> int:
        """After an interrupt, for an engine that learns of results late (in batches):
        count as translated what is on disk now, not what was reported; returns it."""
        s, side = self.summary, self.plan.places
        times = side.modified(self.plan.out_root, [j.dst for j in self.jobs])
        done = sum(output_done(t, self.cfg.overwrite, self.started) for t in times)
        s.finished += done - s.translated
        s.translated = done
        return done

    def finish(self) -> None:
        """Temp files of writers killed mid-write, the failures file (or removing a stale
        one) and the contact sheet."""
        s, p = self.summary, self.plan
        s.failed = len(s.failures)
        remove_temps_of_dead_runs([j.dst for j in p.jobs], p.places)
        fail_file = p.places.child(p.out_root, failures_name(self.cfg.shard))
        if s.failures:
            storage.write_bytes(fail_file, failures_tsv(s.failures))
            s.failures_file = fail_file
        elif s.interrupted is None:
            storage.remove(fail_file)  # left by an earlier run whose failures are now fixed
        if self.cfg.contact_sheet and s.interrupted is None:
            self._contact_sheet()

    def _contact_sheet(self) -> None:
        p, side = self.plan, self.plan.places
        done = sorted(p.skipped + [(j.src, j.dst) for j in p.jobs],
                      key=lambda d: PurePosixPath(str(d[0])).parts)  # the input list's order
        # An input named like the sheet has its translation there: the sheet takes another
        # name.
        outputs, n = {str(d) for _, d in done}, 2
        sheet = side.child(p.out_root, CONTACT_SHEET)
        while str(sheet) in outputs:
            sheet, n = side.child(p.out_root, f"{Path(CONTACT_SHEET).stem}-{n}.png"), n + 1
        single = side.kind(p.input) == "file"
        times = side.modified(p.out_root, [d for _, d in done])
        rows = [(s, d, PurePosixPath(str(s)).name if single else side.relative(p.input, s))
                for (s, d), t in zip(done, times) if t is not None and not video.is_video(d)]
        title = f"input | output    {self.model.describe()}"
        try:
            with tempfile.TemporaryDirectory(prefix="cyclegan-sheet-") as scratch:
                # Only the rows the sheet shows are read: those on object storage are
                # downloaded for it.
                shown = [(self._readable(s, Path(scratch, str(k), "in")),
                          self._readable(d, Path(scratch, str(k), "out")), label)
                         for k, (s, d, label) in enumerate(rows[:SHEET_ROWS])]
                if shown:
                    staged = Path(scratch) / CONTACT_SHEET
                    contact_sheet(shown + rows[SHEET_ROWS:], staged, title,
                                  max_pairs=SHEET_ROWS)
                    storage.write_bytes(sheet, staged.read_bytes())
                    self.summary.contact_sheet = sheet
        except (ImageError, OSError, storage.StorageError) as exc:
            self.warn(f"warning: contact sheet not written: {exc}")

    def _readable(self, place: Place, scratch: Path) -> Path:
        """A local file with `place`'s contents: itself, or a copy in `scratch`."""
        path = self.plan.places.local(place)
        if path is not None:
            return path
        copy = scratch / PurePosixPath(place).name
        copy.parent.mkdir(parents=True)
        copy.write_bytes(storage.read_bytes(place))
        return copy


def open_run(cfg: InferConfig, stack: contextlib.ExitStack, log, warn,
             device: str, threads: int | None) -> Run:
    """Everything before the first image is translated (UsageError on a bad setup), with
    the model loaded on `device` with `threads` to check it; the plan is logged."""
    cfg = with_defaults(cfg)
    p = plan(cfg, stack)
    model = load_model(cfg.model, cfg.direction, device, threads, log,
                       precision=cfg.precision, warn=warn)
    clips = [j for j in p.jobs if j.format == video.FORMAT]
    if clips and p.places.kind(p.input) == "file":
        video.require_av()  # one clip: a usage error; a folder's clips become failure rows
    for job in clips:
        video.check_options(job.dst, video_options(cfg, model, threading.Event()))
    output = cfg.output if storage.is_uri(cfg.output) else Path(cfg.output)
    summary = Summary(output, planned=len(p.jobs), skipped=len(p.skipped),
                      failures=list(p.failures), model=model.describe())
    removed = remove_temps_of_dead_runs([j.dst for j in p.jobs] + [d for _, d in p.skipped],
                                        p.places)
    if model.device == "cpu" and model.meta.get("precision") == "fp16":
        warn("warning: an fp16 model runs slower on the CPU than its fp32 version")
    if not cfg.quiet:
        log(f"model: {model.describe()}")
        work = work_size(cfg, model)
        log("scale: every photo at its own size (--work-size native)" if work is None else
            f"scale: photos with a shorter side over {work} px are translated at {work} px "
            "(--work-size)")
        i, n = cfg.shard
        shard = f" (shard {i}/{n})" if n > 1 else ""
        count = len(p.jobs) + len(p.skipped) + len(p.failures)
        log(f"{count} images{shard}: {len(p.jobs)} to translate, {len(p.skipped)} already "
            "done" + (f"; removed {removed} temp files of an interrupted run" if removed
                      else ""))
    return Run(cfg, p, model, summary, warn)
