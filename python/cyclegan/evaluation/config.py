"""cyclegan-eval's configuration: every flag, its default, its help and its bounds, once.

`cyclegan.cli.eval` builds its parser from these fields (cyclegan.flags), and evaluate()
takes its keywords by the same names and checks them here, so a Python caller gets the
command line's defaults and one-line errors. Torch-free, so `cyclegan-eval --help` starts
at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cyclegan import flags
from cyclegan.contract import DEFAULT_WORK_SIZE, DIRECTIONS, parse_domains
from cyclegan.errors import UsageError
from cyclegan.infer.detail import DEFAULT_DETAIL, DETAILS
from cyclegan.train.config import DEVICES

# Value ranges an --inception extractor may expect (cyclegan.evaluation.judge.FeatureExtractor).
INCEPTION_RANGES = ("uint8", "unit", "signed")
MIN_IMAGE_SIZE = 8
# A distribution distance needs two samples per domain; below RANKED_IMAGES per domain the
# distances are mostly sampling noise (KID's unbiased estimate then often comes out
# negative), so the printed result says so and names no best baseline. Half the default
# --max-images: a round threshold, not a measured one.
MIN_IMAGES = 2
RANKED_IMAGES = 50
FEATURES = "feature spaces"
EXTRACTOR = "FID / KID with your own extractor"
# Fields that are not keywords of evaluate(): its positional arguments, and the output file.
NOT_KEYWORDS = ("model", "data", "direction", "json")

_opt, _arg = flags.option, flags.positional


def _domains(value) -> dict[str, str]:
    """--domains text, or the {"A": ..., "B": ...} a Python caller passes."""
    return value if isinstance(value, dict) else parse_domains(value)


def _max_images_help() -> str:
    return (f"test images per domain (spread evenly over the test split), at least "
            f"{MIN_IMAGES}; below {RANKED_IMAGES} the printed result says its distances are "
            "mostly noise and names no best baseline")


@dataclass
class EvalConfig:
    model: str = _arg("run folder (its checkpoints/latest.pt is used), checkpoint file, "
                      "exported .onnx file or bundled model name", required=True,
                      metavar="RUN_OR_MODEL")
    data: str | None = _opt(None, "folder in the official layout (testA/testB, trainA/trainB) "
                            "or builtin:seasons; default: the data the checkpoint was trained "
                            "on", type=str)
    direction: str = _opt("both", "which generator(s) to score", choices=("both", *DIRECTIONS))
    image_size: int | None = _opt(None, "test images are resized to this (multiple of 4); "
                                  "default: the model's working scale (the --load-size it was "
                                  "trained at, which checkpoints and exported files record), "
                                  f"else {DEFAULT_WORK_SIZE}. Sizes whose test images would not "
                                  "fit in the available memory are refused",
                                  ((">=", MIN_IMAGE_SIZE),), type=int)
    max_images: int = _opt(100, _max_images_help, ((">=", MIN_IMAGES),))
    paired: bool = _opt(False, "testB holds the ground truth of testA under the same file "
                        "names: add paired PSNR/SSIM/L1 (builtin:seasons is paired without it)")
    domains: dict | None = _opt(None, "names of the two domains (labels, and which baselines "
                                "apply); default: the names the model records, else the data's",
                                parse=_domains, metavar="NAME_A,NAME_B", type=str)
    batch_size: int = _opt(8, "images per generator call", flags.POSITIVE)
    detail: str = _opt(DEFAULT_DETAIL, "how outputs of test images larger than the working "
                       "scale get their size, as cyclegan-infer --detail does it: guided, "
                       "resize or texture", choices=DETAILS)
    device: str | None = _opt(None, "default: cuda when available, else cpu", choices=DEVICES,
                              type=str)
    json: str | None = _opt(None, "also write the full result as JSON to this file "
                            "(atomically)", metavar="OUT", type=str)
    quiet: bool = _opt(False, "no progress bars")

    use_judge: bool = _opt(True, "skip the EfficientNet-Lite distances (the slowest part on a "
                           "CPU)", flag="--no-judge", group=FEATURES)
    classifier_steps: int = _opt(300, "training steps of the domain classifier (batch 32, "
                                 "64x64 inputs, seeded)", flags.POSITIVE, group=FEATURES)
    classifier_images: int = _opt(400, "real train images per domain the classifier learns "
                                  "from", flags.POSITIVE, group=FEATURES)
    cache_dir: str | None = _opt(None, "where trained classifiers and the EfficientNet features "
                                 "of the real photos and the baselines are kept, keyed by what "
                                 "they depend on, and reused; default: "
                                 "$XDG_CACHE_HOME/cyclegan/eval (else ~/.cache/cyclegan/eval); "
                                 "'' disables", type=str, group=FEATURES)
    seed: int = _opt(0, "classifier seed (also KID subsets and the real halves)", group=FEATURES)

    inception: str | None = _opt(None, "local TorchScript file (torch.jit.load) mapping N x 3 x "
                                 "H x W images to N x D features, e.g. NVIDIA's "
                                 "inception-2015-12-05.pt (2048-d; called with "
                                 "return_features=True when its forward takes it). Without it "
                                 "FID/KID are skipped: weights cannot be downloaded offline",
                                 metavar="PATH", type=str, group=EXTRACTOR)
    inception_input: str = _opt("uint8", "value range the extractor expects: uint8 tensor "
                                "0..255 (NVIDIA's file), float 0..1, or float -1..1",
                                choices=INCEPTION_RANGES, group=EXTRACTOR)
    inception_size: int = _opt(299, "images are resized (bilinear, antialiased) to this square "
                               "size before the extractor; 0 passes them at --image-size",
                               flags.NON_NEGATIVE, group=EXTRACTOR)

    def checked(self) -> EvalConfig:
        """A copy with --domains parsed; UsageError naming the flag for a bad value."""
        return flags.check(self, UsageError)

    @property
    def directions(self) -> tuple[str, ...]:
        return DIRECTIONS if self.direction == "both" else (self.direction,)

    def keywords(self) -> dict:
        """The fields evaluate() takes as keywords of the same name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in NOT_KEYWORDS}
