"""int8 generators: static QDQ quantization calibrated on the user's photos, behind a quality gate.

onnxruntime's quantization tools insert QuantizeLinear/DequantizeLinear pairs (standard ONNX
ops) around the convolutions, with per-channel int8 weights and uint8 activations whose
ranges come from running the fp32 model on the user's own photos at the size they will
translate. Before anything is written, the int8 model runs on photos held back from
calibration and its output pixels are compared with fp32's: the file is written only if the
median PSNR and the worst image clear GATE_MEDIAN_DB and GATE_WORST_DB.

Torch-free: it starts from fp32 ONNX bytes (cyclegan.export makes those from a checkpoint).
The defaults below were chosen by measurement; docs/inference.md has the numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclegan.contract import variant_path
from cyclegan.errors import CycleganError, first_line
from cyclegan.fileio import atomic_write_bytes
from cyclegan.images import list_images
from cyclegan.infer.io import Decoded, Job, decode, from_model_output

GATE_MEDIAN_DB = 30.0
GATE_WORST_DB = 25.0
DEFAULT_IMAGES = 64
HELD_BACK = 4  # every HELD_BACK-th calibration photo is kept for the gate, not calibration
METHODS = ("minmax", "percentile", "entropy")
# percentile (99.999%) clips the rare extreme activations that minmax stretches its range
# for: +4 dB on a full-size generator and +2 dB on the demo model (docs/inference.md).
DEFAULT_METHOD = "percentile"
# Ops whose inputs get QDQ pairs. Instance norm, pad, ReLU, add and tanh stay float: their
# int8 kernels save little next to the convolutions and each QDQ pair costs a requantization.
# The first convolution (reading pixels) and the last (writing them, before tanh) stay float
# too: they are ~2% of the work each and measurably the most sensitive.
QUANTIZED_OPS = ("Conv", "ConvTranspose")
CHUNK_PIXELS = 8 * 256 * 256  # photos whose activations are collected at once (memory)
PSNR_CAP_DB = 99.0  # identical outputs: a finite number that prints and sorts


class QuantizeError(CycleganError):
    """The model or the calibration photos cannot make an int8 model; nothing was written."""


class QualityGateError(QuantizeError):
    """The int8 model is too far from fp32 on the held-back photos; nothing was written."""

    exit_code = 1


@dataclass
class GateResult:
    psnr_db: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.psnr_db)

    @property
    def worst(self) -> float:
        return min(self.psnr_db)

    @property
    def ok(self) -> bool:
        return self.median >= GATE_MEDIAN_DB and self.worst >= GATE_WORST_DB

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAIL"
        return (f"int8 vs fp32 on {len(self.psnr_db)} held-back photos: median PSNR "
                f"{self.median:.1f} dB (gate {GATE_MEDIAN_DB:g}), worst {self.worst:.1f} dB "
                f"(gate {GATE_WORST_DB:g}) {verdict}")


def load_photos(folder: str | Path, count: int = DEFAULT_IMAGES, size: int | None = None,
                log=print) -> list[Decoded]:
    """Up to `count` photos spread evenly over the sorted folder, decoded as cyclegan-infer
    would (same resizing and padding); unreadable files are skipped with a note."""
    folder = Path(folder)
    if not folder.is_dir():
        raise QuantizeError(f"--calibrate {folder}: not a folder")
    paths = list_images(folder)
    if len(paths) > count:
        paths = [paths[i * len(paths) // count] for i in range(count)]
    photos, skipped = [], 0
    for path in paths:
        try:
            photos.append(decode(Job(path, path), size=size))
        except Exception:  # a bad file is the user's to fix, not a reason to stop
            skipped += 1
    if skipped:
        log(f"calibration: skipped {skipped} unreadable files in {folder}")
    if len(photos) < 2:
        raise QuantizeError(f"--calibrate {folder}: found {len(photos)} readable images, "
                            "need at least 2 (some to calibrate, some to check the result)")
    return photos


def split(photos: list[Decoded]) -> tuple[list[Decoded], list[Decoded]]:
    """(calibration, held back for the gate): every HELD_BACK-th photo is held back."""
    held = photos[HELD_BACK - 1::HELD_BACK] or photos[-1:]
    return [p for p in photos if not any(p is h for h in held)], held


class _Reader:
    """onnxruntime's CalibrationDataReader protocol: one photo per batch (sizes may differ),
    read in ranges (set_range) so only a chunk of photos' activations is held at a time."""

    def __init__(self, input_name: str, photos: list[Decoded]):
        self.inputs = [{input_name: p.x[None]} for p in photos]
        self.set_range(0, len(self.inputs))

    def __len__(self) -> int:
        return len(self.inputs)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.items = iter(self.inputs[start_index:end_index])

    def get_next(self):
        return next(self.items, None)


def chunk_size(photos: list[Decoded]) -> int:
    """Photos per collection pass: within CHUNK_PIXELS, and dividing the count evenly
    (onnxruntime's strided calibration needs that)."""
    largest = max(p.x.shape[1] * p.x.shape[2] for p in photos)
    size = max(1, min(len(photos), CHUNK_PIXELS // largest))
    while len(photos) % size:
        size -= 1
    return size


def float_nodes(proto) -> list[str]:
    """The first and the last convolution, which stay float (see QUANTIZED_OPS)."""
    convs = [n.name for n in proto.graph.node if n.op_type in QUANTIZED_OPS]
    return sorted({convs[0], convs[-1]})


def _session(model: bytes):
    from cyclegan.infer.runtime import OrtGenerator

    return OrtGenerator(model, device="cpu")


def _check_quantizable(proto) -> None:
    from onnx import TensorProto

    ops = {n.op_type for n in proto.graph.node}
    if "QuantizeLinear" in ops or "DequantizeLinear" in ops:
        raise QuantizeError("the model is already quantized; start from the fp32 file")
    if not ops & set(QUANTIZED_OPS):
        raise QuantizeError(f"the model has no {' or '.join(QUANTIZED_OPS)} node to quantize")
    for value in (*proto.graph.input, *proto.graph.output):
        if value.type.tensor_type.elem_type != TensorProto.FLOAT:
            raise QuantizeError(f"{value.name} is not float32: quantize the fp32 file, "
                                "not a variant")


@contextlib.contextmanager
def _quiet():
    """onnxruntime's quantizer warns through the root logger and prints its progress."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def onnx_proto(data: bytes):
    import onnx

    try:
        return onnx.load_from_string(data)
    except Exception as exc:
        raise QuantizeError(f"cannot read the model: {exc}") from None


def quantize_bytes(fp32: bytes, photos: list[Decoded], method: str = DEFAULT_METHOD) -> bytes:
    """QDQ int8 model bytes from fp32 bytes, calibrated on `photos`; no quality check."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in METHODS:
        raise QuantizeError(f"calibration method must be one of {', '.join(METHODS)}, "
                            f"got {method!r}")
    proto = onnx_proto(fp32)
    _check_quantizable(proto)
    calib = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
             "entropy": CalibrationMethod.Entropy}[method]
    with tempfile.TemporaryDirectory(prefix="cyclegan-int8-") as tmp:
        out = Path(tmp) / "int8.onnx"
        try:
            with _quiet():
                quantize_static(
                    proto, out, _Reader(proto.graph.input[0].name, photos),
                    quant_format=QuantFormat.QDQ, op_types_to_quantize=list(QUANTIZED_OPS),
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=float_nodes(proto),
                    calibrate_method=calib,
                    # percentile and entropy hold whole activations until a pass ends
                    # (~150 MB per 256x256 photo for a full-size generator), so photos go
                    # in chunks. Not CalibMaxIntermediateOutputs: onnxruntime 1.31 drops
                    # the ranges collected before each of its flushes.
                    extra_options={"CalibStridedMinMax": chunk_size(photos)})
        except QuantizeError:
            raise
        except Exception as exc:
            first = first_line(exc)
            raise QuantizeError(f"onnxruntime could not quantize the model: {first}") from None
        return out.read_bytes()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * np.log10(255.0 ** 2 / mse))


def gate(fp32: bytes, int8: bytes, held: list[Decoded]) -> GateResult:
    """PSNR of int8 output pixels against fp32's, one number per held-back photo."""
    ref, low = _session(fp32), _session(int8)
    scores = []
    for p in held:
        x = p.x[None]
        want = from_model_output(ref(x)[0], p.height, p.width)
        got = from_model_output(low(x)[0], p.height, p.width)
        scores.append(psnr(want, got))
    return GateResult(scores)


def with_int8_metadata(int8: bytes, fp32: bytes, record: dict) -> bytes:
    """The fp32 file's metadata, precision=int8, and how it was calibrated."""
    source = {p.key: p.value for p in onnx_proto(fp32).metadata_props}
    model = onnx_proto(int8)
    del model.metadata_props[:]
    for key, value in {**source, "precision": "int8",
                       "quantization": json.dumps(record, sort_keys=True)}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def quantize_model(fp32: bytes, photos: list[Decoded], target: Path,
                   method: str = DEFAULT_METHOD, log=print) -> GateResult:
    """Quantize, gate and write `target`; QualityGateError (nothing written) below the gate."""
    calibration, held = split(photos)
    int8 = quantize_bytes(fp32, calibration, method)
    result = gate(fp32, int8, held)
    log(f"{target.name}: {result}")
    if not result.ok:
        raise QualityGateError(
            f"{target.name} not written: {result}. Try more calibration photos "
            f"(--calibrate-images, {len(photos)} used), another --calibration-method "
            f"({method} used; {', '.join(m for m in METHODS if m != method)}), or keep the "
            "fp32 model for these photos")
    record = {"method": method, "per_channel": True, "quantized_ops": QUANTIZED_OPS,
              "float_nodes": float_nodes(onnx_proto(fp32)),
              "calibration_images": len(calibration), "gate_images": len(held),
              "psnr_median_db": round(result.median, 2), "psnr_worst_db": round(result.worst, 2)}
    data = with_int8_metadata(int8, fp32, record)
    try:
        atomic_write_bytes(target, data)
    except OSError as exc:
        raise QuantizeError(f"cannot write {target}: {exc}") from None
    log(f"wrote {target} ({len(data) / 1e6:.1f} MB, int8)")
    return result


def onnx_source(source: str) -> Path | None:
    """The fp32 .onnx file that `source` names (a file or a bundled model's name), or None
    when it is a checkpoint or run folder (cyclegan.export makes the fp32 files then)."""
    from cyclegan.infer import bundled

    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".onnx":
        return path
    if not path.exists() and bundled.is_name(source) and source in bundled.MODELS:
        return bundled.model_path(source)
    return None


def quantize_files(fp32_files: list[Path], photos: list[Decoded], out: Path | None = None,
                   method: str = DEFAULT_METHOD, log=print) -> tuple[list[Path], list[str]]:
    """An int8 variant beside each fp32 file (in `out` when given, with a copy of the fp32
    file, so cyclegan-infer finds the pair); returns (written, gate failures)."""
    written, failures = [], []
    for src in fp32_files:
        folder = out or src.parent
        target = variant_path(folder / src.name, "int8")
        try:
            quantize_model(src.read_bytes(), photos, target, method, log)
        except QualityGateError as exc:
            failures.append(str(exc))
            log(str(exc))
            continue
        written.append(target)
        beside = folder / variant_path(src, "fp32").name
        if not beside.exists():
            shutil.copyfile(src, beside)
            log(f"copied {src.name} to {folder} (its int8 variant is found beside it)")
    return written, failures
