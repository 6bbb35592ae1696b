"""The work inside one Ray actor: a model, and the in-process pipeline run on each batch.

Ray Data calls a TranslateActor with a batch of rows {src, dst, format} (local paths or URIs,
and the output format the plan chose) and gets one result row back for each. The per-image
path is the in-process engine's own: the batch's jobs go through
cyclegan.infer.pipeline.translate (decode, batching by size, the model, encoding, the atomic
write) with the options cyclegan.infer.options.pipeline_options gives both engines.
This module adds only what a cluster needs around it: files on object storage are staged
through a local scratch folder (downloaded before, uploaded after), and an output that is
already there is not written again.

That last rule is what makes a retried batch safe: when an actor dies mid-batch, Ray runs
the whole batch again on another actor, and the outputs the dead one finished are skipped
rather than translated twice (controller.output_done: with --overwrite, an output counts as
finished when it was modified after the run started; a clock that differs between the
driver and the storage shifts this rule).

Importing this module needs neither Ray nor a cluster; it is tested without them.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cyclegan.images import format_of
from cyclegan.infer import storage
from cyclegan.infer.config import InferConfig
from cyclegan.infer.controller import output_done
from cyclegan.infer.io import Job
from cyclegan.infer.options import pipeline_options
from cyclegan.infer.pipeline import Result, failure_reason, translate
from cyclegan.infer.runtime import load_model

TRANSLATED, SKIPPED, FAILED = "translated", "skipped", "failed"
IO_THREADS = 8  # downloads and uploads wait on the network, not the CPU


class _Row:
    def __init__(self, src: str, dst: str, fmt: str):
        self.src, self.dst, self.format = src, dst, fmt
        self.status, self.reason = TRANSLATED, ""
        self.local_src = None if storage.is_uri(src) else Path(src)
        self.local_dst = None if storage.is_uri(dst) else Path(dst)

    def fail(self, reason: str) -> None:
        self.status, self.reason = FAILED, reason


class TranslateActor:
    """Ray Data's callable class: one onnxruntime session per actor, kept for every batch."""

    def __init__(self, model_name: str, model_data: bytes, precision: str,
                 cfg: InferConfig, device: str, cores: int, started: float, roll=None):
        if roll is not None:  # cyclegan-infer's driver, which kills its actors at the end
            import ray

            ray.get(roll.add.remote(ray.get_runtime_context().current_actor))
        self.scratch = Path(tempfile.mkdtemp(prefix="cyclegan-ray-"))
        model_file = self.scratch / model_name
        model_file.write_bytes(model_data)
        self.model = load_model(model_file, cfg.direction, device, cfg.threads or cores,
                                log=lambda _: None, precision=precision)
        self.warnings: list[str] = []
        self.opts = pipeline_options(cfg, self.model, cores, self.warnings.append,
                                     threading.Event())
        self.overwrite, self.started = cfg.overwrite, started
        self.io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="cyclegan-ray-io")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # Rows from translate_dataset's callers may lack the plan's format: dst names it.
        formats = batch.get("format", [format_of(d) for d in batch["dst"]])
        rows = [_Row(str(s), str(d), f) for s, d, f in zip(batch["src"], batch["dst"], formats)]
        work = Path(tempfile.mkdtemp(dir=self.scratch))
        try:
            todo = [r for r in rows if not self._finished(r)]
            self._stage(todo, work)
            self._translate([r for r in todo if r.status != FAILED])
            self._upload([r for r in todo if r.status == TRANSLATED])
        finally:
            shutil.rmtree(work, ignore_errors=True)
        warning = "\n".join(dict.fromkeys(self.warnings))
        self.warnings.clear()
        columns = {
            "src": [r.src for r in rows], "dst": [r.dst for r in rows],
            "status": [r.status for r in rows], "reason": [r.reason for r in rows],
            "warning": [warning] + [""] * (len(rows) - 1),
            "model": [self.model.describe()] * len(rows),
        }
        return {k: np.array(v, dtype=object) for k, v in columns.items()}

    def _finished(self, row: _Row) -> bool:
        """An output already there: written before the run (the driver plans those out, so
        only a caller of translate_dataset sees this) or by an earlier try of this batch."""
        try:
            mtime = storage.modified(row.dst)
        except OSError as exc:
            row.fail(f"cannot check {row.dst}: {failure_reason(exc)}")
            return True
        if not output_done(mtime, self.overwrite, self.started):
            return False
        row.status = SKIPPED
        return True

    def _stage(self, rows: list[_Row], work: Path) -> None:
        """Local names for inputs and outputs on object storage (same file names, so the
        formats and the messages stay the same); downloads the inputs, in parallel."""
        def download(k_row):
            k, row = k_row
            name = row.src.rstrip("/").rsplit("/", 1)[-1]
            row.local_src = work / "in" / str(k) / name
            row.local_src.parent.mkdir(parents=True)
            try:
                row.local_src.write_bytes(storage.read_bytes(row.src))
            except (OSError, storage.StorageError) as exc:
                row.fail(f"cannot read: {failure_reason(exc)}")

        remote = [(k, r) for k, r in enumerate(rows) if storage.is_uri(r.src)]
        list(self.io.map(download, remote))
        for k, row in enumerate(rows):
            if storage.is_uri(row.dst):
                row.local_dst = work / "out" / str(k) / row.dst.rstrip("/").rsplit("/", 1)[-1]

    def _translate(self, rows: list[_Row]) -> None:
        by_job = {}
        jobs = []
        for row in rows:
            job = Job(row.local_src, row.local_dst, row.format)
            by_job[id(job)] = row
            jobs.append(job)

        def on_result(result: Result) -> None:
            if result.error is not None:
                row = by_job[id(result.job)]
                # The pipeline names the file it wrote; for object storage that is scratch.
                row.fail(result.error.replace(str(row.local_dst), row.dst))

        translate(self.model, jobs, self.opts, on_result)

    def _upload(self, rows: list[_Row]) -> None:
        def upload(row: _Row) -> None:
            try:
                storage.write_bytes(row.dst, row.local_dst.read_bytes())
            except (OSError, storage.StorageError) as exc:
                row.fail(f"cannot write {row.dst}: {failure_reason(exc)}")

        list(self.io.map(upload, [r for r in rows if storage.is_uri(r.dst)]))
