"""Fused norm ops vs the eager PyTorch composition they replace.

Eager: nn.InstanceNorm2d -> relu -> nn.ReflectionPad2d (and the `+ skip` variant).
Eager and fused are timed in interleaved rounds (the order alternates; each timing is the
median of --repeats runs after --warmup); the speed-up is eager ms / fused ms within each
round, reported as median (min, max) over the rounds. Also: medians in ms, and achieved GB/s
against the minimum bytes an op must move (read the input once, write the padded output
once; backward reads the output gradient and the input and writes the input gradient).
On CUDA it also measures a device-to-device copy of the same size as the bandwidth
ceiling. The printed table is the one docs/benchmarks.md quotes:

  taskset -c 1 python benchmarks/bench_ops.py --threads 1 --rounds 5 \
      --json bench-results/ops_cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_note, machine, median_ms, print_table, spread, time_interleaved, write_json  # noqa: E402

from cyclegan.ops import norm_act_pad, norm_add_pad  # noqa: E402

SHAPES = [(1, 256, 64, 64), (4, 256, 64, 64), (1, 128, 128, 128), (1, 64, 256, 256)]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
PAD = 1


def eager(x, skip):
    y = F.instance_norm(x, eps=1e-5)
    y = y + skip if skip is not None else F.relu(y)
    return F.pad(y, (PAD,) * 4, mode="reflect")


def fused(x, skip):
    return norm_add_pad(x, skip, PAD) if skip is not None else norm_act_pad(x, PAD, "relu")


def min_bytes(shape, elem: int, kind: str, backward: bool) -> int:
    n, c, h, w = shape
    inp, out = n * c * h * w * elem, n * c * (h + 2 * PAD) * (w + 2 * PAD) * elem
    skip = inp if kind == "add" else 0
    fwd = inp + skip + out
    # Backward: read gy and x, write gx (and gskip for the add variant).
    return fwd + (out + inp + inp + skip) if backward else fwd


def copy_bandwidth(shape, dtype, device, repeats, warmup) -> float:
    src = torch.randn(shape, device=device).to(dtype)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), device, repeats, warmup)
    return 2 * src.numel() * src.element_size() / ms / 1e6


def bench_case(shape, kind, dtype, device, rounds, repeats, warmup):
    """{phase: {"eager": [ms per round], "fused": [ms per round]}}, eager and fused
    interleaved within each round."""
    x = torch.randn(shape, device=device).to(dtype).requires_grad_()
    skip = torch.randn(shape, device=device).to(dtype).requires_grad_() if kind == "add" else None
    gy = torch.randn_like(eager(x, skip))
    inputs = (x,) if skip is None else (x, skip)

    def forward(fn):
        def run():
            with torch.no_grad():
                fn(x, skip)
        return run

    def forward_backward(fn):
        return lambda: torch.autograd.grad(fn(x, skip), inputs, gy)

    return {phase: time_interleaved({"eager": make(eager), "fused": make(fused)}, device, rounds,
                               repeats, warmup)
            for phase, make in (("fwd", forward), ("fwdbwd", forward_backward))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--dtype", default="fp32", choices=DTYPES, help="data type (default: fp32)")
    p.add_argument("--rounds", type=int, default=5,
                   help="interleaved rounds of eager and fused (default 5, at least 3)")
    p.add_argument("--repeats", type=int, default=10,
                   help="timed runs per case and round; the round's time is their median "
                        "(default 10)")
    p.add_argument("--warmup", type=int, default=3,
                   help="untimed runs before each timing (default 3)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's own). On a shared machine "
                        "use 1: a descheduled worker stalls every parallel region, and eager "
                        "has many more of them than fused, which inflates the speed-up")
    p.add_argument("--shapes", default=None, help="e.g. '8,256,64,64;1,64,256,256'")
    p.add_argument("--kinds", default="relu,add", help="relu (norm_act_pad), add (norm_add_pad)")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    if args.rounds < 3:
        p.error("--rounds must be at least 3 (a median with a spread)")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dtype = DTYPES[args.dtype]
    if args.device == "cpu" and dtype != torch.float32:
        p.error("the CPU kernels run float32 (and float64); use --dtype fp32 on CPU")
    shapes = SHAPES
    if args.shapes:
        shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";")]

    rows, records = [], []
    print(f"{load_note()}\ndtype: {args.dtype}  pad: {PAD}  "
          f"rounds: {args.rounds} x median of {args.repeats} after {args.warmup} warm-up")
    elem = torch.empty((), dtype=dtype).element_size()
    for shape in shapes:
        copy_gbs = None
        if args.device == "cuda":
            copy_gbs = copy_bandwidth(shape, dtype, args.device, args.repeats, args.warmup)
        for kind in args.kinds.split(","):
            r = bench_case(shape, kind, dtype, args.device, args.rounds, args.repeats,
                           args.warmup)
            rec = {"shape": list(shape), "op": kind, "dtype": args.dtype, "rounds_ms": r}
            for phase, backward in (("fwd", False), ("fwdbwd", True)):
                eager_ms, fused_ms = r[phase]["eager"], r[phase]["fused"]
                ratios = [e / f for e, f in zip(eager_ms, fused_ms)]
                f_ms = statistics.median(fused_ms)
                gbs = min_bytes(shape, elem, kind, backward) / f_ms / 1e6
                rec[f"{phase}_fused_gbs"] = gbs
                rec[f"{phase}_speedup"] = {"median": statistics.median(ratios),
                                           "min": min(ratios), "max": max(ratios)}
                row = ["x".join(map(str, shape)), kind, phase,
                       f"{statistics.median(eager_ms):.3f}", f"{f_ms:.3f}", f"{gbs:.1f}",
                       spread(ratios)]
                if copy_gbs is not None:
                    rec["copy_gbs"] = copy_gbs
                    row.append(f"{100 * gbs / copy_gbs:.0f}%")
                rows.append(row)
            records.append(rec)
    headers = ["shape", "op", "pass", "eager ms", "fused ms", "fused GB/s",
               "speed-up, median (min, max)"]
    if args.device == "cuda":
        headers.append("of copy BW")
    print_table(headers, rows, args.device)
    write_json(
        args.json,
        {
            "machine": machine(args.device),
            "device": args.device,
            "rounds": args.rounds,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "results": records,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
