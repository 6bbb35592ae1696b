"""int8 generators: static QDQ quantization calibrated on the user's photos, behind a quality gate.

onnxruntime's quantization tools insert QuantizeLinear/DequantizeLinear pairs (standard ONNX
ops) around the convolutions, with per-channel int8 weights and uint8 activations whose
ranges come from running the fp32 model on the user's own photos at the scale the model
works at, on a fixed square canvas (cyclegan.export.int8_calibration). Before anything is written,
the int8 model runs on photos held back from calibration and its output pixels are compared
with fp32's (cyclegan.export.int8_gate). The written file records the digest of its fp32 file
(contract.FP32_DIGEST), which binds the two (cyclegan.infer.variants).

This module is the front: the quantizer's settings, checks of the model and the output
folder before any work, and writing the variants. Torch-free: it starts from fp32 ONNX
bytes (cyclegan.export makes those from a checkpoint). The defaults below were chosen by
measurement; docs/inference.md has the numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from cyclegan.contract import (
    FP32_DIGEST,
    SIZE_MULTIPLE,
    graph_digest,
    read_metadata,
    set_metadata,
    variant_path,
)
from cyclegan.errors import QualityGateError, QuantizeError, first_line
from cyclegan.export import int8_graph
from cyclegan.export.int8_calibration import (
    CHUNK_BYTES,
    DEFAULT_IMAGES,
    HELD_BACK,
    Photo,
    Reader,
    activation_bytes_per_pixel,
    check_size,
    chunk_size,
    load_photos,
    model_geometry,
    split,
    working_size,
)
from cyclegan.export.int8_gate import GATE_MEDIAN_DB, GATE_WORST_DB, GateResult, gate
from cyclegan.fileio import atomic_write_bytes, probe_writable, process_alive
from cyclegan.hostmem import host_available_bytes
from cyclegan.infer.variants import remove_stale

# The parts, each its own module; their public names are this module's too (cyclegan-export
# and the benchmarks import them from here, the front of int8 export).
__all__ = [
    "CHUNK_BYTES", "DEFAULT_IMAGES", "DEFAULT_METHOD", "FLOAT_RUNGS", "GATE_MEDIAN_DB",
    "GATE_WORST_DB", "HELD_BACK", "METHODS", "GateResult", "Photo", "QualityGateError",
    "QuantizeError", "activation_bytes_per_pixel", "check_out", "check_quantizable",
    "check_size", "check_source", "chunk_size", "float_nodes", "gate", "graph_rewrites",
    "load_photos", "onnx_proto", "onnx_source", "quantize_bytes", "quantize_files",
    "quantize_model", "remove_stale_temp_folders", "split", "with_int8_metadata",
    "working_size",
]

METHODS = ("minmax", "percentile", "entropy")
# percentile (99.999%) clips the rare extreme activations that minmax stretches its range
# for: +4 dB on a full-size generator and +2 dB on the demo model (docs/inference.md).
DEFAULT_METHOD = "percentile"
# Ops whose inputs get QDQ pairs. Instance norm, ReLU, add and tanh stay float: onnxruntime
# has no int8 kernels for them, so QDQ pairs there only add requantizations (pads move into
# uint8 after quantizing: int8_graph.pad_after_quantize). The first convolution (reading
# pixels) and the last (writing them, before tanh) stay float too: int8 made neither faster
# here (the last 2x slower: 3 output channels) and cost 0.8-1.2 dB (docs/inference.md).
# ConvTranspose is rewritten into a Conv before quantizing (int8_graph.rewrite).
QUANTIZED_OPS = ("Conv", "ConvTranspose")
# 7-bit weights: without VNNI (AVX2, AVX-512 without VNNI) onnxruntime's u8 x s8 kernels sum
# products in saturating 16-bit pairs, which cost the full-size generator 2.5 dB on an AVX2
# machine; 7 bits cannot saturate, and cost 0.2 dB where nothing saturates.
REDUCE_RANGE = True
TEMP_PREFIX = "cyclegan-int8-"
# What else stays float when the gate refuses a model, tried in order: (what the log says,
# substrings of the convolutions' node names). The upsampling convolutions (cyclegan.models'
# `up` blocks) are the ones some generators cannot take in int8: issue 27's long-run
# generator scored 21.8 dB median with every other choice of calibration and float nodes
# tried, 38.0 dB with both of them in float (each alone: 22.1 and 28.3 dB; docs/inference.md).
FLOAT_RUNGS = (("the first and last convolutions in float", ()),
               ("the upsampling convolutions in float", ("/up.",)))


def float_nodes(proto, also: tuple[str, ...] = ()) -> list[str]:
    """The first and the last convolution, which stay float (see QUANTIZED_OPS), and those
    whose node names contain any of `also` (a FLOAT_RUNGS entry)."""
    convs = [n.name for n in proto.graph.node if n.op_type in QUANTIZED_OPS]
    return sorted({convs[0], convs[-1], *(c for c in convs if any(a in c for a in also))})


def check_quantizable(proto, name: str = "the model") -> None:
    """QuantizeError unless `proto` is an fp32 generator (not a variant, not quantized)."""
    from onnx import TensorProto

    ops = {n.op_type for n in proto.graph.node}
    if "QuantizeLinear" in ops or "DequantizeLinear" in ops:
        raise QuantizeError(f"{name} is already quantized; start from the fp32 file")
    if not ops & set(QUANTIZED_OPS):
        raise QuantizeError(f"{name} has no {' or '.join(QUANTIZED_OPS)} node to quantize")
    precision = {p.key: p.value for p in proto.metadata_props}.get("precision", "fp32")
    half = any(t.data_type == TensorProto.FLOAT16 for t in proto.graph.initializer)
    floats = all(v.type.tensor_type.elem_type == TensorProto.FLOAT
                 for v in (*proto.graph.input, *proto.graph.output))
    if precision != "fp32" or half or not floats:
        fp32 = variant_path(name, "fp32").name if name.endswith(".onnx") else "fp32 file"
        raise QuantizeError(f"{name} is {'an fp16' if half else 'a'} variant, not fp32: "
                            f"quantize the {fp32} it was made beside")


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


def remove_stale_temp_folders() -> int:
    """Temp folders of quantizations whose process is gone (killed: SIGKILL, power cut)."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*"):
        pid = folder.name[len(TEMP_PREFIX):].split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


@contextlib.contextmanager
def _temp_folder():
    """A temp folder named with our pid, holding onnxruntime's own temp folders too (the
    quantizer copies the model into an ort.quant.* folder): one place to clean up, also
    after a kill (remove_stale_temp_folders)."""
    remove_stale_temp_folders()
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as tmp:
        before, tempfile.tempdir = tempfile.tempdir, tmp
        try:
            yield Path(tmp)
        finally:
            tempfile.tempdir = before


def onnx_proto(data: bytes):
    import onnx

    try:
        return onnx.load_from_string(data)
    except Exception as exc:
        raise QuantizeError(f"cannot read the model: {exc}") from None


def quantize_bytes(fp32: bytes, photos: list[Photo], size: int,
                   method: str = DEFAULT_METHOD, tuned: bool = True,
                   also_float: tuple[str, ...] = ()) -> bytes:
    """QDQ int8 model bytes from fp32 bytes, calibrated on `photos` scaled to `size`;
    no quality check. tuned=False skips the graph rewrites and 7-bit weights: onnxruntime's
    plain QDQ graph, which benchmarks/bench_infer.py compares against. also_float: see
    float_nodes."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in METHODS:
        raise QuantizeError(f"calibration method must be one of {', '.join(METHODS)}, "
                            f"got {method!r}")
    proto = onnx_proto(fp32)
    check_quantizable(proto)
    if tuned:
        graph_rewrites(proto)
    reader = Reader(proto.graph.input[0].name, photos, size, model_geometry(fp32))
    chunk = chunk_size(len(reader), size, activation_bytes_per_pixel(proto), host_available_bytes())
    calib = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
             "entropy": CalibrationMethod.Entropy}[method]
    with _temp_folder() as tmp:
        out = tmp / "int8.onnx"
        try:
            with _quiet():
                quantize_static(
                    proto, out, reader,
                    quant_format=QuantFormat.QDQ, op_types_to_quantize=list(QUANTIZED_OPS),
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, reduce_range=REDUCE_RANGE and tuned,
                    nodes_to_exclude=float_nodes(proto, also_float),
                    calibrate_method=calib,
                    # Windows go in chunks (see CHUNK_BYTES). Not CalibMaxIntermediateOutputs:
                    # onnxruntime 1.31 drops the ranges collected before each of its flushes.
                    extra_options={"CalibStridedMinMax": chunk})
        except QuantizeError:
            raise
        except Exception as exc:
            first = first_line(exc)
            raise QuantizeError(f"onnxruntime could not quantize the model: {first}") from None
        int8 = onnx_proto(out.read_bytes())
    if tuned:
        int8_graph.pad_after_quantize(int8)
    return int8.SerializeToString()


def graph_rewrites(proto) -> list[str]:
    """Rewrite the fp32 graph (in place) for faster int8 inference: int8_graph.rewrite with
    the model's own size multiple (today's constant for files that do not state it)."""
    meta = {p.key: p.value for p in proto.metadata_props}
    try:
        multiple = int(meta.get("size_multiple", SIZE_MULTIPLE))
    except ValueError:
        multiple = 1  # unreadable: a multiple that allows no rewrite that needs one
    return int8_graph.rewrite(proto, multiple)


def with_int8_metadata(int8: bytes, fp32: bytes, record: dict) -> bytes:
    """The fp32 file's metadata, precision=int8, how it was calibrated, and the digest of
    the fp32 graph (which binds the two); nothing the quantizer added."""
    return set_metadata(int8, {**read_metadata(fp32), "precision": "int8",
                               "quantization": json.dumps(record, sort_keys=True),
                               FP32_DIGEST: graph_digest(fp32)}, replace=True)


def quantize_model(fp32: bytes, photos: list[Photo], target: Path, size: int,
                   method: str = DEFAULT_METHOD, log=print) -> GateResult:
    """Quantize, gate and write `target`, keeping more convolutions float (FLOAT_RUNGS)
    while the gate refuses; QualityGateError (nothing written) when every rung is below it."""
    calibration, held = split(photos)
    for rung, (what, also) in enumerate(FLOAT_RUNGS):
        if rung:
            log(f"{target.name}: quantizing again with {what}")
        int8 = quantize_bytes(fp32, calibration, size, method, also_float=also)
        result = gate(fp32, int8, held, size)
        log(f"{target.name}: {result}")
        if result.ok:
            break
    else:
        raise QualityGateError(
            f"{target.name} not written: {result}, with {what} too. Try more calibration "
            f"photos (--calibrate-images, {len(photos)} used), another --calibration-method "
            f"({method} used; {', '.join(m for m in METHODS if m != method)}), or keep the "
            "fp32 model for these photos")
    rewritten = onnx_proto(fp32)  # the float nodes by their names in the written graph
    rewrites = graph_rewrites(rewritten)
    record = {"method": method, "per_channel": True, "quantized_ops": QUANTIZED_OPS,
              "reduce_range": REDUCE_RANGE, "graph_rewrites": rewrites,
              "float_nodes": float_nodes(rewritten, also), "calibration_size": size,
              "calibration_images": len(calibration),
              "calibration_windows": sum(p.window_count(size) for p in calibration),
              "gate_images": len(held),
              "psnr_median_db": round(result.median, 2), "psnr_worst_db": round(result.worst, 2)}
    data = with_int8_metadata(int8, fp32, record)
    try:
        atomic_write_bytes(target, data)
    except OSError as exc:
        raise QuantizeError(f"cannot write {target}: {exc}") from None
    log(f"wrote {target} ({len(data) / 1e6:.1f} MB, int8)")
    return result


def onnx_source(source: str) -> Path | None:
    """The fp32 .onnx file that `source` names (read as every command reads a model:
    bundled.resolve_model), or None when it is a checkpoint or run folder (cyclegan.export
    makes the fp32 files then)."""
    from cyclegan.infer import bundled

    path = bundled.resolve_model(source)
    return path if path.is_file() and path.suffix.lower() == ".onnx" else None


def check_source(src: Path, out: Path) -> None:
    """Everything about quantizing the fp32 file `src` into folder `out` that can be
    checked before calibration: the model, the folder, and the fp32 file it will sit
    beside (a different model of that name there would make the pair a lie)."""
    try:
        proto = onnx_proto(src.read_bytes())
    except OSError as exc:
        raise QuantizeError(f"cannot read {src}: {exc.strerror or exc}") from None
    check_quantizable(proto, src.name)
    check_out(out)
    beside = out / variant_path(src, "fp32").name
    if beside.is_file() and not beside.samefile(src) and graph_digest(beside) != graph_digest(src):
        raise QuantizeError(f"--out {out} already holds another {beside.name}; its int8 "
                            f"variant would not be made from it: choose another --out")


def check_out(out: Path) -> None:
    try:
        probe_writable(out)
    except OSError as exc:
        raise QuantizeError(f"--out {out} is not writable: {exc.strerror or exc}") from None


def quantize_files(fp32_files: list[Path], photos: list[Photo], out: Path | None = None,
                   size: int | None = None, method: str = DEFAULT_METHOD,
                   log=print) -> tuple[list[Path], list[str]]:
    """An int8 variant beside each fp32 file (in `out` when given, with a copy of the fp32
    file, so cyclegan-infer finds the pair); `size` None calibrates each at its
    working_size. Variants beside them that are not theirs (left by an earlier export) are
    removed, also when the gate fails. Returns (written, gate failures)."""
    written, failures = [], []
    for src in fp32_files:
        folder = out or src.parent
        target = variant_path(folder / src.name, "int8")
        beside = folder / variant_path(src, "fp32").name
        data = src.read_bytes()
        try:
            quantize_model(data, photos, target, size or working_size(read_metadata(data)),
                           method, log)
        except QualityGateError as exc:
            failures.append(str(exc))
            log(str(exc))
        else:
            written.append(target)
            if not beside.exists():
                shutil.copyfile(src, beside)
                log(f"copied {src.name} to {folder} (its int8 variant is found beside it)")
        if beside.exists():
            remove_stale(beside, log)
    return written, failures
