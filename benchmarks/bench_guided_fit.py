"""The guided step's fit (cyclegan.infer.guided.fit) per frame at the working scales of
videos and photos, against the same function at another git revision (docs/inference.md,
"Videos").

    python benchmarks/bench_guided_fit.py [--against REV] [--rounds 5] [--repeats 5]

--against loads python/cyclegan/infer/guided.py as it was at REV (git show) and times both
on the same inputs, interleaved; it also checks that both give the same grid.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_note, machine, spread, time_interleaved  # noqa: E402

from cyclegan.infer import guided  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# (h, w) at the working scale: a 16:9 frame at the bundled models' 128 px, and at 256 px.
SHAPES = [(128, 228), (256, 455)]


def at_revision(rev: str) -> types.ModuleType:
    src = subprocess.run(["git", "-C", str(ROOT), "show",
                          f"{rev}:python/cyclegan/infer/guided.py"],
                         capture_output=True, text=True, check=True).stdout
    module = types.ModuleType(f"guided_{rev}")
    exec(compile(src, f"guided.py@{rev}", "exec"), module.__dict__)
    return module


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--against", default=None, help="a git revision to compare with")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print(f"{machine('cpu')}; {load_note()}", flush=True)
    other = at_revision(args.against) if args.against else None
    rng = np.random.default_rng(0)
    for h, w in SHAPES:
        small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        out = rng.random((h, w, 3)).astype(np.float32)
        cases = {"this tree": lambda s=small, o=out: guided.fit(s, o)}
        if other is not None:
            same = np.array_equal(guided.fit(small, out).coef, other.fit(small, out).coef)
            print(f"{h} x {w}: the same grid as at {args.against}: {same}")
            cases[args.against] = lambda s=small, o=out: other.fit(s, o)
        times = time_interleaved(cases, "cpu", args.rounds, args.repeats, warmup=1)
        for name, ms in times.items():
            print(f"{h} x {w}, {name}: median {np.median(ms):.1f} ms per fit "
                  f"(rounds {', '.join(f'{t:.1f}' for t in ms)})")
        if other is not None:
            ratios = [a / b for a, b in zip(times[args.against], times["this tree"])]
            print(f"{h} x {w}: {args.against} / this tree {spread(ratios)}", flush=True)


if __name__ == "__main__":
    main()
