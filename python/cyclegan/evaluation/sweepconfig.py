"""cyclegan-sweep's configuration: its own flags, their defaults and bounds, once.

`cyclegan.cli.sweep` builds its parser from these fields (cyclegan.flags); the evaluation
flags take cyclegan-eval's defaults (EvalConfig). --grid / --config (which configurations
to train) and the training flags after `--` are the command's own. Torch-free, so
`cyclegan-sweep --help` starts at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from cyclegan import flags
from cyclegan.errors import UsageError
from cyclegan.evaluation.config import MIN_IMAGES, EvalConfig
from cyclegan.train.config import DEVICES

_opt = flags.option


@dataclass
class SweepConfig:
    data: str = _opt(flags.REQUIRED, "folder in the official layout (trainA/trainB/testA/testB) "
                     "or builtin:seasons", type=str)
    out: str = _opt(flags.REQUIRED, "report folder; runs go to REPORT/runs/<name>, where <name> "
                    "is built from the swept values, e.g. lambda_cyc-10_d_ratio-2",
                    metavar="REPORT", type=str)
    probe: list[str] | None = _opt(None, "extra images every configuration translates in both "
                                   "directions (centre-cropped, resized to the training size), "
                                   "beside the built-in green probe", type=str, nargs="+",
                                   action="extend", metavar="PATH")
    test_images: int = _opt(4, "test images per direction shown in the comparison grids",
                            flags.POSITIVE)
    eval_images: int = _opt(EvalConfig.max_images, "test images per domain the metrics use",
                            ((">=", MIN_IMAGES),))
    classifier_steps: int = _opt(EvalConfig.classifier_steps, "training steps of the domain "
                                 "classifier behind the domain score", flags.POSITIVE)
    inception: str | None = _opt(EvalConfig.inception, "local TorchScript feature extractor "
                                 "for FID/KID (see cyclegan-eval --help; uint8 input at 299 px); "
                                 "without it they are skipped", metavar="PATH", type=str)
    device: str | None = _opt(EvalConfig.device, "device for evaluation (training uses its own "
                              "--device flag after --); default: cuda when available, else cpu",
                              choices=DEVICES, type=str)
    quiet: bool = _opt(False, "only errors (training output included)")

    def checked(self) -> SweepConfig:
        """A copy with bounds and choices checked; UsageError naming the flag."""
        return flags.check(self, UsageError)
