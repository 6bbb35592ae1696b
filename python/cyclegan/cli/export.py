"""cyclegan-export: argument parsing only; the work is in cyclegan.export.to_onnx."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cyclegan import flags
from cyclegan.cli.common import add_version, exit_codes, run
from cyclegan.contract import parse_domains


def build_parser() -> argparse.ArgumentParser:
    # The contract and the quantize settings, not cyclegan.export: --help must not import torch.
    from cyclegan.contract import ATOL, NORMALIZATION
    from cyclegan.export.config import ExportConfig

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
    flags.add_flags(p, ExportConfig)
    add_version(p)
    return p


def _check_int8_args(args: argparse.Namespace) -> None:
    from cyclegan.errors import UsageError
    from cyclegan.export.quantize import check_size

    if not args.int8:
        if args.calibrate:
            raise UsageError("--calibrate is for --int8")
        return
    if args.calibrate is None:
        raise UsageError("--int8 needs --calibrate DIR: a folder of photos like the ones "
                         "you will translate")
    check_size(args.calibrate_size)


def _from_onnx(args: argparse.Namespace, fp32_onnx: Path, log) -> int:
    """--int8 of an fp32 .onnx file: everything checked, then calibration, then writing."""
    from cyclegan.errors import UsageError
    from cyclegan.export.quantize import check_source, load_photos, quantize_files

    if not args.int8 or args.fp16:
        raise UsageError(f"{args.checkpoint} is an ONNX model: only --int8 works from it "
                         "(--fp16 and fp32 export need the checkpoint)")
    photos = load_photos(args.calibrate, args.calibrate_images, log)
    out = Path(args.out)
    check_source(fp32_onnx, out)
    _, failures = quantize_files([fp32_onnx], photos, out, args.calibrate_size,
                                 args.calibration_method, log)
    return 1 if failures else 0


def _body(args: argparse.Namespace) -> int:
    from cyclegan.export.quantize import check_out, load_photos, onnx_source, quantize_files
    from cyclegan.export.to_onnx import export_checkpoint
    from cyclegan.infer.variants import precision_of, remove_stale

    def log(msg: str) -> None:
        if not args.quiet or "not written" in msg:
            print(msg, file=sys.stderr if "not written" in msg else sys.stdout)

    from cyclegan.export.config import ExportConfig

    ExportConfig(**flags.values(args, ExportConfig)).checked()
    _check_int8_args(args)
    fp32_onnx = onnx_source(args.checkpoint)
    if fp32_onnx is not None:
        return _from_onnx(args, fp32_onnx, log)
    photos = None
    if args.int8:  # checked before anything is written, into a folder known to be writable
        photos = load_photos(args.calibrate, args.calibrate_images, log)
        check_out(Path(args.out))
    directions = None if args.direction == "both" else (args.direction,)
    domains = parse_domains(args.domains) if args.domains else None
    written, failures = export_checkpoint(args.checkpoint, args.out, directions=directions,
                                          fp16=args.fp16, opset=args.opset, log=log,
                                          domains=domains)
    fp32_files = [f for f in written if precision_of(f) == "fp32"]
    if photos is not None:
        _, gate_failures = quantize_files(fp32_files, photos, None, args.calibrate_size,
                                          args.calibration_method, log)
        failures += gate_failures
    for fp32 in fp32_files:  # variants an earlier export left beside the files replaced
        remove_stale(fp32, log, replaced=True)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run("cyclegan-export", lambda: _body(args))


if __name__ == "__main__":
    sys.exit(main())
