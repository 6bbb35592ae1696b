"""cyclegan-export: argument parsing only; the work is in cyclegan.export."""

from __future__ import annotations

import argparse
import sys

from cyclegan.cli.common import add_version, exit_codes, run


def build_parser() -> argparse.ArgumentParser:
    # The contract, not cyclegan.export: --help must not import torch.
    from cyclegan.contract import (
        ATOL,
        DEFAULT_OPSET,
        DIRECTIONS,
        MAX_OPSET,
        MIN_OPSET,
        NORMALIZATION,
    )

    p = argparse.ArgumentParser(
        prog="cyclegan-export",
        description="Export CycleGAN generators from a checkpoint to ONNX (standard ops, "
                    "dynamic batch/height/width). Every file is run with onnxruntime and "
                    "compared with PyTorch before it is written (max abs diff <= "
                    f"{ATOL['fp32']:g} for fp32, <= {ATOL['fp16']:g} for fp16); a model "
                    "that fails is not written and the exit status is 1.",
        epilog=f"Model I/O: {NORMALIZATION}. "
               + exit_codes("a model failed verification (the others are still written)"),
    )
    p.add_argument("checkpoint", help="checkpoint file (.pt) or a training run folder "
                   "(its checkpoints/latest.pt is used)")
    p.add_argument("--out", required=True, help="output folder for G_A2B.onnx / G_B2A.onnx "
                   "(created if missing)")
    p.add_argument("--direction", choices=[*DIRECTIONS, "both"], default="both",
                   help="which generator to export (default: both; with 'both', a direction "
                        "the checkpoint lacks is skipped with a note)")
    p.add_argument("--fp16", action="store_true",
                   help="also write G_<dir>.fp16.onnx: float16 weights and compute, float32 "
                        "input/output, for GPUs (default: off)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, {MIN_OPSET}..{MAX_OPSET} (default: {DEFAULT_OPSET})")
    p.add_argument("--quiet", action="store_true", help="print errors only")
    add_version(p)
    return p


def _body(args: argparse.Namespace) -> int:
    from cyclegan.export import export_checkpoint

    def log(msg: str) -> None:
        if not args.quiet or "not written" in msg:
            print(msg, file=sys.stderr if "not written" in msg else sys.stdout)

    directions = None if args.direction == "both" else (args.direction,)
    _, failures = export_checkpoint(args.checkpoint, args.out, directions=directions,
                                    fp16=args.fp16, opset=args.opset, log=log)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run("cyclegan-export", lambda: _body(args))


if __name__ == "__main__":
    sys.exit(main())
