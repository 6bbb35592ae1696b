"""cyclegan-infer --engine ray against the in-process engine on the same folder: Ray's overhead.

Both engines translate the same folder (real 256x256 photos from ../shared/data, else
generated ones) with the same model (the bundled demo generator by default) into a fresh
output folder, in alternating rounds (the order flips every round), each timed from the
driver's side: the whole `run()` call, planning, model load and actor start included. The
Ray instance is started once before the rounds (a cluster is normally already running) and
its start-up time is reported on its own. This machine's speed swings between runs, so the
ratio within a round is what counts: the median, min and max of Ray's images/s over the
in-process engine's.

  python benchmarks/bench_ray.py --images 96 --rounds 3 --json bench-results/ray_cpu.json
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, print_table, write_json  # noqa: E402

from cyclegan.infer import InferConfig, run  # noqa: E402
from cyclegan.infer.ray_engine import RayOptions  # noqa: E402
from cyclegan.infer.ray_engine import run as run_ray  # noqa: E402

REAL_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "summer2winter_mini"


def make_folder(folder: Path, n: int) -> str:
    """n photos: real ones when the shared data is there, else 256x256 noise JPEGs."""
    folder.mkdir(parents=True)
    real = sorted((REAL_PHOTOS / "trainA").glob("*.jpg"))[:n]
    for i, p in enumerate(real):
        shutil.copy(p, folder / f"{i:05d}.jpg")
    rng = np.random.default_rng(0)
    for i in range(len(real), n):
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(
            folder / f"{i:05d}.jpg", quality=90)
    return f"{len(real)} real photos (summer2winter_mini/trainA)" if real else \
        f"{n} generated 256x256 JPEGs"


def timed(engine: str, src: Path, out: Path, model: str, opts: RayOptions) -> float:
    """images/s of one run, from the driver's side."""
    shutil.rmtree(out, ignore_errors=True)
    cfg = InferConfig(input=src, output=out, model=model, quiet=True)
    t0 = time.perf_counter()
    s = run(cfg, log=lambda m: None) if engine == "in-process" else \
        run_ray(cfg, opts, log=lambda m: None)
    seconds = time.perf_counter() - t0
    assert s.failed == 0 and s.translated > 0, s.report()
    return s.translated / seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="demo", help="model file or bundled name")
    ap.add_argument("--actors", type=int, help="Ray actors (default: the engine's plan)")
    ap.add_argument("--cpus-per-actor", type=int)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    import ray

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        what = make_folder(work / "in", args.images)
        t0 = time.perf_counter()
        ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        startup = time.perf_counter() - t0
        opts = RayOptions(actors=args.actors, cpus_per_actor=args.cpus_per_actor)
        speeds: dict[str, list[float]] = {"in-process": [], "ray": []}
        for r in range(args.rounds):
            order = ["in-process", "ray"] if r % 2 == 0 else ["ray", "in-process"]
            for engine in order:
                speeds[engine].append(timed(engine, work / "in", work / "out", args.model,
                                            opts))
            print(f"round {r + 1}: " + ", ".join(f"{e} {speeds[e][-1]:.1f} img/s"
                                                 for e in order), flush=True)
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratios = [a / b for a, b in zip(speeds["ray"], speeds["in-process"])]
    print(f"\n{what}; model {args.model}; "
          f"ray.init() {startup:.1f} s (not in the rounds)")
    print_table(["engine", "median img/s", "min", "max"],
                [[e, f"{statistics.median(v):.1f}", f"{min(v):.1f}", f"{max(v):.1f}"]
                 for e, v in speeds.items()])
    print(f"ray / in-process: median {statistics.median(ratios):.2f}x, min "
          f"{min(ratios):.2f}x, max {max(ratios):.2f}x over {args.rounds} interleaved rounds")
    write_json(args.json, {"machine": machine("cpu"), "images": what, "model": args.model,
                           "ray_init_s": startup, "images_per_s": speeds, "ratios": ratios})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
