"""Large photos: cyclegan-infer at the working scale with the guided full-resolution step.

    python benchmarks/bench_large.py [--rounds 3] [--native] [--work DIR] [--json OUT]

Makes synthetic phone-like JPEGs (a rendered landscape enlarged, with sensor-like noise;
no dataset photo): 12 MP (4032 x 3024) and 50 MP (8160 x 6120, under the 50 MP limit).
Then, in interleaved rounds:

  * end to end: `cyclegan-infer PHOTO OUT.jpg` in a fresh process under /usr/bin/time -v
    (wall time of the command, its own decode-to-encode time, peak RSS), with
    --detail guided (the default), resize and texture, at 12 MP and 50 MP;
  * the split of one photo in process: decode, prepare (downscale + model input), model,
    guided step (fit + apply), the texture step instead (guided plus the enlarged residual),
    encode.

--native adds one run of today's behaviour on the 12 MP photo (--work-size native:
minutes and about 20 GB; it is skipped when MemAvailable is below 22 GB). Model: the
bundled default (summer2winter; int8 on a CPU).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, print_table  # noqa: E402

from cyclegan import seasons  # noqa: E402
from cyclegan.infer import bundled, detail, io, scale  # noqa: E402
from cyclegan.infer.runtime import load_model  # noqa: E402

SIZES = {"12MP": (4032, 3024), "50MP": (8160, 6120)}


def make_photo(path: Path, size: tuple[int, int], seed: int = 21) -> None:
    """A landscape render enlarged to `size`, with fine noise (what JPEG has to encode in a
    real photo); written once."""
    if path.is_file():
        return
    w, h = size
    base = (seasons.render(seed, 1024, "summer") * 255).round().astype(np.uint8)
    img = Image.fromarray(base).crop((0, 128, 1024, 896)).resize(size, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(seed)
    arr = np.asarray(img, np.float32)
    for y in range(0, h, 512):  # in bands: no second full-size float copy
        band = arr[y:y + 512]
        band += rng.normal(0, 6, band.shape).astype(np.float32)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=92)


def end_to_end(photo: Path, out: Path, *flags: str) -> dict:
    """One cyclegan-infer run in a fresh process, measured by /usr/bin/time -v."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "cyclegan.cli.infer", str(photo),
           str(out), "--overwrite", "--quiet", *flags]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    inner = float(re.search(r"failed 0 in ([\d.]+) s", r.stdout).group(1))
    return {"wall_s": wall, "pipeline_s": inner, "peak_gb": rss * 1024 / 1e9}


def split(photo: Path, out: Path, model, modes: tuple[str, ...]) -> dict:
    """The stages of one photo, one after the other, in this process; each finishing step
    in `modes` on the same model output (finish leaves its inputs as they were), the first
    one's pixels encoded."""
    from cyclegan.images import write_image

    job = io.Job(photo, out, "jpg")
    times = {}
    t = time.perf_counter()
    rgb, alpha = io.read_photo(job)
    times["decode"] = time.perf_counter() - t
    t = time.perf_counter()
    item = io.prepare(job, rgb, alpha, model.geometry, model.work_size)
    del rgb
    times["prepare"] = time.perf_counter() - t
    t = time.perf_counter()
    y = model(item.x[None])[0]
    times["model"] = time.perf_counter() - t
    pixels = None
    for mode in modes:
        t = time.perf_counter()
        finished = detail.finish(item, y, mode)
        times[mode] = time.perf_counter() - t
        pixels = finished if pixels is None else pixels
    t = time.perf_counter()
    write_image(pixels, None, out, fmt="jpg")
    times["encode"] = time.perf_counter() - t
    return times


def summarize(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--native", action="store_true")
    p.add_argument("--work", type=Path, default=Path("bench-large"))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    photos = {name: args.work / f"phone_{name}.jpg" for name in SIZES}
    for name, path in photos.items():
        make_photo(path, SIZES[name])
    cases = [(size, mode) for size in SIZES for mode in detail.DETAILS]
    e2e = {c: [] for c in cases}
    stages: dict[str, dict[str, list[float]]] = {n: {} for n in SIZES}
    model = load_model(bundled.resolve_model(None), device="cpu", log=lambda m: None)
    for _ in range(args.rounds):
        for size, mode in cases:
            e2e[(size, mode)].append(end_to_end(photos[size], args.work / "out.jpg",
                                                "--detail", mode))
        for size in SIZES:
            for k, v in split(photos[size], args.work / "split.jpg", model,
                              ("guided", "texture")).items():
                stages[size].setdefault(k, []).append(v)
    result = {"machine": machine("cpu"), "model": model.describe(), "rounds": args.rounds,
              "end_to_end": {f"{s} {m}": runs for (s, m), runs in e2e.items()},
              "stages": stages}
    print(f"model: {result['model']}; {args.rounds} rounds")
    print_table(["photo", "detail", "cyclegan-infer wall s", "decode to encode s", "peak GB"],
                [[size, mode, summarize([r["wall_s"] for r in runs]),
                  summarize([r["pipeline_s"] for r in runs]),
                  summarize([r["peak_gb"] for r in runs])] for (size, mode), runs in e2e.items()])
    print_table(["photo", *stages["12MP"]],
                [[size, *(summarize(v) for v in st.values())] for size, st in stages.items()])
    for size, st in stages.items():  # the two finishing steps, paired within each round
        ratios = [t / g for t, g in zip(st["texture"], st["guided"])]
        print(f"{size}: texture step / guided step {summarize(ratios)}")
    if args.native:
        result["native_12MP"] = native(photos["12MP"], args.work)
        print(f"native 12MP: {result['native_12MP']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def native(photo: Path, work: Path) -> dict | str:
    available = scale.smi_free_bytes("cpu") or 0
    if available < 22e9:
        return f"skipped: {available / 1e9:.1f} GB available"
    return end_to_end(photo, work / "native.jpg", "--work-size", "native")


if __name__ == "__main__":
    raise SystemExit(main())
