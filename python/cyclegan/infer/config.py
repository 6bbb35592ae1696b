"""cyclegan-infer's configuration: every flag, its default, its help and its bounds, once.

`cyclegan.cli.infer` builds its parser from these fields (as `cyclegan-train` does from
TrainConfig), and `checked()` enforces the bounds and choices, so a Python caller gets the
same one-line errors as the command line. Help texts and choices that depend on a table
elsewhere (output formats, bundled models) are callables, read when the parser is built.
Torch-free, so `cyclegan-infer --help` starts at once.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from pathlib import Path

from cyclegan.contract import DEFAULT_WORK_SIZE, DIRECTIONS, variant_path
from cyclegan.errors import UsageError
from cyclegan.images import DEFAULT_MAX_PIXELS, DEPTH_NOTE, FORMATS
from cyclegan.infer import bundled, variants
from cyclegan.infer.detail import DEFAULT_DETAIL, DETAILS
from cyclegan.infer.io import FALLBACK, KEEP, format_choices
from cyclegan.infer.scale import NATIVE, parse_work_size
from cyclegan.infer.temporal import DEFAULT_KEEP
from cyclegan.infer.video import AUTO, CODECS, OTHER_SUFFIX
from cyclegan.runlayout import latest_checkpoint

DEFAULT_OUTPUT = Path("cyclegan-output")
DEVICES = ("auto", "cpu", "cuda")
BOUNDS = {">=": operator.ge, "<=": operator.le}
POSITIVE = ((">=", 1),)


def _opt(default, help, bounds: tuple = (), **argparse_kwargs):
    """A config field that is a command-line flag.

    help and choices may be callables (read when the parser is built or a value checked);
    bounds: (operator, limit) pairs checked by InferConfig.checked (None always passes);
    parse: turns the flag's text into the field's value (errors become UsageError, exit 2,
    rather than argparse's usage message).
    """
    return field(default=default, metadata={"help": help, "bounds": bounds, **argparse_kwargs})


def _arg(help: str, **argparse_kwargs):
    """A positional argument (optional: nargs '?')."""
    return field(default=None, metadata={"help": help, "positional": True, **argparse_kwargs})


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
    device: str = _opt("auto", "auto uses onnxruntime's CUDA provider when a GPU is present, "
                       "else the CPU", choices=DEVICES)
    precision: str = _opt("auto", _precision_help, choices=variants.CHOICES)
    batch_size: int | None = _opt(None, "images of equal size run together, up to this many "
                                  "(large images run in smaller batches) (default: 8 on CUDA; "
                                  "1 on a CPU, where onnxruntime runs larger batches slower "
                                  "per image)", POSITIVE, type=int)
    workers: int | None = _opt(None, "threads in each of the decode and the encode pools "
                               "(default: one per 8 CPU cores when the model runs on the "
                               "CPU, which leaves the cores to onnxruntime; every core with "
                               "CUDA)", POSITIVE, type=int)
    threads: int | None = _opt(None, "onnxruntime CPU threads (default: number of CPU cores)",
                               POSITIVE, type=int)
    format: str = _opt(KEEP, _format_help, choices=format_choices)
    quality: int = _opt(95, "JPEG/WebP quality, 1-100", ((">=", 1), ("<=", 100)))
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
                       "itself (soft, its artifacts magnified)", choices=DETAILS)
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
        c = dataclasses.replace(self)
        for f in dataclasses.fields(c):
            value = getattr(c, f.name)
            if value is None:
                continue
            if "parse" in f.metadata:
                value = f.metadata["parse"](value)
                setattr(c, f.name, value)
            choices = resolve(f.metadata.get("choices"))
            if choices and value not in choices:
                raise UsageError(f"{flag(f.name)} must be one of {', '.join(choices)}, got "
                                 f"{value!r}")
            for op, limit in f.metadata.get("bounds", ()):
                if not BOUNDS[op](value, limit):
                    raise UsageError(f"{flag(f.name)} must be {op} {limit}, got {value}")
        return c


def resolve(value):
    """A metadata entry that may be a callable (read now) or a plain value."""
    return value() if callable(value) else value


def flag(name: str) -> str:
    """The command-line flag of a config field."""
    return "--" + name.replace("_", "-")


def flag_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(InferConfig) if "help" in f.metadata]
