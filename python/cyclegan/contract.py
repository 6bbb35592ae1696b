"""The generator-file contract: what cyclegan-export writes and cyclegan-infer relies on.

One place for the facts both sides share: the two directions, the ONNX input and output
names, the pixel normalization, the size rule and the metadata format tag. Torch-free (the
inference side imports it), so it holds constants and small checks only.
"""

from __future__ import annotations

import os
from pathlib import Path

DIRECTIONS = ("A2B", "B2A")
# Generator architectures and their upsampling layer (ModelConfig.arch / .upsample):
# deconv is the official stride-2 transposed convolution (it leaves a checkerboard, Odena et
# al. 2016); resize / bilinear are x2 nearest / bilinear upsampling, then a 3x3 convolution.
ARCHITECTURES = ("resnet",)
UPSAMPLING = ("deconv", "resize", "bilinear")
FORMAT = "cyclegan-generator-onnx/1"  # metadata_props["format"] of every exported generator
INPUT_NAME = "input"
OUTPUT_NAME = "output"
NORMALIZATION = ("input: RGB, N x 3 x H x W float32, x / 127.5 - 1 (range [-1, 1]); "
                 "output: same layout, pixel = (y + 1) * 127.5")
# Two stride-2 downsamplings, and the bottleneck (H/4) must be at least 2 for the residual
# blocks' reflect pad.
SIZE_MULTIPLE = 4
MIN_SIZE = 8
# Export guarantees: the opset it writes, and how close onnxruntime must come to torch.
MIN_OPSET = 17
MAX_OPSET = 20  # the newest the TorchScript exporter (torch.onnx.export(dynamo=False)) writes
DEFAULT_OPSET = 17
ATOL = {"fp32": 1e-4, "fp16": 2e-2}
# Every precision a generator file can have. fp32 is the plain file (G_A2B.onnx); a variant
# sits beside it with the precision before the extension (G_A2B.fp16.onnx, G_A2B.int8.onnx),
# which is how cyclegan-infer finds it.
PRECISIONS = ("fp32", "fp16", "int8")


def variant_path(path: str | os.PathLike, precision: str) -> Path:
    """The file of `precision` beside generator `path` (itself fp32 or any variant)."""
    path = Path(path)
    stem = path.stem
    for known in PRECISIONS:
        if stem.endswith(f".{known}"):
            stem = stem[: -len(known) - 1]
            break
    suffix = path.suffix or ".onnx"
    return path.with_name(stem + ("" if precision == "fp32" else f".{precision}") + suffix)


def size_error(height: int, width: int) -> str | None:
    """Why a generator cannot take an input of this size, or None when it can."""
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE or height < MIN_SIZE or width < MIN_SIZE:
        return (f"height and width must be multiples of {SIZE_MULTIPLE} and at least "
                f"{MIN_SIZE}, got {height} x {width}")
    return None


def padded_size(n: int) -> int:
    """The smallest size >= n that a generator takes (inputs are padded up to it)."""
    return max(MIN_SIZE, -(-n // SIZE_MULTIPLE) * SIZE_MULTIPLE)


def opset_error(opset: int) -> str | None:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        return f"--opset must be {MIN_OPSET}..{MAX_OPSET}, got {opset}"
    return None


def direction_error(direction: str) -> str | None:
    if direction not in DIRECTIONS:
        return f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}"
    return None


def parse_domains(text: str) -> dict[str, str]:
    """--domains NAME_A,NAME_B -> {"A": NAME_A, "B": NAME_B} (train, export, convert, eval)."""
    from cyclegan.errors import UsageError

    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not all(parts):
        raise UsageError(f"--domains must be two names separated by a comma, got {text!r}")
    return {"A": parts[0], "B": parts[1]}


def read_metadata(model: str | os.PathLike | bytes) -> dict[str, str]:
    """metadata_props of an ONNX file (or its bytes) as a plain dict; weights are not read."""
    import onnx

    proto = (onnx.load_from_string(model) if isinstance(model, bytes)
             else onnx.load(os.fspath(model), load_external_data=False))
    return {p.key: p.value for p in proto.metadata_props}
