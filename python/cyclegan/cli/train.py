"""cyclegan-train: argument parsing only; flags come from cyclegan.train.config.TrainConfig."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from cyclegan.cli import common
from cyclegan.train.config import RESUMABLE, TrainConfig, flag, with_preset

DESCRIPTION = (
    "Train a CycleGAN (ResNet generators, 70x70 PatchGAN discriminators, LSGAN losses, cycle "
    "and identity L1) into a run folder: config.json, log.jsonl, samples/epoch_XXXX.png, "
    "checkpoints/latest.pt and checkpoints/epoch_XXXX.pt. Several processes: torchrun "
    "--nproc-per-node N -m cyclegan.train ... (DDP; --batch-size is per process).")
EPILOG = (
    "examples: cyclegan-train --data builtin:seasons --image-size 128 --out runs/seasons ; "
    "cyclegan-train --data datasets/summer2winter_yosemite --out runs/s2w ; "
    "cyclegan-train --resume runs/s2w\n\n"
    + common.exit_codes("training diverged (NaN or inf loss; the last good checkpoint is "
                        "kept)"))


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Appends "(default: X)" unless there is no meaningful default or the help has one."""

    def _get_help_string(self, action):
        # Switches (nargs 0) have no value to show; --no-fused's default is fused=True.
        if action.default is None or action.nargs == 0 or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)

    def _fill_text(self, text, width, indent):
        return "\n\n".join(argparse.HelpFormatter._fill_text(self, t, width, indent)
                           for t in text.split("\n\n"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cyclegan-train", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=_HelpFormatter)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(TrainConfig):
        meta = dict(f.metadata)
        if "help" not in meta:
            continue
        g = groups.get(meta["group"]) or groups.setdefault(meta["group"],
                                                           p.add_argument_group(meta["group"]))
        kwargs = {k: v for k, v in meta.items() if k not in ("help", "group", "flag", "bounds")}
        if isinstance(f.default, bool):
            # --no-fused stores False into `fused`; the others are plain switches.
            action = "store_false" if f.default else "store_true"
            g.add_argument(flag(f.name), dest=f.name, action=action, help=meta["help"])
            continue
        kwargs.setdefault("type", type(f.default))
        g.add_argument(flag(f.name), dest=f.name, default=f.default, help=meta["help"], **kwargs)
        if f.name == "out":
            g.add_argument("--resume", metavar="RUN", default=None,
                           help="continue the run in folder RUN exactly where its latest "
                                "checkpoint stopped; its config is reused (only "
                                + ", ".join(flag(k) for k in RESUMABLE) + " may change)")
    common.add_version(p)
    return p


def _given(argv: list[str] | None) -> dict:
    """The flags the user wrote (even when equal to a default), for --resume and --preset."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    given.pop("resume", None)
    return given


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    values = vars(args)
    resume = values.pop("resume")
    explicit = _given(argv)

    def body() -> int:
        from cyclegan.runlayout import latest_checkpoint
        from cyclegan.train.config import resume_config
        from cyclegan.train.loop import train

        cfg = (resume_config(resume, explicit) if resume is not None
               else TrainConfig(**with_preset(values, explicit)))
        summary = train(cfg)
        if summary["rank"] != 0:
            return summary["exit_code"]
        if summary["signal"]:
            print(f"cyclegan-train: {summary['signal']}: stopped after step {summary['step']} "
                  f"and saved {latest_checkpoint(Path(summary['run']))}; continue with: "
                  f"cyclegan-train --resume {summary['run']}", file=sys.stderr)
        elif not cfg.quiet:
            state = "finished" if summary["finished"] else "stopped"
            print(f"{state} at step {summary['step']} (epoch {summary['epoch']}): "
                  f"{summary['run']}")
        return summary["exit_code"]

    return common.run("cyclegan-train", body,
                      interrupted="aborted by a second Ctrl-C: the last checkpoint written is "
                                  "what --resume continues from")


if __name__ == "__main__":
    sys.exit(main())
