"""The official CycleGAN run's timeline (peer_study.sh) as our trainer writes it: RUN/log.jsonl
with one record per logged iteration and per saved snapshot, `step` (iterations done) and
`train_s` (wall seconds since training started), so plot_study.py places both codes' snapshots
on one clock; prints iterations, seconds per iteration and the snapshots' minutes.

    python benchmarks/peer_log.py RUN

RUN holds times.tsv (commit, start, stop), train.log (the official train.py's output, each
line prefixed with its epoch second), cpu.tsv (the training process's CPU seconds, sampled;
records get `process_cpu_s` from it, linear between samples) and the saved
iter_N_net_G_A.pth files.
Iterations are counted as the official code counts them: epoch E, iteration I of an epoch of
`The number of training images` iterations (batch 1) is step (E - 1) * epoch + I.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

LOSS_LINE = re.compile(r"^(\d+) .*\(epoch: (\d+), iters: (\d+), time: ([\d.]+), data: [\d.]+\)"
                       r" ,? ?(.*)$")
EPOCH_LINE = re.compile(r"^\d+ The number of training images = (\d+)")
SNAPSHOT = re.compile(r"^iter_(\d+)_net_G_A\.pth$")


def timeline(run: Path) -> tuple[dict, list[dict]]:
    times = dict(line.split("\t", 1) for line in (run / "times.tsv").read_text().splitlines())
    start = float(times["start"])
    text = (run / "train.log").read_text().splitlines()
    epoch_len = next((int(m.group(1)) for line in text if (m := EPOCH_LINE.match(line))), None)
    if epoch_len is None:
        raise SystemExit(f"{run}/train.log: no 'The number of training images' line")
    rows = []
    for line in text:
        if m := LOSS_LINE.match(line):
            losses = dict(kv.split(": ") for kv in m.group(5).split(", ") if ": " in kv)
            rows.append({"step": (int(m.group(2)) - 1) * epoch_len + int(m.group(3)),
                         "train_s": int(m.group(1)) - start, "s_per_iter": float(m.group(4)),
                         **{f"loss_{k}": float(v) for k, v in losses.items()}})
    for f in run.iterdir():
        if m := SNAPSHOT.match(f.name):
            rows.append({"step": int(m.group(1)), "train_s": f.stat().st_mtime - start,
                         "snapshot": f"iter_{m.group(1)}"})
    rows.sort(key=lambda r: (r["step"], "snapshot" in r))
    cpu = cpu_samples(run, start)
    for r in rows:
        if cpu and r["train_s"] <= cpu[-1][0]:
            r["process_cpu_s"] = interpolate(cpu, r["train_s"])
    return times, rows


def cpu_samples(run: Path, start: float) -> list[tuple[float, float]]:
    """(train_s, CPU seconds of the training process) from RUN/cpu.tsv (time, CPU seconds per
    line), starting from (0, 0); [] without the file."""
    path = run / "cpu.tsv"
    if not path.is_file():
        return []
    samples = [(0.0, 0.0)]
    for line in path.read_text().splitlines():
        t, cpu = line.split("\t")[:2]
        samples.append((float(t) - start, float(cpu)))
    return samples


def interpolate(samples: list[tuple[float, float]], x: float) -> float:
    """y at x, linear between the samples around it (x within their range)."""
    for (x0, y0), (x1, y1) in zip(samples, samples[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return samples[-1][1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    run = p.parse_args().run
    times, rows = timeline(run)
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    logged = [r for r in rows if "snapshot" not in r]
    if not logged:
        raise SystemExit(f"{run}/train.log: no iteration logged yet")
    last = logged[-1]
    wall = float(times["stop"]) - float(times["start"]) if "stop" in times else None
    print(f"commit {times.get('commit')}" + ("" if "stop" in times else " (running)"))
    print(f"last logged: step {last['step']} at {last['train_s'] / 60:.1f} min "
          f"({last['train_s'] / last['step']:.2f} s/iteration, "
          f"{60 * last['step'] / last['train_s']:.1f} iterations/min)"
          + (f"; stopped after {wall / 60:.1f} min" if wall else ""))
    if "process_cpu_s" in last:
        print(f"CPU: {last['process_cpu_s'] / 60:.1f} min by step {last['step']} "
              f"({last['process_cpu_s'] / last['train_s']:.2f} of a core)")
    for r in rows:
        if "snapshot" in r:
            cpu = (f", {r['process_cpu_s'] / 60:.1f} CPU min" if "process_cpu_s" in r else "")
            print(f"  {r['snapshot']}: {r['train_s'] / 60:.1f} min{cpu}")


if __name__ == "__main__":
    main()
