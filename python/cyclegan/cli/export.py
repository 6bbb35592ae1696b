"""cyclegan-export: argument parsing only; the work is in cyclegan.export."""

from __future__ import annotations

import argparse
import sys

import cyclegan


def build_parser() -> argparse.ArgumentParser:
    from cyclegan.export import ATOL, DEFAULT_OPSET, NORMALIZATION

    p = argparse.ArgumentParser(
        prog="cyclegan-export",
        description="Export CycleGAN generators from a checkpoint to ONNX (standard ops, "
                    "dynamic batch/height/width). Every file is run with onnxruntime and "
                    "compared with PyTorch before it is written (max abs diff <= "
                    f"{ATOL['fp32']:g} for fp32, <= {ATOL['fp16']:g} for fp16); a model "
                    "that fails is not written and the exit status is 1.",
        epilog=f"Model I/O: {NORMALIZATION}. Exit status: 0 all written, 1 a model failed "
               "verification, 2 usage error (missing or unreadable checkpoint).",
    )
    p.add_argument("checkpoint", help="checkpoint file (.pt) or a training run folder "
                   "(its checkpoints/latest.pt is used)")
    p.add_argument("--out", required=True, help="output folder for G_A2B.onnx / G_B2A.onnx "
                   "(created if missing)")
    p.add_argument("--direction", choices=["A2B", "B2A", "both"], default="both",
                   help="which generator to export (default: both; with 'both', a direction "
                        "the checkpoint lacks is skipped with a note)")
    p.add_argument("--fp16", action="store_true",
                   help="also write G_<dir>.fp16.onnx: float16 weights and compute, float32 "
                        "input/output, for GPUs (default: off)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, >= 17 (default: {DEFAULT_OPSET})")
    p.add_argument("--quiet", action="store_true", help="print errors only")
    p.add_argument("--version", action="version", version=f"%(prog)s {cyclegan.__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cyclegan.export import ExportError, export_checkpoint

    def log(msg: str) -> None:
        if not args.quiet or "not written" in msg:
            print(msg, file=sys.stderr if "not written" in msg else sys.stdout)

    directions = None if args.direction == "both" else (args.direction,)
    try:
        _, failures = export_checkpoint(args.checkpoint, args.out, directions=directions,
                                        fp16=args.fp16, opset=args.opset, log=log)
    except ExportError as exc:
        print(f"cyclegan-export: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cyclegan-export: error: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
