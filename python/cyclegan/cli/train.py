"""cyclegan-train: argument parsing only; flags come from cyclegan.train.config.TrainConfig."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cyclegan import flags
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cyclegan-train", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=common.HelpFormatter)

    def add_resume(group) -> None:
        group.add_argument("--resume", metavar="RUN", default=None,
                           help="continue the run in folder RUN exactly where its latest "
                                "checkpoint stopped; its config is reused (only "
                                + ", ".join(flag(k) for k in RESUMABLE) + " may change)")

    flags.add_flags(p, TrainConfig, before={"preset": add_resume})
    common.add_version(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    values = vars(args)
    resume = values.pop("resume")
    explicit = flags.explicit(build_parser, argv)
    explicit.pop("resume", None)

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

    code = common.run("cyclegan-train", body,
                      interrupted="aborted by a second Ctrl-C: the last checkpoint written is "
                                  "what --resume continues from")
    if argv is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _leave_rank(code)
    return code


def _leave_rank(code: int) -> None:
    """End a rank of a torchrun run now, past the interpreter's exit: ranks of finished CPU
    runs have aborted there, in C++ destructors after the last Python frame ("terminate
    called without an active exception", SIGABRT; gloo's threads outlive the process group),
    in about 1 of 20 runs of the DDP test, failing the whole torchrun. Every file of the
    run is written and closed by the time train() returns, so skipping that exit loses
    nothing."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
