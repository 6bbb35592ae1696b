"""cyclegan-infer: argument parsing only; the work is in cyclegan.infer (torch-free)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from cyclegan import flags
from cyclegan.cli import common
from cyclegan.cli.common import exit_codes, run

DESCRIPTION = """\
Translate a folder of images (recursive) or a single image with a CycleGAN generator;
video clips too (pip install "cyclegan[video]"), with their timing, rotation and audio.
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
  cyclegan-infer clip.mp4 winter.mp4   (a video; --temporal, --video-codec, --crf)
  cyclegan-infer /data/photos /data/out --model G_A2B.onnx --shard 3/8   (machine 3 of 8)
  cyclegan-infer s3://bucket/photos s3://bucket/winter --engine ray   (on a Ray cluster)"""


def _epilog() -> str:
    codes = exit_codes("some inputs failed (see cyclegan-failures.tsv in the output folder)")
    return EPILOG.format(exit_codes=textwrap.fill(codes, 90))


class _Formatter(common.HelpFormatter):
    """Defaults appended to the flags' help; the description and epilog kept line by line."""

    _fill_text = argparse.RawDescriptionHelpFormatter._fill_text


def build_parser() -> argparse.ArgumentParser:
    from cyclegan.infer.config import EngineConfig, InferConfig

    p = argparse.ArgumentParser(prog="cyclegan-infer", description=DESCRIPTION,
                                epilog=_epilog(), formatter_class=_Formatter)

    def add_list_models(where) -> None:
        where.add_argument("--list-models", action="store_true",
                           help="list the bundled models and exit")

    flags.add_flags(p, InferConfig, before={"model": add_list_models})
    flags.add_flags(p, EngineConfig, sections={
        "engine": "where the work runs (docs/inference.md, 'Scaling out')"})
    common.add_version(p)
    return p


def _body(args: argparse.Namespace) -> int:
    from cyclegan.images import ignore_pillow_bomb_warnings
    from cyclegan.infer import InferConfig, bundled, run
    from cyclegan.infer.config import EngineConfig

    if args.list_models:
        print(bundled.describe_models())
        return 0
    ignore_pillow_bomb_warnings()
    cfg = InferConfig(**flags.values(args, InferConfig))
    engine = EngineConfig(**flags.values(args, EngineConfig)).checked()
    log = (lambda m: None) if args.quiet else None
    if engine.engine == "ray":
        from cyclegan.infer.ray_engine import run as run_ray

        summary = run_ray(cfg, engine.ray_options(), log=log)
    else:
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
