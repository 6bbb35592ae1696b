"""cyclegan-infer: argument parsing only; the work is in cyclegan.infer (torch-free)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from cyclegan.cli.common import add_version, exit_codes, run

ENGINES = ("inprocess", "ray")

DESCRIPTION = """\
Translate a folder of images (recursive) or a single image with a CycleGAN generator.
Output keeps each file's relative path, name and size; existing outputs are skipped, so an
interrupted run is finished by running the same command again.

With INPUT and no --model, the bundled summer2winter generator (trained on real Yosemite
photos) is used; --list-models shows every bundled generator.

With no arguments: translate the sample images bundled with the package (synthetic
landscapes) using the bundled demo generator trained on such landscapes, into
./cyclegan-output, write a contact sheet there, and list the bundled generators."""

EPILOG = """\
{exit_codes}
An interrupted run keeps its finished outputs and leaves nothing partial: run the same
command again to finish it.

examples:
  cyclegan-infer photos/ winter/ --model G_A2B.onnx
  cyclegan-infer photos/ out/ --model run/checkpoints/latest.pt --direction B2A
  cyclegan-infer photo.jpg winter.png --model G_A2B.onnx
  cyclegan-infer /data/photos /data/out --model G_A2B.onnx --shard 3/8   (machine 3 of 8)
  cyclegan-infer s3://bucket/photos s3://bucket/winter --engine ray   (on a Ray cluster)"""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _place(text: str) -> Path | str:
    """A local path, or a URI kept as written (a Path would fold s3:// into s3:/)."""
    from cyclegan.infer.storage import is_uri

    return text if is_uri(text) else Path(text)


def _epilog() -> str:
    codes = exit_codes("some inputs failed (see cyclegan-failures.tsv in the output folder)")
    return EPILOG.format(exit_codes=textwrap.fill(codes, 90))


def _format_help() -> str:
    from cyclegan.images import FORMATS
    from cyclegan.infer.io import FALLBACK

    no_alpha = [name for name, f in FORMATS.items() if not f.alpha]
    return (f"output format: keep the input's (formats Pillow cannot write, e.g. gif, become "
            f"{FALLBACK}), or one of {', '.join(FORMATS)} "
            f"({', '.join(no_alpha)} drop{'s' if len(no_alpha) == 1 else ''} alpha, with a "
            "warning) (default: keep)")


def build_parser() -> argparse.ArgumentParser:
    from cyclegan.contract import DIRECTIONS, variant_path
    from cyclegan.images import DEFAULT_MAX_PIXELS
    from cyclegan.infer import bundled, variants
    from cyclegan.infer.io import format_choices
    from cyclegan.infer.plan import DEFAULT_OUTPUT
    from cyclegan.infer.runtime import DEVICES

    p = argparse.ArgumentParser(prog="cyclegan-infer", description=DESCRIPTION,
                                epilog=_epilog(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", type=_place,
                   help="image folder (searched recursively) or one image file "
                        "(default: the bundled sample images); with --engine ray also a "
                        "URI: s3://bucket/photos, gs://..., file:///...")
    p.add_argument("output", nargs="?", type=_place,
                   help=f"output folder, created if missing (default: ./{DEFAULT_OUTPUT}); "
                        "for a single input image this may also be an output file name; "
                        "with --engine ray also a URI")
    p.add_argument("--model", type=Path,
                   help="generator: an .onnx file (from cyclegan-export), or a cyclegan "
                        "checkpoint (.pt), which is exported to ONNX in memory (checked "
                        "against torch) and run by onnxruntime, or the name of a bundled "
                        f"model ({', '.join(bundled.MODELS)}; see --list-models) (default: "
                        f"{bundled.DEFAULT_MODEL}; with no INPUT, {bundled.DEMO_MODEL})")
    p.add_argument("--list-models", action="store_true",
                   help="list the bundled models and exit")
    p.add_argument("--direction", choices=DIRECTIONS, default=None,
                   help="which generator of a checkpoint to use (default: A2B); an .onnx "
                        "file holds one, and a different --direction is refused")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto uses onnxruntime's CUDA provider when a GPU is present, else "
                        "the CPU (default: auto)")
    p.add_argument("--precision", choices=variants.CHOICES, default="auto",
                   help="which variant of an .onnx model to run: auto takes "
                        f"{variant_path('G.onnx', variants.FASTEST['cpu']).name} on a CPU and "
                        f"{variant_path('G.onnx', variants.FASTEST['cuda']).name} on CUDA when "
                        "it sits beside G.onnx (from cyclegan-export --int8 / --fp16), else "
                        "the file given; a named precision must be there (default: auto)")
    p.add_argument("--batch-size", type=_positive, default=None,
                   help="images of equal size run together, up to this many (large images "
                        "run in smaller batches) (default: 8 on CUDA; 1 on a CPU, where "
                        "onnxruntime runs larger batches slower per image)")
    p.add_argument("--workers", type=_positive, default=None,
                   help="threads in each of the decode and the encode pools (default: "
                        "one per 8 CPU cores when the model runs on the CPU, which leaves "
                        "the cores to onnxruntime; every core with CUDA)")
    p.add_argument("--threads", type=_positive, default=None,
                   help="onnxruntime CPU threads (default: number of CPU cores)")
    p.add_argument("--format", choices=format_choices(), default="keep", help=_format_help())
    p.add_argument("--quality", type=int, default=95,
                   help="JPEG/WebP quality 1-100 (default: 95)")
    p.add_argument("--size", type=_positive, default=None,
                   help="resize so the shorter side is SIZE pixels (default: keep the size)")
    p.add_argument("--max-size", type=_positive, default=None,
                   help="downscale images whose longer side exceeds MAX_SIZE pixels "
                        "(default: no limit)")
    p.add_argument("--max-pixels", type=_positive, default=DEFAULT_MAX_PIXELS,
                   help="refuse images with more pixels than this, as decompression-bomb "
                        f"protection (default: {DEFAULT_MAX_PIXELS})")
    p.add_argument("--overwrite", action="store_true",
                   help="translate again even when the output exists (default: skip it)")
    p.add_argument("--shard", default="0/1",
                   help="i/n: do only every n-th image of the sorted input list starting "
                        "at i (0 <= i < n), to split one job over n machines (default: 0/1)")
    engine = p.add_argument_group("engine", "where the work runs (docs/inference.md, "
                                         "'Scaling out')")
    engine.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                     help="inprocess: this process's pipeline; ray: a Ray cluster through "
                          "Ray Data (pip install \"cyclegan[ray]\"): the one RAY_ADDRESS or "
                          "--ray-address names, else a local instance (default: inprocess)")
    engine.add_argument("--ray-address", default=None,
                     help="Ray cluster to connect to, e.g. auto or HOST:6379 (default: "
                          "$RAY_ADDRESS, else start a local instance)")
    engine.add_argument("--actors", type=_positive, default=None,
                     help="Ray actors, each holding one model (default: one per GPU of "
                          "the cluster, else as many as its CPU cores hold)")
    engine.add_argument("--cpus-per-actor", type=_positive, default=None,
                     help="CPU cores each Ray actor asks for (default: a GPU node's cores "
                          "per GPU; without GPUs 4, or a node's all when it has fewer)")
    p.add_argument("--contact-sheet", action="store_true",
                   help="also write contact_sheet.png (input | output pairs, up to 16) in "
                        "the output folder (default: only in the no-argument demo run)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or notes; the summary and errors are still printed")
    add_version(p)
    return p


def _inprocess_only(args: argparse.Namespace) -> None:
    from cyclegan.errors import UsageError

    for flag in ("ray_address", "actors", "cpus_per_actor"):
        if getattr(args, flag) is not None:
            raise UsageError(f"--{flag.replace('_', '-')} is for --engine ray")
    if any(isinstance(x, str) for x in (args.input, args.output)):
        raise UsageError("URIs (s3://, gs://, file://) are read and written by --engine ray")


def _body(args: argparse.Namespace) -> int:
    from cyclegan.images import ignore_pillow_bomb_warnings
    from cyclegan.infer import InferConfig, bundled, run
    from cyclegan.infer.plan import parse_shard

    if args.list_models:
        print(bundled.describe_models())
        return 0
    ignore_pillow_bomb_warnings()
    cfg = InferConfig(input=args.input, output=args.output, model=args.model,
                      direction=args.direction, device=args.device,
                      precision=args.precision,
                      batch_size=args.batch_size, workers=args.workers,
                      threads=args.threads, format=args.format, quality=args.quality,
                      size=args.size, max_size=args.max_size, max_pixels=args.max_pixels,
                      overwrite=args.overwrite, shard=parse_shard(args.shard),
                      contact_sheet=args.contact_sheet, progress=not args.quiet)
    log = (lambda m: None) if args.quiet else None
    if args.engine == "ray":
        from cyclegan.infer.ray_engine import RayOptions
        from cyclegan.infer.ray_engine import run as run_ray

        opts = RayOptions(args.ray_address, args.actors, args.cpus_per_actor)
        summary = run_ray(cfg, opts, log=log)
    else:
        _inprocess_only(args)
        summary = run(cfg, log=log)
    print(summary.report())
    if args.input is None and not args.quiet:
        print("\nbundled generators (cyclegan-infer PHOTOS OUT --model NAME; without --model: "
              f"{bundled.DEFAULT_MODEL}):\n" + bundled.describe_models())
    return summary.exit_code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run("cyclegan-infer", lambda: _body(args),
               interrupted="aborted; run the same command again to finish")


if __name__ == "__main__":
    sys.exit(main())
