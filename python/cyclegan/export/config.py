"""The flags of cyclegan-export and cyclegan-convert, their defaults and help, once.

`cyclegan.cli.export` and `cyclegan.cli.convert` build their parsers from these fields
(cyclegan.flags); the defaults are their owners' (the contract's opset, quantize's
calibration settings), not restated. Torch-free, so --help starts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cyclegan import flags
from cyclegan.contract import DEFAULT_OPSET, DEFAULT_WORK_SIZE, DIRECTIONS, MAX_OPSET, MIN_OPSET
from cyclegan.errors import UsageError
from cyclegan.export.quantize import (
    DEFAULT_IMAGES,
    DEFAULT_METHOD,
    GATE_MEDIAN_DB,
    GATE_WORST_DB,
    HELD_BACK,
    METHODS,
)

_opt, _arg = flags.option, flags.positional
# Calibration needs photos to calibrate on and one held back for the quality gate.
MIN_CALIBRATION_IMAGES = 2


@dataclass
class ExportConfig:
    checkpoint: str = _arg("checkpoint file (.pt) or a training run folder (its "
                           "checkpoints/latest.pt is used); with --int8 also an fp32 .onnx file "
                           "or a bundled model's name (see cyclegan-infer --list-models)",
                           required=True)
    out: str = _opt(flags.REQUIRED, "output folder for G_A2B.onnx / G_B2A.onnx (created if "
                    "missing)", type=str)
    direction: str = _opt("both", "which generator to export (default: both; with 'both', a "
                          "direction the checkpoint lacks is skipped with a note)",
                          choices=(*DIRECTIONS, "both"))
    domains: str | None = _opt(None, "domain names to record in the files' metadata (e.g. "
                               "summer,winter; default: the names the checkpoint was trained "
                               "with)", metavar="NAME_A,NAME_B", type=str)
    fp16: bool = _opt(False, "also write G_<dir>.fp16.onnx: float16 weights and compute, "
                      "float32 input/output, for GPUs (default: off)")
    int8: bool = _opt(False, "also write G_<dir>.int8.onnx: static int8 (QDQ) calibrated on "
                      "--calibrate photos, for CPUs; written only if its output stays within "
                      f"median {GATE_MEDIAN_DB:g} dB / worst {GATE_WORST_DB:g} dB PSNR of fp32 "
                      "on held-back photos; a model below it is quantized again with its "
                      "upsampling convolutions in float (default: off)")
    calibrate: Path | None = _opt(None, "folder of photos like the ones you will translate "
                                  "(needed by --int8)", type=Path, metavar="DIR")
    calibrate_images: int = _opt(DEFAULT_IMAGES, f"photos taken from DIR, 1 in {HELD_BACK} held "
                                 f"back for the quality check (default: {DEFAULT_IMAGES})",
                                 ((">=", MIN_CALIBRATION_IMAGES),), metavar="N")
    calibrate_size: int | None = _opt(None, "scale calibration photos so their shorter side is "
                                      "SIZE pixels (default: the size the model works at, "
                                      f"{DEFAULT_WORK_SIZE} unless the model records one); "
                                      "photos are read one at a time, so memory stays bounded",
                                      type=int, metavar="SIZE")
    calibration_method: str = _opt(DEFAULT_METHOD, "how activation ranges are set (default: "
                                   f"{DEFAULT_METHOD})", choices=METHODS)
    opset: int = _opt(DEFAULT_OPSET, f"ONNX opset, {MIN_OPSET}..{MAX_OPSET} (default: "
                      f"{DEFAULT_OPSET})")
    quiet: bool = _opt(False, "print errors only")

    def checked(self) -> ExportConfig:
        """A copy with bounds and choices checked; UsageError naming the flag."""
        return flags.check(self, UsageError)


@dataclass
class ConvertConfig:
    src: str = _arg("official generator state_dict", required=True, metavar="PATH.pth")
    out: str = _opt(flags.REQUIRED, "checkpoint file to write", metavar="CKPT", type=str)
    direction: str = _opt(DIRECTIONS[0], "which generator this is: the official G_A (netG_A) is "
                          f"A2B, G_B is B2A (default: {DIRECTIONS[0]})", choices=DIRECTIONS)
    domains: str | None = _opt(None, "names of the two domains, e.g. summer,winter (default: "
                               "A,B)", metavar="A,B", type=str)
    quiet: bool = _opt(False, "print errors only")
