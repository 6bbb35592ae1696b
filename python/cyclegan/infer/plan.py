"""The batch translation engine behind cyclegan-infer: plan, run, report.

Planning checks everything that can be checked before any work (input, writable output,
model), maps every input to its output (same relative path and name), skips outputs that
exist, and takes this machine's shard. The pipeline (cyclegan.infer.pipeline) does the
work; this module handles signals (cyclegan.stopping), the summary and the failures file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cyclegan.errors import UsageError
from cyclegan.fileio import (
    exclusive_lock,
    probe_writable,
    remove_stale_temps,
)
from cyclegan.images import (
    FORMATS,
    IMAGE_EXTENSIONS,
    ImageError,
    contact_sheet,
    extension_list,
    format_of,
    list_images,
)
from cyclegan.infer import bundled, scale
from cyclegan.infer.config import DEFAULT_OUTPUT, InferConfig
from cyclegan.infer.failures import failures_path, write_failures
from cyclegan.infer.io import KEEP, Job, output_format, output_path
from cyclegan.infer.pipeline import (
    PipelineOptions,
    Result,
    default_batch_size,
    default_workers,
    translate,
)
from cyclegan.infer.runtime import OrtGenerator, cpu_count, load_model
from cyclegan.infer.video import (
    VIDEO_SUFFIXES,
    VideoOptions,
    check_options,
    is_video,
    output_name,
    require_av,
    translate_videos,
)
from cyclegan.progress import Progress
from cyclegan.stopping import StopRequest

CONTACT_SHEET = "contact_sheet.png"


@dataclass
class Summary:
    output: Path | str  # str: a URI (cyclegan.infer.storage)
    planned: int = 0
    finished: int = 0  # jobs that got a result, success or failure
    translated: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: int | None = None  # the signal that stopped the run
    failures: list[tuple[Path, str]] = field(default_factory=list)
    failures_file: Path | None = None
    contact_sheet: Path | None = None
    model: str = ""  # what ran: file, precision, device

    @property
    def images_per_s(self) -> float:
        return self.translated / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        if self.interrupted is not None:
            return 128 + self.interrupted
        return 1 if self.failed else 0

    def report(self) -> str:
        where = self.output if isinstance(self.output, str) else self.output.resolve()  # URI
        lines = [f"translated {self.translated}, skipped {self.skipped} (already done), "
                 f"failed {self.failed} in {self.seconds:.1f} s ({self.images_per_s:.3g} "
                 f"images/s); output in {where}"]
        if self.model:
            lines.append(f"model: {self.model}")
        if self.interrupted is not None:
            left = self.planned - self.finished
            lines.append(f"interrupted by {signal.Signals(self.interrupted).name}: {left} of "
                         f"{self.planned} images not done; run the same command again to "
                         "finish (finished images are skipped)")
        if self.failures_file:
            lines.append(f"failures listed in {self.failures_file}")
        if self.contact_sheet:
            lines.append(f"contact sheet (input | output): {self.contact_sheet.resolve()}")
        return "\n".join(lines)


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


def work_size(cfg: InferConfig, model: OrtGenerator) -> int | None:
    """The scale the generator runs at: --work-size N, the model's own without it; None
    (each photo's own size) with --work-size native."""
    if cfg.work_size == scale.NATIVE:
        return None
    return cfg.work_size or model.work_size


def prepare_output(folder: Path) -> None:
    """Create the output folder and prove it is writable, before any work."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output {folder} exists and is not a folder")
    try:
        probe_writable(folder)
    except OSError as exc:
        raise UsageError(f"output folder {folder} is not writable: "
                         f"{exc.strerror or exc}") from None


def file_format(out: Path | str, fmt: str) -> str | None:
    """The format of the image file OUTPUT names (a path or a URI), None when its name is
    not an image file's; UsageError for an image type we only read (e.g. .gif) or a name
    that disagrees with --format."""
    name = format_of(out)
    if name is None:
        suffix = PurePosixPath(str(out)).suffix
        if suffix.lower() in IMAGE_EXTENSIONS:
            raise UsageError(f"output {out}: cannot write {suffix} files; name a "
                             f"{', '.join(FORMATS)} file or a folder")
        return None
    if fmt not in (KEEP, name):
        raise UsageError(f"output {out} names a {name} file, but --format is {fmt}")
    return name


def single_output(src: Path, out: Path, fmt: str) -> Path | None:
    """The output file when one image goes to an image file name; None: OUTPUT is a folder."""
    if not src.is_file() or out.is_dir():
        return None
    if is_video(src):
        return out if is_video(out) else None
    return out if file_format(out, fmt) else None


def list_inputs(src: Path, out_root: Path) -> list[tuple[Path, Path]]:
    """(path, path relative to INPUT) for every image; outputs inside INPUT are left out."""
    if src.is_file():
        return [(src, Path(src.name))]
    if not src.is_dir():
        raise UsageError(f"input not found: {src}")
    out_resolved = out_root.resolve()
    if out_resolved == src.resolve():
        raise UsageError(f"output folder {out_root} is the input folder {src}: outputs "
                         "would replace the inputs; choose another output folder")
    nested = src.resolve() in out_resolved.parents
    items = []
    for path in list_images(src, IMAGE_EXTENSIONS | set(VIDEO_SUFFIXES)):
        if nested and out_resolved in path.resolve().parents:
            continue
        items.append((path, path.relative_to(src)))
    return items


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode): equal for one file under any spelling, symlink or hard link."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def collision(dst, owner, fmt: str) -> str:
    """The failure of an input whose output name an earlier input already has."""
    hint = "rename one of them" if fmt == KEEP else "use --format keep"
    return f"output {dst} would also be written from {owner} ({hint})"


def plan(items, cfg: InferConfig, out_root: Path, single_dst: Path | None):
    """-> (jobs to run, skipped (src, dst), failures) of this shard. Output names are
    compared over the whole sorted input list, so every shard agrees on which input owns a
    name (the first); an output that is an input file is refused (UsageError)."""
    jobs, skipped, failures = [], [], []
    owner: dict[Path, Path] = {}
    i, n = cfg.shard
    mine = [k % n == i for k in range(len(items))]
    inputs = {_file_id(src) for (src, _), m in zip(items, mine) if m}
    for (src, rel), m in zip(items, mine):
        dst = single_dst or (out_root / output_name(rel) if is_video(src)
                             else output_path(src, rel, out_root, cfg.format))
        if dst in owner:
            if m:
                failures.append((src, collision(dst, owner[dst], cfg.format)))
            continue
        owner[dst] = src
        if not m:
            continue
        if _file_id(dst) in inputs:
            raise UsageError(f"output {dst} is an input file: writing it would destroy the "
                             "input; choose another output")
        if dst.exists() and not cfg.overwrite:
            skipped.append((src, dst))
        else:
            jobs.append(Job(src, dst, format_of(single_dst) if single_dst
                            else output_format(src, cfg.format)))
    return jobs, skipped, failures


def remove_temps_of_dead_runs(outputs: list[Path]) -> int:
    """Temp files a killed run left in the folders this run writes to; returns the count."""
    return sum(remove_stale_temps(folder) for folder in sorted({p.parent for p in outputs}))


@dataclass
class _Plan:
    src: Path
    out_root: Path
    model: OrtGenerator
    jobs: list[Job]
    skipped: list[tuple[Path, Path]]
    summary: Summary


def lock_path(out_root: Path, shard: tuple[int, int]) -> Path:
    i, n = shard
    return out_root / (".cyclegan-infer.lock" if n == 1 else
                       f".cyclegan-infer.shard-{i}-of-{n}.lock")


def _prepare(cfg: InferConfig, log, warn, stack: contextlib.ExitStack) -> _Plan:
    """Everything before the first image is translated; UsageError on a bad setup. The
    output folder stays locked (per shard) until `stack` closes."""
    src, out = Path(cfg.input), Path(cfg.output)
    if not src.exists():
        raise UsageError(f"input not found: {src}")
    single_dst = single_output(src, out, cfg.format)
    out_root = out.parent if single_dst else out
    items = list_inputs(src, out_root)
    if not items:
        raise UsageError(f"no images found under {src} (extensions read: "
                         f"{extension_list()}; videos: {' '.join(VIDEO_SUFFIXES)})")
    if is_video(src):
        require_av()
    prepare_output(out_root)
    # Two runs on one folder would delete each other's failures file and race on outputs.
    stack.enter_context(exclusive_lock(lock_path(out_root, cfg.shard),
                                       f"running cyclegan-infer into {out_root}"))
    i, n = cfg.shard
    model = load_model(cfg.model, cfg.direction, cfg.device, cfg.threads, log,
                       precision=cfg.precision, warn=warn)
    jobs, skipped, failures = plan(items, cfg, out_root, single_dst)
    for job in jobs:
        if is_video(job.src):
            check_options(job.dst, video_options(cfg, model, threading.Event()))
    summary = Summary(out, planned=len(jobs), skipped=len(skipped), failures=failures,
                      model=model.describe())
    removed = remove_temps_of_dead_runs([j.dst for j in jobs] + [d for _, d in skipped])
    if model.device == "cpu" and model.meta.get("precision") == "fp16":
        warn("warning: an fp16 model runs slower on the CPU than its fp32 version")
    if not cfg.quiet:
        log(f"model: {model.describe()}")
        work = work_size(cfg, model)
        log("scale: every photo at its own size (--work-size native)" if work is None else
            f"scale: photos with a shorter side over {work} px are translated at {work} px "
            "(--work-size)")
        shard = f" (shard {i}/{n})" if n > 1 else ""
        count = len(jobs) + len(skipped) + len(failures)
        log(f"{count} images{shard}: {len(jobs)} to translate, {len(skipped)} already done"
            + (f"; removed {removed} temp files of an interrupted run" if removed else ""))
    return _Plan(src, out_root, model, jobs, skipped, summary)


def pipeline_options(cfg: InferConfig, model: OrtGenerator, cores: int, warn,
                     stop: threading.Event) -> PipelineOptions:
    """The pipeline's settings for `cfg` with `model` loaded and `cores` CPU cores to use;
    every engine runs the per-image path with these (cyclegan.infer.ray_worker too)."""
    ngf, device = scale.model_width(model.meta), model.device
    return PipelineOptions(batch_size=cfg.batch_size or default_batch_size(device),
                           workers=cfg.workers or default_workers(device, cores),
                           size=cfg.size, max_size=cfg.max_size, max_pixels=cfg.max_pixels,
                           quality=cfg.quality, geometry=model.geometry,
                           work_size=work_size(cfg, model), detail=cfg.detail,
                           fits=lambda h, w: scale.memory_problem(h, w, ngf, device),
                           warn=warn, stop=stop)


def video_options(cfg: InferConfig, model: OrtGenerator, stop: threading.Event) -> VideoOptions:
    ngf, device = scale.model_width(model.meta), model.device
    return VideoOptions(work_size=work_size(cfg, model), geometry=model.geometry,
                        detail=cfg.detail, keep=cfg.temporal, codec=cfg.video_codec,
                        crf=cfg.crf, fits=lambda h, w: scale.memory_problem(h, w, ngf, device),
                        stop=stop)


def _translate(p: _Plan, cfg: InferConfig, warn) -> None:
    summary, stop = p.summary, threading.Event()
    images = [j for j in p.jobs if not is_video(j.src)]
    videos = [j for j in p.jobs if is_video(j.src)]  # each with its own bar, in frames
    bar = Progress(len(images), "cyclegan-infer", unit="img",
                   enabled=not cfg.quiet and bool(images))

    def on_result(result: Result) -> None:
        summary.finished += 1
        if result.error is None:
            summary.translated += 1
        else:
            summary.failures.append((result.job.src, result.error))
        if not is_video(result.job.src):
            bar.update(1, failed=len(summary.failures))

    opts = pipeline_options(cfg, p.model, cpu_count(), bar.write if not cfg.quiet else warn,
                            stop)

    def on_signal(name: str) -> None:
        stop.set()
        warn(f"\n{name}: stopping; finishing writes in progress (press Ctrl-C again to "
             "abort at once)")

    with bar, StopRequest(on_signal) as interrupt:
        summary.seconds = translate(p.model, images, opts, on_result)
        summary.seconds += translate_videos(p.model, videos, video_options(cfg, p.model, stop),
                                            on_result, show=not cfg.quiet)
    summary.interrupted = interrupt.signum
    summary.failed = len(summary.failures)


def _finish(p: _Plan, cfg: InferConfig, warn) -> None:
    """The failures file (or removing a stale one) and the contact sheet."""
    summary = p.summary
    fail_file = failures_path(p.out_root, cfg.shard)
    if summary.failures:
        write_failures(fail_file, summary.failures)
        summary.failures_file = fail_file
    elif summary.interrupted is None:
        fail_file.unlink(missing_ok=True)  # left by an earlier run whose failures are now fixed
    if not cfg.contact_sheet or summary.interrupted is not None:
        return
    done = sorted(p.skipped + [(j.src, j.dst) for j in p.jobs])
    pairs = [(s, d, str(s.relative_to(p.src)) if p.src.is_dir() else s.name)
             for s, d in done if d.is_file() and not is_video(d)]
    title = f"input | output    {p.model.describe()}"
    # An input named like the sheet has its translation there: the sheet takes another name.
    outputs, sheet, n = {d for _, d in done}, p.out_root / CONTACT_SHEET, 2
    while sheet in outputs:
        sheet, n = sheet.with_name(f"{Path(CONTACT_SHEET).stem}-{n}.png"), n + 1
    try:
        if pairs:
            summary.contact_sheet = contact_sheet(pairs, sheet, title)
    except (ImageError, OSError) as exc:
        warn(f"warning: contact sheet not written: {exc}")


def run(cfg: InferConfig, log=None, warn=None) -> Summary:
    """Translate cfg.input into cfg.output; raises UsageError before any work on bad setup."""
    log = log or (lambda m: print(m, file=sys.stderr))
    warn = warn or (lambda m: print(m, file=sys.stderr))
    cfg = with_defaults(cfg)
    with contextlib.ExitStack() as stack:
        p = _prepare(cfg, log, warn, stack)
        _translate(p, cfg, warn)
        _finish(p, cfg, warn)
    return p.summary
