"""cyclegan-infer's configuration: every flag, its default, its help and its bounds, once.

`cyclegan.cli.infer` builds its parser from these fields through cyclegan.flags (as
`cyclegan-train` does from TrainConfig), and `checked()` enforces the bounds and choices, so a
Python caller gets the same one-line errors as the command line. Help texts and choices that
depend on a table elsewhere (output formats, bundled models, pool sizes) are callables, read
when the parser is built. Torch-free, so `cyclegan-infer --help` starts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cyclegan import flags
from cyclegan.contract import DEFAULT_WORK_SIZE, DIRECTIONS, variant_path
from cyclegan.errors import UsageError
from cyclegan.images import DEFAULT_MAX_PIXELS, DEFAULT_QUALITY, DEPTH_NOTE, FORMATS, QUALITY_RANGE
from cyclegan.infer import bundled, variants
from cyclegan.infer.detail import DEFAULT_DETAIL, DETAILS
from cyclegan.infer.io import FALLBACK, KEEP, format_choices
from cyclegan.infer.pipeline import BATCH_SIZES, CORES_PER_WORKER
from cyclegan.infer.runtime import DEFAULT_DEVICE, DEVICES
from cyclegan.infer.scale import NATIVE, parse_work_size
from cyclegan.infer.temporal import DEFAULT_KEEP
from cyclegan.infer.video import AUTO, CODECS, OTHER_SUFFIX
from cyclegan.runlayout import latest_checkpoint

DEFAULT_OUTPUT = Path("cyclegan-output")
POSITIVE = ((">=", 1),)
ENGINES = ("inprocess", "ray")
# The field syntax of this module: cyclegan.flags.option with bounds given by position,
# and an optional positional argument.
_opt, _arg = flags.option, flags.positional


def place(text: str) -> Path | str:
    """A local path, or a URI kept as written (a Path would fold s3:// into s3:/)."""
    from cyclegan.infer.storage import is_uri

    return text if is_uri(text) else Path(text)


def parse_shard(text: str | tuple[int, int]) -> tuple[int, int]:
    """"i/n" (or an (i, n) pair from Python) -> (i, n)."""
    if isinstance(text, tuple):
        text = "/".join(map(str, text))
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n


def _model_help() -> str:
    return ("generator: an .onnx file (from cyclegan-export), or a cyclegan checkpoint (.pt) "
            f"or training run folder RUN (its {latest_checkpoint(Path('RUN'))}), which is "
            "exported to ONNX in memory (checked against torch) and run by onnxruntime, or "
            f"the name of a bundled model ({', '.join(bundled.MODELS)}; see --list-models) "
            f"(default: {bundled.DEFAULT_MODEL}; with no INPUT, {bundled.DEMO_MODEL})")


def _precision_help() -> str:
    fastest = {d: variant_path("G.onnx", p).name for d, p in variants.FASTEST.items()}
    return (f"which variant of an .onnx model to run: auto takes {fastest['cpu']} on a CPU "
            f"and {fastest['cuda']} on CUDA when it sits beside G.onnx (from cyclegan-export "
            "--int8 / --fp16), else the file given; a named precision must be there")


def _format_help() -> str:
    no_alpha = [name for name, f in FORMATS.items() if not f.alpha]
    return (f"output format: keep the input's (formats Pillow cannot write, e.g. gif, become "
            f"{FALLBACK}), or one of {', '.join(FORMATS)} "
            f"({', '.join(no_alpha)} drop{'s' if len(no_alpha) == 1 else ''} alpha, with a "
            f"warning); {DEPTH_NOTE}")


def _batch_size_help() -> str:
    return ("images of equal size run together, up to this many (large images run in smaller "
            f"batches) (default: {BATCH_SIZES['cuda']} on CUDA; {BATCH_SIZES['cpu']} on a "
            "CPU, where onnxruntime runs larger batches slower per image)")


def _workers_help() -> str:
    return ("threads in each of the decode and the encode pools (default: one per "
            f"{CORES_PER_WORKER} CPU cores when the model runs on the CPU, which leaves the "
            "cores to onnxruntime; every core with CUDA)")


def _quality_help() -> str:
    lossy = [f.pillow for f in FORMATS.values() if f.quality]
    return f"{'/'.join(lossy)} quality, {QUALITY_RANGE[0]}-{QUALITY_RANGE[1]}"


@dataclass
class InferConfig:
    # str: a URI (s3://, gs://, file://), read and written by --engine ray.
    input: Path | str | None = _arg("image folder (searched recursively) or one image file "
                                    "(default: the bundled sample images); with --engine ray "
                                    "also a URI: s3://bucket/photos, gs://..., file:///...",
                                    type=place)
    output: Path | str | None = _arg(f"output folder, created if missing (default: "
                                     f"./{DEFAULT_OUTPUT}); for a single input image this may "
                                     "also be an output file name; with --engine ray also a URI",
                                     type=place)
    # A file, a bundled model's name; None: the default bundled one.
    model: Path | str | None = _opt(None, _model_help, type=Path)
    direction: str | None = _opt(None, "which generator of a checkpoint to use (default: A2B); "
                                 "an .onnx file holds one, and a different --direction is "
                                 "refused", choices=DIRECTIONS, type=str)
    device: str = _opt(DEFAULT_DEVICE, "auto uses onnxruntime's CUDA provider when a GPU is "
                       "present, else the CPU", choices=DEVICES)
    precision: str = _opt(variants.AUTO, _precision_help, choices=variants.CHOICES)
    batch_size: int | None = _opt(None, _batch_size_help, POSITIVE, type=int)
    workers: int | None = _opt(None, _workers_help, POSITIVE, type=int)
    threads: int | None = _opt(None, "onnxruntime CPU threads (default: number of CPU cores)",
                               POSITIVE, type=int)
    format: str = _opt(KEEP, _format_help, choices=format_choices)
    quality: int = _opt(DEFAULT_QUALITY, _quality_help,
                        ((">=", QUALITY_RANGE[0]), ("<=", QUALITY_RANGE[1])))
    work_size: int | str | None = _opt(
        None, "the scale the generator runs at: photos whose shorter side is larger are "
        "translated at N pixels (aspect kept) and the change is carried to the full-size "
        f"output; {NATIVE} runs the generator on every photo at its own size (slow and "
        "memory-hungry on large photos, where a generator also sees objects larger than it "
        "learned them; refused per photo when it would not fit in memory) (default: the "
        f"model's working scale, recorded by cyclegan-train; {DEFAULT_WORK_SIZE} for files "
        "that do not record one)", parse=parse_work_size, metavar=f"N|{NATIVE}", type=str)
    detail: str = _opt(DEFAULT_DETAIL, "how a photo translated at a smaller working scale "
                       "gets its full size: guided fits the colour change the generator made "
                       "and applies it to the full-size photo, keeping the photo's edges and "
                       "texture (docs/inference.md); resize enlarges the generator's output "
                       "itself (soft, its artifacts magnified); texture is guided plus what "
                       "the generator drew that colour cannot carry (snow, frost, new "
                       "texture), enlarged from the working scale: the photo's fine detail "
                       "stays sharp, the drawn change comes soft and with its speckle",
                       choices=DETAILS)
    temporal: float = _opt(DEFAULT_KEEP, "videos: how much of the previous frames' colour "
                           "models (the guided step's grid) each frame keeps, which removes "
                           "the flicker of frame-by-frame translation; reset at scene cuts; "
                           "0 translates every frame on its own", ((">=", 0), ("<=", 0.99)),
                           type=float, metavar="KEEP")
    video_codec: str = _opt(AUTO, "videos: the encoder of the output; auto: h264 (vp9 for "
                            ".webm). Audio is always copied as it is. A video keeps its "
                            f"container (.mp4, .mov, .mkv, .webm); others become {OTHER_SUFFIX}",
                            choices=(AUTO, *CODECS))
    crf: int | None = _opt(None, "videos: constant quality, lower is better and larger "
                           "(default: " + ", ".join(f"{n} {c.crf}" for n, c in CODECS.items())
                           + ")", ((">=", 0),), type=int)
    size: int | None = _opt(None, "resize so the shorter side is SIZE pixels (default: keep "
                            "the size)", POSITIVE, type=int)
    max_size: int | None = _opt(None, "downscale images whose longer side exceeds MAX_SIZE "
                                "pixels (default: no limit)", POSITIVE, type=int)
    max_pixels: int = _opt(DEFAULT_MAX_PIXELS, "refuse images with more pixels than this, as "
                           "decompression-bomb protection", POSITIVE)
    overwrite: bool = _opt(False, "translate again even when the output exists (default: skip "
                           "it)")
    shard: tuple[int, int] = _opt((0, 1), "i/n: do only every n-th image of the sorted input "
                                  "list starting at i (0 <= i < n), to split one job over n "
                                  "machines", parse=parse_shard, text="0/1", metavar="i/n")
    contact_sheet: bool = _opt(False, "also write contact_sheet.png (input | output pairs, up "
                               "to 16) in the output folder (default: only in the no-argument "
                               "demo run)")
    quiet: bool = _opt(False, "no progress bar or notes; the summary and errors are still "
                       "printed")

    def checked(self) -> InferConfig:
        """A copy with flag texts parsed; UsageError naming the flag for a bad value."""
        return flags.check(self, UsageError)


@dataclass
class EngineConfig:
    """Where cyclegan-infer's work runs: options of the engine, not of the translation
    (the Ray ones become cyclegan.infer.ray_engine.RayOptions, by name)."""

    engine: str = _opt(ENGINES[0], "inprocess: this process's pipeline; ray: a Ray cluster "
                       "through Ray Data (pip install \"cyclegan[ray]\"): the one RAY_ADDRESS "
                       "or --ray-address names, else a local instance", choices=ENGINES,
                       group="engine")
    ray_address: str | None = _opt(None, "Ray cluster to connect to, e.g. auto or HOST:6379 "
                                   "(default: $RAY_ADDRESS, else start a local instance)",
                                   type=str, group="engine")
    actors: int | None = _opt(None, "Ray actors, each holding one model (default: one per GPU "
                              "of the cluster, else as many as its CPU cores hold)", POSITIVE,
                              type=int, group="engine")
    cpus_per_actor: int | None = _opt(None, "CPU cores each Ray actor asks for (default: a GPU "
                                      "node's cores per GPU; without GPUs 4, or a node's all "
                                      "when it has fewer)", POSITIVE, type=int, group="engine")

    def checked(self) -> EngineConfig:
        """A copy with bounds and choices checked; a Ray-only option given to the in-process
        engine is refused."""
        c = flags.check(self, UsageError)
        if c.engine != "ray":
            for f in flags.flag_fields(EngineConfig)[1:]:
                if getattr(c, f.name) is not None:
                    raise UsageError(f"{flags.flag(EngineConfig, f.name)} is for --engine ray")
        return c

    def ray_options(self):
        """The Ray engine's options, by name."""
        from cyclegan.infer.ray_engine import RayOptions

        return RayOptions(address=self.ray_address, actors=self.actors,
                          cpus_per_actor=self.cpus_per_actor)
