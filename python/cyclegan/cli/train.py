"""cyclegan-train: argument parsing only; the work is in cyclegan.train."""

from __future__ import annotations

import argparse
import sys

import cyclegan


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" unless there is no meaningful default or the help has one."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cyclegan-train",
        description="Train a CycleGAN (ResNet generators, 70x70 PatchGAN discriminators, "
                    "LSGAN losses, cycle and identity L1) into a run folder: config.json, "
                    "log.jsonl, samples/epoch_XXXX.png, checkpoints/latest.pt and "
                    "checkpoints/epoch_XXXX.pt. Several processes: torchrun "
                    "--nproc-per-node N -m cyclegan.train ... (DDP; --batch-size is per "
                    "process).",
        epilog="Examples: cyclegan-train --data builtin:seasons --image-size 128 --out "
               "runs/seasons ; cyclegan-train --data datasets/summer2winter_yosemite --out "
               "runs/s2w ; cyclegan-train --resume runs/s2w",
        formatter_class=_HelpFormatter,
    )
    g = p.add_argument_group("run")
    g.add_argument("--data", default="builtin:seasons",
                   help="folder in the official layout (trainA/, trainB/) or builtin:seasons "
                        "(procedural summer/winter landscapes, no download)")
    g.add_argument("--out", default="runs/cyclegan", help="run folder (created; must not hold "
                   "a run already)")
    g.add_argument("--resume", metavar="RUN", default=None,
                   help="continue the run in folder RUN exactly where its latest checkpoint "
                        "stopped; its config is reused (only --steps, --epochs, "
                        "--decay-epochs, --log-every, --save-every, --workers, --quiet, "
                        "--device, --no-fused, --channels-last may change)")
    g.add_argument("--epochs", type=int, default=100, help="epochs at the initial learning rate")
    g.add_argument("--decay-epochs", type=int, default=100,
                   help="further epochs with the learning rate decaying linearly to 0")
    g.add_argument("--steps", type=int, default=None,
                   help="stop after this many optimizer steps in total (and checkpoint); "
                        "default: run all epochs")
    g.add_argument("--save-every", type=int, default=10,
                   help="also keep checkpoints/epoch_XXXX.pt every this many epochs")
    g.add_argument("--log-every", type=int, default=50, help="steps between log.jsonl lines")
    g.add_argument("--workers", type=int, default=2, help="data loading worker processes")
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    g = p.add_argument_group("data and model")
    g.add_argument("--batch-size", type=int, default=1, help="images per domain per step")
    g.add_argument("--image-size", type=int, default=256,
                   help="training crop size (multiple of 4)")
    g.add_argument("--load-size", type=int, default=None,
                   help="images are resized to this before the random crop; default: "
                        "image size * 286/256 (286 for 256)")
    g.add_argument("--ngf", type=int, default=64, help="generator width")
    g.add_argument("--ndf", type=int, default=64, help="discriminator width")
    g.add_argument("--n-blocks", type=int, default=None,
                   help="residual blocks in the generator; default: 9 for --image-size >= "
                        "256, else 6 (as in the paper)")

    g.add_argument("--upsample", choices=["deconv", "resize", "bilinear"], default="deconv",
                   help="generator upsampling: deconv = the official transposed convolution "
                        "(checkerboard artifacts); resize / bilinear = x2 nearest / bilinear "
                        "upsampling then a 3x3 convolution (artifact-free)")

    g = p.add_argument_group("recipe")
    g.add_argument("--lambda-cyc", type=float, default=10.0, help="weight of the cycle L1 loss")
    g.add_argument("--lambda-id", type=float, default=0.5,
                   help="identity L1 weight as a fraction of --lambda-cyc (0 disables)")
    g.add_argument("--d-ratio", type=float, default=2.0,
                   help="discriminator loss is divided by this (2 = the official x0.5)")
    g.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate")
    g.add_argument("--beta1", type=float, default=0.5, help="Adam beta1 (beta2 is 0.999)")
    g.add_argument("--pool-size", type=int, default=50,
                   help="generated images kept for the discriminators (0 disables the pool)")
    g.add_argument("--seed", type=int, default=0, help="random seed (weights, data order)")

    g = p.add_argument_group("performance")
    g.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="default: cuda when available, else cpu")
    g.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16 runs the networks under torch.autocast")
    g.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    g.add_argument("--no-fused", action="store_true",
                   help="plain PyTorch layers instead of the fused norm/act/pad kernels")
    g.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms (slower); with the same seed, runs and "
                        "resumed runs are bit-identical on CPU")
    p.add_argument("--version", action="version", version=f"%(prog)s {cyclegan.__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from cyclegan.checkpoint import CheckpointError
    from cyclegan.data import ImageError
    from cyclegan.train import NonFiniteLossError, TrainConfig, TrainError, resume_config, train

    values = vars(args)
    explicit = {k: v for k, v in values.items() if v != parser.get_default(k)}
    for d in (values, explicit):
        if "no_fused" in d:
            d["fused"] = not d.pop("no_fused")
    resume = values.pop("resume")
    explicit.pop("resume", None)
    try:
        cfg = resume_config(resume, explicit) if resume is not None else TrainConfig(**values)
        summary = train(cfg)
    except NonFiniteLossError as exc:
        print(f"cyclegan-train: error: {exc}", file=sys.stderr)
        return 1
    except (TrainError, CheckpointError, ImageError, ValueError, OSError) as exc:
        print(f"cyclegan-train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cyclegan-train: interrupted; resume with --resume from the last checkpoint",
              file=sys.stderr)
        return 130
    if not cfg.quiet and summary["rank"] == 0:
        state = "finished" if summary["finished"] else "stopped"
        print(f"{state} at step {summary['step']} (epoch {summary['epoch']}): {summary['run']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
