"""cyclegan-infer: argument parsing only; the work is in cyclegan.infer (torch-free)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from cyclegan.cli import common
from cyclegan.cli.common import exit_codes, run
from cyclegan.errors import UsageError

ENGINES = ("inprocess", "ray")
# Where the work runs: options of the engine (cyclegan.infer.ray_engine.RayOptions), not of
# the translation (InferConfig).
ENGINE_FLAGS = ("engine", "ray_address", "actors", "cpus_per_actor")

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
    from cyclegan.infer.config import flag, flag_fields, resolve

    p = argparse.ArgumentParser(prog="cyclegan-infer", description=DESCRIPTION,
                                epilog=_epilog(), formatter_class=_Formatter)
    for f in flag_fields():
        meta = f.metadata
        kwargs = {k: meta[k] for k in ("type", "metavar") if k in meta}
        if "choices" in meta:
            kwargs["choices"] = resolve(meta["choices"])
        if meta.get("positional"):
            p.add_argument(f.name, nargs="?", help=resolve(meta["help"]), **kwargs)
            continue
        if isinstance(f.default, bool):
            p.add_argument(flag(f.name), dest=f.name, action="store_true",
                           help=resolve(meta["help"]))
            continue
        if f.name == "model":
            p.add_argument("--list-models", action="store_true",
                           help="list the bundled models and exit")
        # A flag parsed later (parse=...) takes its text; its default is shown as text.
        default = meta.get("text", f.default)
        kwargs.setdefault("type", type(default))
        p.add_argument(flag(f.name), dest=f.name, default=default, help=resolve(meta["help"]),
                       **kwargs)
    engine = p.add_argument_group("engine", "where the work runs (docs/inference.md, "
                                            "'Scaling out')")
    engine.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                        help="inprocess: this process's pipeline; ray: a Ray cluster through "
                             "Ray Data (pip install \"cyclegan[ray]\"): the one RAY_ADDRESS or "
                             "--ray-address names, else a local instance")
    engine.add_argument("--ray-address", default=None,
                        help="Ray cluster to connect to, e.g. auto or HOST:6379 (default: "
                             "$RAY_ADDRESS, else start a local instance)")
    engine.add_argument("--actors", type=int, default=None,
                        help="Ray actors, each holding one model (default: one per GPU of "
                             "the cluster, else as many as its CPU cores hold)")
    engine.add_argument("--cpus-per-actor", type=int, default=None,
                        help="CPU cores each Ray actor asks for (default: a GPU node's cores "
                             "per GPU; without GPUs 4, or a node's all when it has fewer)")
    common.add_version(p)
    return p


def _inprocess_only(args: argparse.Namespace) -> None:
    for name in ENGINE_FLAGS[1:]:
        if getattr(args, name) is not None:
            raise UsageError(f"--{name.replace('_', '-')} is for --engine ray")


def _body(args: argparse.Namespace) -> int:
    from cyclegan.images import ignore_pillow_bomb_warnings
    from cyclegan.infer import InferConfig, bundled, run

    if args.list_models:
        print(bundled.describe_models())
        return 0
    ignore_pillow_bomb_warnings()
    values = dict(vars(args))
    values.pop("list_models")
    engine = [values.pop(k) for k in ENGINE_FLAGS]
    cfg = InferConfig(**values)
    log = (lambda m: None) if args.quiet else None
    for name, value in zip(("--actors", "--cpus-per-actor"), engine[2:]):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be >= 1, got {value}")
    if engine[0] == "ray":
        from cyclegan.infer.ray_engine import RayOptions
        from cyclegan.infer.ray_engine import run as run_ray

        summary = run_ray(cfg, RayOptions(*engine[1:]), log=log)
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
