"""Fused norm ops vs the eager PyTorch composition they replace.

Eager: nn.InstanceNorm2d -> relu -> nn.ReflectionPad2d (and the `+ skip` variant).
Reports medians in ms, achieved GB/s against the minimum bytes an op must move
(read the input once, write the padded output once; backward reads the output
gradient and the input and writes the input gradient), and the speed-up.
On CUDA it also measures a device-to-device copy of the same size as the bandwidth
ceiling. Example: python benchmarks/bench_ops.py --json bench-results/ops_cpu.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median_ms, print_table, write_json  # noqa: E402

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


def bench_case(shape, kind, dtype, device, repeats, warmup):
    x = torch.randn(shape, device=device).to(dtype).requires_grad_()
    skip = torch.randn(shape, device=device).to(dtype).requires_grad_() if kind == "add" else None
    gy = torch.randn_like(eager(x, skip))
    results = {}
    for name, fn in (("eager", eager), ("fused", fused)):

        def forward(fn=fn):
            with torch.no_grad():
                fn(x, skip)

        def forward_backward(fn=fn):
            inputs = (x,) if skip is None else (x, skip)
            torch.autograd.grad(fn(x, skip), inputs, gy)

        results[name] = {
            "fwd_ms": median_ms(forward, device, repeats, warmup),
            "fwdbwd_ms": median_ms(forward_backward, device, repeats, warmup),
        }
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--dtype", default="fp32", choices=DTYPES, help="data type (default: fp32)")
    p.add_argument("--repeats", type=int, default=25, help="timed repeats per case (default 25)")
    p.add_argument("--warmup", type=int, default=5, help="untimed warm-up runs (default 5)")
    p.add_argument("--shapes", default=None, help="e.g. '8,256,64,64;1,64,256,256'")
    p.add_argument("--kinds", default="relu,add", help="relu (norm_act_pad), add (norm_add_pad)")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    dtype = DTYPES[args.dtype]
    if args.device == "cpu" and dtype != torch.float32:
        p.error("the CPU kernels run float32 (and float64); use --dtype fp32 on CPU")
    shapes = SHAPES
    if args.shapes:
        shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";")]

    rows, records = [], []
    print(f"machine: {machine(args.device)}  dtype: {args.dtype}  pad: {PAD}")
    for shape in shapes:
        copy_gbs = None
        if args.device == "cuda":
            copy_gbs = copy_bandwidth(shape, dtype, args.device, args.repeats, args.warmup)
        for kind in args.kinds.split(","):
            r = bench_case(shape, kind, dtype, args.device, args.repeats, args.warmup)
            elem = torch.empty((), dtype=dtype).element_size()
            rec = {"shape": list(shape), "op": kind, "dtype": args.dtype, **r}
            for phase, backward in (("fwd", False), ("fwdbwd", True)):
                nbytes = min_bytes(shape, elem, kind, backward)
                e_ms, f_ms = r["eager"][f"{phase}_ms"], r["fused"][f"{phase}_ms"]
                gbs = nbytes / f_ms / 1e6
                rec[f"{phase}_fused_gbs"] = gbs
                rec[f"{phase}_speedup"] = e_ms / f_ms
                row = [
                    "x".join(map(str, shape)),
                    kind,
                    phase,
                    f"{e_ms:.3f}",
                    f"{f_ms:.3f}",
                    f"{nbytes / e_ms / 1e6:.1f}",
                    f"{gbs:.1f}",
                    f"{e_ms / f_ms:.2f}x",
                ]
                if copy_gbs is not None:
                    rec["copy_gbs"] = copy_gbs
                    row.append(f"{100 * gbs / copy_gbs:.0f}%")
                rows.append(row)
            records.append(rec)
    headers = [
        "shape",
        "op",
        "pass",
        "eager ms",
        "fused ms",
        "eager GB/s",
        "fused GB/s",
        "speed-up",
    ]
    if args.device == "cuda":
        headers.append("of copy BW")
    print_table(headers, rows)
    write_json(
        args.json,
        {
            "machine": machine(args.device),
            "device": args.device,
            "repeats": args.repeats,
            "results": records,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
