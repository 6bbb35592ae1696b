"""cyclegan-sweep: argument parsing only; the work is in cyclegan.evaluation.sweep."""

from __future__ import annotations

import argparse
import shlex
import sys

from cyclegan import flags
from cyclegan.cli import common
from cyclegan.evaluation.sweepconfig import SweepConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cyclegan-sweep",
        usage="%(prog)s --data SPEC --out REPORT (--grid KEY=V1,V2 ... | --config K=V,K=V ...) "
              "[options] [-- TRAIN FLAGS ...]",
        description="Train several CycleGAN configurations with everything else shared (each "
                    "in its own `python -m cyclegan.train` process, into REPORT/runs/<name>), "
                    "then write a report to REPORT: grid_A2B.png / grid_B2A.png (test images "
                    "translated by every configuration), probes_A2B.png / probes_B2A.png (a "
                    "built-in green fruit probe plus --probe images), metrics.md / .csv / "
                    ".json (cyclegan-eval's domain score, structure SSIM, paired PSNR/SSIM/L1, "
                    "training steps and time) and index.html. Rerunning continues: finished "
                    "configurations are not retrained, unfinished ones resume. Flags after "
                    "`--` go to every training run (e.g. -- --steps 300 --image-size 64).",
        epilog="Example: cyclegan-sweep --data builtin:seasons --out reports/seasons --grid "
               "lambda_cyc=10,5 d_ratio=2,1 -- --steps 2000 --image-size 64 --ngf 32",
        formatter_class=common.HelpFormatter,
    )

    def add_grid_or_config(where) -> None:
        g = where.add_mutually_exclusive_group(required=True)
        g.add_argument("--grid", nargs="+", metavar="KEY=V1,V2",
                       help="every combination of the listed values; KEY is a cyclegan-train "
                            "option without dashes (lambda_cyc, d_ratio, lambda_id, lr, ngf, "
                            "...)")
        g.add_argument("--config", action="append", metavar="K=V,K=V",
                       help="one explicit configuration; repeat for more")

    flags.add_flags(p, SweepConfig, before={"probe": add_grid_or_config})
    common.add_version(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, train_args = argv[:cut], argv[cut + 1:]
    args = build_parser().parse_args(argv)
    if args.quiet and "--quiet" not in train_args:
        train_args.append("--quiet")
    command = shlex.join(["cyclegan-sweep", *argv] + (["--", *train_args] if train_args else []))

    def body() -> int:
        from cyclegan.evaluation.sweep import run_sweep
        from cyclegan.evaluation.sweepgrid import parse_configs, parse_grid

        cfg = SweepConfig(**flags.values(args, SweepConfig)).checked()
        configs = parse_grid(args.grid) if args.grid else parse_configs(args.config)
        run_sweep(cfg.data, cfg.out, configs, train_args, probes=cfg.probe,
                  test_images=cfg.test_images, eval_images=cfg.eval_images,
                  device=cfg.device, inception=cfg.inception,
                  classifier_steps=cfg.classifier_steps, command=command, quiet=cfg.quiet)
        return 0

    return common.run("cyclegan-sweep", body,
                      interrupted="interrupted; rerun the same command to continue")


if __name__ == "__main__":
    sys.exit(main())
