"""What ships inside the package for cyclegan-infer: generators by name, and sample images.

`--model NAME` resolves a name from MODELS; `--list-models` prints the table. A bundled file
may be left out of a build (the table still names it; using it then says so). Its fp16 and
int8 variants, when shipped, sit beside it under the usual names (cyclegan.infer.variants
picks them like any model's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cyclegan.errors import UsageError
from cyclegan.infer.variants import available
from cyclegan.runlayout import latest_checkpoint

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SAMPLES = ASSETS / "samples"


@dataclass(frozen=True)
class BundledModel:
    file: str  # under ASSETS (an absolute path also works, e.g. in tests)
    description: str

    @property
    def path(self) -> Path:
        return ASSETS / self.file


MODELS: dict[str, BundledModel] = {
    "summer2winter": BundledModel("summer2winter.onnx",
                                  "summer -> winter for real landscape photos: colder, duller "
                                  "light and greens turned olive-brown, carried to full "
                                  "resolution (trained on summer2winter_yosemite at a 128 px "
                                  "working scale; a colour and light change, it adds no snow)"),
    "winter2summer": BundledModel("winter2summer.onnx",
                                  "winter -> summer for real landscape photos: warmer, "
                                  "yellower light and olive slopes and trees, carried to full "
                                  "resolution (the other direction of the same run; snow "
                                  "stays white)"),
    "demo": BundledModel("demo_summer2winter.onnx",
                         "summer -> winter, trained on the built-in synthetic landscapes "
                         "(for the bundled sample images; not meant for real photos)"),
}
# With a user's INPUT and no --model: the real-photo generator. With no INPUT at all the
# bundled samples are translated, and they are synthetic landscapes (the real photos we
# train on may not be redistributed), so the generator trained on those runs there.
DEFAULT_MODEL = "summer2winter"
DEMO_MODEL = "demo"


def is_name(text: str) -> bool:
    """A bare word (no folder, no extension) names a bundled model rather than a file."""
    path = Path(text)
    return len(path.parts) == 1 and not path.suffix


def model_path(name: str) -> Path:
    """The file of bundled model `name`; UsageError if the name or the file is unknown."""
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}: not a file, and the bundled models are "
                         f"{', '.join(MODELS)} (see --list-models)")
    path = MODELS[name].path
    if not path.is_file():
        raise UsageError(f"the bundled {name} model is missing ({path}); this copy of the "
                         "package was built without it. Pass --model MODEL.onnx or a checkpoint")
    return path


def resolve_model(model: str | Path | None) -> Path:
    """The one reading of a model argument, for cyclegan-infer, cyclegan-export,
    cyclegan-eval and cyclegan.Translator alike: None is the default bundled model, a
    folder a training run's latest checkpoint (cyclegan.checkpoint.resolve_checkpoint
    owns that layout and its errors), an existing file itself, a bare name a bundled
    model; anything else is returned for the loader to report as not found."""
    if model is None:
        return model_path(DEFAULT_MODEL)
    path = Path(model)
    # A folder is a run folder, unless a bundled model's name happens to name a folder
    # here that is not one (photos in ./demo must not shadow the demo model).
    if path.is_dir() and (str(model) not in MODELS or latest_checkpoint(path).is_file()):
        # Only a checkpoint lives in a run folder, and loading one needs torch anyway.
        from cyclegan.checkpoint import resolve_checkpoint

        return resolve_checkpoint(path)
    if path.is_file() or not is_name(str(model)):
        return path
    return model_path(str(model))


def describe_models() -> str:
    """The --list-models text: one line per bundled model."""
    width = max(len(name) for name in MODELS)
    lines = []
    for name, model in MODELS.items():
        default = {DEFAULT_MODEL: " (default)", DEMO_MODEL: " (the no-argument demo)"}.get(
            name, "")
        missing = "" if model.path.is_file() else " [not in this build]"
        have = available(model.path)
        shipped = f" [{', '.join(have)}]" if have else ""
        lines.append(f"{name:<{width}}  {model.description}{default}{missing}{shipped}")
    return "\n".join(lines)
