"""The generator-file contract: what cyclegan-export writes and cyclegan-infer relies on.

One place for the facts both sides share: the two directions, the ONNX input and output
names, the pixel normalization, the size rule and the metadata format tag. Torch-free (the
inference side imports it), so it holds constants and small checks only.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

DIRECTIONS = ("A2B", "B2A")
# Generator architectures and their upsampling layer (ModelConfig.arch / .upsample):
# deconv is the official stride-2 transposed convolution (it leaves a checkerboard, Odena et
# al. 2016); resize / bilinear are x2 nearest / bilinear upsampling, then a 3x3 convolution.
ARCHITECTURES = ("resnet", "resnet-prior")
UPSAMPLING = ("deconv", "resize", "bilinear")
FORMAT = "cyclegan-generator-onnx/1"  # metadata_props["format"] of every exported generator
INPUT_NAME = "input"
OUTPUT_NAME = "output"
NORMALIZATION = ("input: RGB, N x 3 x H x W float32, x / 127.5 - 1 (range [-1, 1]); "
                 "output: same layout, pixel = (y + 1) * 127.5")
# The size rule is the architecture's (cyclegan.models.ModelConfig.geometry) and every
# exported file records it (metadata size_multiple, min_size); these are the values of the
# ResNet generator, which files without them (none are known) get: two stride-2
# downsamplings, and the bottleneck (H/4) at least 2 for the residual blocks' reflect pad.
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
# A variant's metadata key holding graph_digest() of the fp32 file it was made from: a
# variant whose fp32 file was since replaced (another export into the same folder) is stale.
FP32_DIGEST = "fp32_digest"


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


@dataclass(frozen=True)
class Geometry:
    """The input sizes a generator takes: height and width multiples of `multiple`, and at
    least `min_size`."""

    multiple: int = SIZE_MULTIPLE
    min_size: int = MIN_SIZE

    def error(self, height: int, width: int) -> str | None:
        """Why a generator cannot take an input of this size, or None when it can."""
        m, low = self.multiple, self.min_size
        if height % m or width % m or height < low or width < low:
            return (f"height and width must be multiples of {m} and at least {low}, "
                    f"got {height} x {width}")
        return None

    def padded(self, n: int) -> int:
        """The smallest size >= n that the generator takes (inputs are padded up to it)."""
        return max(self.min_size, -(-n // self.multiple) * self.multiple)

    def to_metadata(self) -> dict[str, str]:
        return {"size_multiple": str(self.multiple), "min_size": str(self.min_size)}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> Geometry:
        """A file's own size rule; the ResNet defaults for a file that records none.
        ValueError for damaged values."""
        values = {}
        for name, key in (("multiple", "size_multiple"), ("min_size", "min_size")):
            text = meta.get(key)
            if text is None:
                continue
            try:
                values[name] = int(text)
            except ValueError:
                raise ValueError(f"metadata {key}={text!r} is not a whole number") from None
            if values[name] < 1:
                raise ValueError(f"metadata {key}={text!r} must be >= 1")
        return cls(**values)


# The rule of files that record none (Geometry.from_metadata of an empty dict).
DEFAULT_GEOMETRY = Geometry()
# The working scale: the short side of the frames a generator learned from (cyclegan-train
# records it: --load-size, or the built-in data's own size). cyclegan-infer runs the
# generator there and carries the change to larger photos at full resolution. Files that do
# not record it (exported by 0.1.0, converted official weights) get 256: the official models
# were trained on 256 px crops and are tested at 256 px.
DEFAULT_WORK_SIZE = 256


def work_size_of(meta: dict[str, str]) -> int:
    """A file's working scale (metadata work_size), DEFAULT_WORK_SIZE when it records none;
    ValueError for a damaged value."""
    text = meta.get("work_size")
    if text is None:
        return DEFAULT_WORK_SIZE
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"metadata work_size={text!r} is not a whole number") from None
    if value < 1:
        raise ValueError(f"metadata work_size={text!r} must be >= 1")
    return value


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


# ModelProto's field numbers (onnx.proto): the graph, and metadata_props, whose entries
# (StringStringEntryProto) hold a key (1) and a value (2).
_GRAPH, _METADATA, _KEY, _VALUE = 7, 14, 1, 2


def _raw(model: str | os.PathLike | bytes) -> bytes:
    return model if isinstance(model, bytes) else Path(model).read_bytes()


def graph_digest(model: str | os.PathLike | bytes) -> str:
    """sha256 of a model's graph (its nodes and weights; not the metadata, which may be
    edited without changing what the model computes): of the graph's bytes as serialized,
    read without the onnx package (cyclegan.protowire says why)."""
    from cyclegan.protowire import fields

    digest = hashlib.sha256()
    for number, value in fields(_raw(model)):
        if number == _GRAPH:
            digest.update(value)
    return "sha256:" + digest.hexdigest()


def set_metadata(model: bytes, props: dict[str, str], replace: bool = False) -> bytes:
    """The model with `props` added to its metadata (replacing those keys; with `replace`,
    `props` is all the metadata it keeps); the graph untouched."""
    import onnx

    proto = onnx.load_from_string(model)
    merged = props if replace else {p.key: p.value for p in proto.metadata_props} | props
    del proto.metadata_props[:]
    for key, value in merged.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def read_metadata(model: str | os.PathLike | bytes) -> dict[str, str]:
    """metadata_props of an ONNX file (or its bytes) as a plain dict, read without the onnx
    package; a malformed file raises protowire.WireError (a ValueError)."""
    from cyclegan.protowire import fields, strings

    props = {}
    for number, entry in fields(_raw(model)):
        if number == _METADATA:
            key, value = strings(entry, _KEY), strings(entry, _VALUE)
            props[key[-1] if key else ""] = value[-1] if value else ""
    return props
