"""cyclegan-infer: argument parsing only; the work is in cyclegan.infer (torch-free)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from cyclegan.cli import common
from cyclegan.cli.common import exit_codes, run

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
  cyclegan-infer /data/photos /data/out --model G_A2B.onnx --shard 3/8   (machine 3 of 8)"""


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
    common.add_version(p)
    return p


def _body(args: argparse.Namespace) -> int:
    from cyclegan.images import ignore_pillow_bomb_warnings
    from cyclegan.infer import InferConfig, bundled, run

    if args.list_models:
        print(bundled.describe_models())
        return 0
    ignore_pillow_bomb_warnings()
    values = vars(args)
    values.pop("list_models")
    cfg = InferConfig(**values)
    summary = run(cfg, log=(lambda m: None) if args.quiet else None)
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
