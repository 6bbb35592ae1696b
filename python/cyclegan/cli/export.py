"""cyclegan-export: argument parsing only; the work is in cyclegan.export.to_onnx."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cyclegan.cli.common import add_version, exit_codes, run
from cyclegan.contract import parse_domains


def build_parser() -> argparse.ArgumentParser:
    # The contract, not cyclegan.export.to_onnx: --help must not import torch.
    from cyclegan.contract import (
        ATOL,
        DEFAULT_OPSET,
        DEFAULT_WORK_SIZE,
        DIRECTIONS,
        MAX_OPSET,
        MIN_OPSET,
        NORMALIZATION,
    )
    from cyclegan.export.quantize import (
        DEFAULT_IMAGES,
        DEFAULT_METHOD,
        GATE_MEDIAN_DB,
        GATE_WORST_DB,
        HELD_BACK,
        METHODS,
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
                   "(its checkpoints/latest.pt is used); with --int8 also an fp32 .onnx "
                   "file or a bundled model's name (see cyclegan-infer --list-models)")
    p.add_argument("--out", required=True, help="output folder for G_A2B.onnx / G_B2A.onnx "
                   "(created if missing)")
    p.add_argument("--direction", choices=[*DIRECTIONS, "both"], default="both",
                   help="which generator to export (default: both; with 'both', a direction "
                        "the checkpoint lacks is skipped with a note)")
    p.add_argument("--domains", metavar="NAME_A,NAME_B",
                   help="domain names to record in the files' metadata (e.g. summer,winter; "
                        "default: the names the checkpoint was trained with)")
    p.add_argument("--fp16", action="store_true",
                   help="also write G_<dir>.fp16.onnx: float16 weights and compute, float32 "
                        "input/output, for GPUs (default: off)")
    p.add_argument("--int8", action="store_true",
                   help="also write G_<dir>.int8.onnx: static int8 (QDQ) calibrated on "
                        "--calibrate photos, for CPUs; written only if its output stays "
                        f"within median {GATE_MEDIAN_DB:g} dB / worst {GATE_WORST_DB:g} dB "
                        "PSNR of fp32 on held-back photos (default: off)")
    p.add_argument("--calibrate", type=Path, metavar="DIR",
                   help="folder of photos like the ones you will translate (needed by --int8)")
    p.add_argument("--calibrate-images", type=int, default=DEFAULT_IMAGES, metavar="N",
                   help=f"photos taken from DIR, 1 in {HELD_BACK} held back for the quality "
                        f"check (default: {DEFAULT_IMAGES})")
    p.add_argument("--calibrate-size", type=int, metavar="SIZE",
                   help="scale calibration photos so their shorter side is SIZE pixels "
                        "(default: the size the model works at, "
                        f"{DEFAULT_WORK_SIZE} unless the model records one); photos are "
                        "read one at a time, so memory stays bounded")
    p.add_argument("--calibration-method", choices=METHODS, default=DEFAULT_METHOD,
                   help=f"how activation ranges are set (default: {DEFAULT_METHOD})")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, {MIN_OPSET}..{MAX_OPSET} (default: {DEFAULT_OPSET})")
    p.add_argument("--quiet", action="store_true", help="print errors only")
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
    if args.calibrate_images < 2:
        raise UsageError(f"--calibrate-images must be >= 2, got {args.calibrate_images}")
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
