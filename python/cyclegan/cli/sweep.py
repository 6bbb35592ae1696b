"""cyclegan-sweep: argument parsing only; the work is in cyclegan.sweep."""

from __future__ import annotations

import argparse
import shlex
import sys

import cyclegan
from cyclegan.cli import common
from cyclegan.evalconfig import EvalConfig
from cyclegan.train.config import DEVICES


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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", required=True,
                   help="folder in the official layout (trainA/trainB/testA/testB) or "
                        "builtin:seasons")
    p.add_argument("--out", required=True, metavar="REPORT",
                   help="report folder; runs go to REPORT/runs/<name>, where <name> is built "
                        "from the swept values, e.g. lambda_cyc-10_d_ratio-2")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--grid", nargs="+", metavar="KEY=V1,V2",
                   help="every combination of the listed values; KEY is a cyclegan-train "
                        "option without dashes (lambda_cyc, d_ratio, lambda_id, lr, ngf, ...)")
    g.add_argument("--config", action="append", metavar="K=V,K=V",
                   help="one explicit configuration; repeat for more")
    p.add_argument("--probe", nargs="+", action="extend", default=[], metavar="PATH",
                   help="extra images every configuration translates in both directions "
                        "(centre-cropped, resized to the training size), beside the built-in "
                        "green probe")
    p.add_argument("--test-images", type=int, default=4,
                   help="test images per direction shown in the comparison grids")
    # The evaluation flags' defaults are cyclegan-eval's (EvalConfig), not restated here.
    p.add_argument("--eval-images", type=int, default=EvalConfig.max_images,
                   help="test images per domain the metrics use")
    p.add_argument("--classifier-steps", type=int, default=EvalConfig.classifier_steps,
                   help="training steps of the domain classifier behind the domain score")
    p.add_argument("--inception", metavar="PATH", default=None,
                   help="local TorchScript feature extractor for FID/KID (see cyclegan-eval "
                        "--help; uint8 input at 299 px); without it they are skipped")
    p.add_argument("--device", choices=DEVICES, default=EvalConfig.device,
                   help="device for evaluation (training uses its own --device flag after "
                        "--); default: cuda when available, else cpu")
    p.add_argument("--quiet", action="store_true", help="only errors (training output included)")
    p.add_argument("--version", action="version", version=f"%(prog)s {cyclegan.__version__}")
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
        from cyclegan.sweep import parse_configs, parse_grid, run_sweep

        configs = parse_grid(args.grid) if args.grid else parse_configs(args.config)
        run_sweep(args.data, args.out, configs, train_args, probes=args.probe,
                  test_images=args.test_images, eval_images=args.eval_images,
                  device=args.device, inception=args.inception,
                  classifier_steps=args.classifier_steps, command=command, quiet=args.quiet)
        return 0

    return common.run("cyclegan-sweep", body,
                      interrupted="interrupted; rerun the same command to continue")


if __name__ == "__main__":
    sys.exit(main())
