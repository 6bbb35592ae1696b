"""CPU time per step of `cyclegan-train --preset quick` on builtin:seasons, in process.

Each iteration's whole cost (data made in process, the step, logging), timed from one
train_step call to the next, after 2 warm-up steps; as CPU time (time.process_time, all
threads of the process) and wall time. CPU time is what a loaded machine inflates least,
and times the preset's 1,000 steps give train/config.py's QUICK_TIME. --threads 2 against 1
shows what threads fighting for busy cores cost (docs/experiments.md, "A quick try").

  python benchmarks/bench_preset.py --threads 1 --steps 12
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time

import torch

import cyclegan.train.loop as loop
from cyclegan.train.config import PRESETS, TrainConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--steps", type=int, default=12, help="steps in all (2 are warm-up)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    marks: list[tuple[float, float]] = []
    step = loop.train_step

    def timed(*a, **k):
        marks.append((time.process_time(), time.perf_counter()))
        return step(*a, **k)

    loop.train_step = timed
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(**{**dataclasses.asdict(TrainConfig()), **PRESETS["quick"],
                             "steps": args.steps, "out": f"{tmp}/run", "workers": 0,
                             "quiet": True})
        loop.train(cfg)
    pairs = list(zip(marks[2:], marks[3:]))
    cpu = [b[0] - a[0] for a, b in pairs]
    wall = [b[1] - a[1] for a, b in pairs]
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"threads {args.threads}: {len(cpu)} steps after 2 warm-up: CPU s/step median "
          f"{statistics.median(cpu):.2f} (min {min(cpu):.2f}, max {max(cpu):.2f}); wall s/step "
          f"median {statistics.median(wall):.2f}; load average {load}")


if __name__ == "__main__":
    main()
