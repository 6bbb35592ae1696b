"""Shared helpers for the benchmarks: interleaved timing with medians, machine description,
output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_ms(fn, device: str, repeats: int, warmup: int) -> float:
    """Median wall time of fn() in milliseconds, after warm-up, synchronising CUDA."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_interleaved(cases: dict, device: str, rounds: int, repeats: int,
                warmup: int) -> dict[str, list[float]]:
    """Per case, one median_ms per round. Every round times every case, in an order that
    rotates from round to round, so that a slow spell of this shared machine hits all cases
    alike; compare cases by their ratio within each round (spread)."""
    names = list(cases)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(median_ms(cases[name], device, repeats, warmup))
    return times


def spread(ratios: list[float]) -> str:
    """'3.80x (3.51x, 4.02x)': median (min, max) of per-round ratios."""
    return (f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}x, "
            f"{max(ratios):.2f}x)")


def cpu_flags() -> str:
    """The instruction sets that decide int8 and fused-kernel speed, as /proc/cpuinfo says."""
    try:
        flags = set()
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        return "flags unknown"
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16", "amx_bf16")
    return "flags: " + ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted)


def machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    desc = (f"{cpu}, {os.cpu_count()} cores ({cpu_flags()}), torch {torch.__version__} "
            f"({threads} threads)")
    try:
        from cyclegan.info import collect

        desc += f", cyclegan CPU kernels {collect().get('cpu kernels', 'unknown')}"
    except ImportError:
        pass
    if device.startswith("cuda"):
        desc = f"{torch.cuda.get_device_name()} | host: {desc}"
    return desc


def load_note(when: str = "at start") -> str:
    """The load average `when`: this machine is shared, say how busy it was."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) {when}"


def host_note(device: str = "cpu") -> str:
    """What every table is printed with: the machine, the CPU flags that decide fused-kernel
    and int8 speed, and the load as the table is printed."""
    return f"host: {machine(device)}; {load_note('now')}"


def print_table(headers: list[str], rows: list[list[object]], device: str = "cpu") -> None:
    """A markdown table of the results, under the host it was measured on (host_note)."""
    print(host_note(device))
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def write_json(path: str | None, payload: dict) -> None:
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, target)
    print(f"wrote {target}")
