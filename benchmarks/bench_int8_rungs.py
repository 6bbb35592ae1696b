"""What keeping the upsampling convolutions float costs and buys (quantize.FLOAT_RUNGS).

    python benchmarks/bench_int8_rungs.py G.onnx CALIBRATION_DIR [--images 96] [--rounds 5]
                                          [--groups]

Quantizes the fp32 generator once per rung of FLOAT_RUNGS (calibrated on the photos of
CALIBRATION_DIR at the model's working scale, 1 in 4 held back), prints each int8 model's
gate (PSNR to fp32 on the held-back photos), then times the model alone, batch 1, one
thread, on a 4:3 photo's working shape (the short side at the working scale): fp32 and each
int8 in interleaved rounds (common.time_interleaved: the order rotates), with the median
ratio to fp32 (min, max over rounds). --groups first gates one int8 model per group of
convolutions left float besides the first and the last (GROUPS), to find which ones a
model cannot take in int8.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, spread, time_interleaved  # noqa: E402

from cyclegan.contract import read_metadata, work_size_of  # noqa: E402
from cyclegan.export import quantize  # noqa: E402
from cyclegan.infer.runtime import OrtGenerator  # noqa: E402

# Substrings of the convolutions' node names (cyclegan.models' module names).
GROUPS = {"residual blocks' first convolutions": ("/conv1/",),
          "residual blocks' second convolutions": ("/conv2/",),
          "downsampling convolutions": ("/down.",), "first upsampling convolution": ("/up.0/",),
          "second upsampling convolution": ("/up.1/",)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path)
    p.add_argument("photos", type=Path)
    p.add_argument("--images", type=int, default=96)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--groups", action="store_true")
    args = p.parse_args()
    fp32 = args.model.read_bytes()
    size = work_size_of(read_metadata(fp32))
    calibration, held = quantize.split(quantize.load_photos(args.photos, args.images,
                                                            log=lambda m: None))
    for what, also in GROUPS.items() if args.groups else ():
        int8 = quantize.quantize_bytes(fp32, calibration, size, also_float=also)
        print(f"int8, {what} float too: {quantize.gate(fp32, int8, held, size)}", flush=True)
    models = {"fp32": fp32}
    for what, also in quantize.FLOAT_RUNGS:
        label = f"int8, {what}"
        models[label] = quantize.quantize_bytes(fp32, calibration, size, also_float=also)
        print(f"{label}: {quantize.gate(fp32, models[label], held, size)}", flush=True)
    sessions = {k: OrtGenerator(v, device="cpu", threads=1) for k, v in models.items()}
    h, w = size, (size * 4 // 3 + 3) // 4 * 4  # the size rule: multiples of 4
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
    times = time_interleaved({k: (lambda s=s: s(x)) for k, s in sessions.items()}, "cpu",
                             args.rounds, args.repeats, warmup=1)
    print(machine("cpu"))
    print(f"model alone, batch 1, 1 x 3 x {h} x {w}, {args.rounds} interleaved rounds:")
    for k, ts in times.items():
        ratios = [t / f for t, f in zip(ts, times["fp32"])]
        print(f"  {k}: {statistics.median(ts):.1f} ms (median of rounds); "
              f"{spread(ratios)} fp32's time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
