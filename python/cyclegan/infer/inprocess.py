"""The in-process engine behind cyclegan-infer: this process's pipeline runs the plan.

What a run is (plan, lock, skips, summary, failures file, signals) is
cyclegan.infer.controller's; this engine adds the threaded pipeline
(cyclegan.infer.pipeline) on this machine's cores, with a result for every image as it is
written.
"""

from __future__ import annotations

import contextlib
import sys
import threading

from cyclegan.errors import UsageError
from cyclegan.infer import storage
from cyclegan.infer.config import InferConfig
from cyclegan.infer.controller import Summary, open_run
from cyclegan.infer.options import pipeline_options, video_options
from cyclegan.infer.pipeline import Result, translate
from cyclegan.infer.runtime import cpu_count
from cyclegan.infer.video import FORMAT as VIDEO
from cyclegan.infer.video import translate_videos


def run(cfg: InferConfig, log=None, warn=None) -> Summary:
    """Translate cfg.input into cfg.output; raises UsageError before any work on bad setup."""
    log = log or (lambda m: print(m, file=sys.stderr))
    warn = warn or (lambda m: print(m, file=sys.stderr))
    if any(storage.is_uri(x) for x in (cfg.input, cfg.output) if x is not None):
        raise UsageError("URIs (s3://, gs://, file://) are read and written by --engine ray")
    with contextlib.ExitStack() as stack:
        job = open_run(cfg, stack, log, warn, cfg.device, cfg.threads)
        summary, stop, bar = job.summary, threading.Event(), job.progress()

        def on_result(result: Result) -> None:
            summary.count(result.job.src, result.error, result.bits, result.frames)
            if result.job.format != VIDEO:
                bar.update(1, failed=len(summary.failures))

        opts = pipeline_options(job.cfg, job.model, cpu_count(),
                                bar.write if bar.enabled else warn, stop)
        with bar, job.stopping(stop.set):
            summary.seconds = translate(job.model, job.images, opts, on_result)
            summary.video_seconds = translate_videos(job.model, job.clips,
                                                     video_options(job.cfg, job.model, stop),
                                                     on_result, show=not job.cfg.quiet)
            summary.seconds += summary.video_seconds
        job.finish()
    return summary
