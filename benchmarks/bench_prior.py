"""Size and CPU speed of --arch resnet-prior against the plain ResNet generator, as ONNX
files run by onnxruntime (what cyclegan-infer runs), at the bundled models' shape.

    python benchmarks/bench_prior.py [--ngf 32] [--blocks 6] [--sizes 128,256] [--json OUT]

Both generators are built with random weights (size and speed do not depend on them),
exported and verified by cyclegan.export, then timed interleaved: per round, each size,
each file, the median of --repeats runs of one image; the ratio prior / plain per round.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from cyclegan.export.to_onnx import export_generator
from cyclegan.models import ModelConfig, build_generator, init_weights

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_note, machine, print_table, spread, time_interleaved, write_json  # noqa: E402

ARCHS = ("resnet", "resnet-prior")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ngf", type=int, default=32)
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--sizes", default="128,256")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    print(machine("cpu"), load_note(), sep="\n")
    sessions, sizes_mb = {}, {}
    for arch in ARCHS:
        torch.manual_seed(0)
        cfg = ModelConfig(ngf=args.ngf, n_blocks=args.blocks, arch=arch, upsample="bilinear")
        g = build_generator(cfg, fused=False)
        init_weights(g)
        data, _ = export_generator(g, {"config": cfg.to_dict()}, "A2B")
        sizes_mb[arch] = len(data) / 1e6
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        sessions[arch] = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    cases = {}
    for size in (int(s) for s in args.sizes.split(",")):
        x = np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
        for arch, s in sessions.items():
            cases[(size, arch)] = (lambda s=s, x=x: s.run(None, {"input": x}))
    times = time_interleaved(cases, "cpu", args.rounds, args.repeats, warmup=2)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        plain, prior = times[(size, "resnet")], times[(size, "resnet-prior")]
        rows.append([size, f"{np.median(plain):.1f}", f"{np.median(prior):.1f}",
                     spread([b / a for a, b in zip(plain, prior)])])
    print(f"ONNX file (fp32): resnet {sizes_mb['resnet']:.2f} MB, resnet-prior "
          f"{sizes_mb['resnet-prior']:.2f} MB (ngf {args.ngf}, {args.blocks} blocks)")
    print_table(["px", "resnet ms", "resnet-prior ms", "prior / plain"], rows)
    write_json(args.json, {"sizes_mb": sizes_mb, "rows": rows, "load": load_note()})


if __name__ == "__main__":
    main()
