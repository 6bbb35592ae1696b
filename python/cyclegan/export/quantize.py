"""int8 generators: static QDQ quantization calibrated on the user's photos, behind a quality gate.

onnxruntime's quantization tools insert QuantizeLinear/DequantizeLinear pairs (standard ONNX
ops) around the convolutions, with per-channel int8 weights and uint8 activations whose
ranges come from running the fp32 model on the user's own photos, scaled to the size the
model works at (`working_size`; --calibrate-size to choose). Photos are read one at a
time, when onnxruntime asks for them, in chunks sized to a memory budget. Before anything
is written, the int8 model runs on photos held back from calibration and its output pixels
are compared with fp32's: the file is written only if the median PSNR and the worst image
clear GATE_MEDIAN_DB and GATE_WORST_DB. The written file records the digest of its fp32
file (contract.FP32_DIGEST), which binds the two (cyclegan.infer.variants).

Torch-free: it starts from fp32 ONNX bytes (cyclegan.export makes those from a checkpoint).
The defaults below were chosen by measurement; docs/inference.md has the numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclegan.contract import (
    FP32_DIGEST,
    MIN_SIZE,
    SIZE_MULTIPLE,
    Geometry,
    graph_digest,
    read_metadata,
    set_metadata,
    variant_path,
    work_size_of,
)
from cyclegan.errors import CycleganError, first_line
from cyclegan.export import int8_graph
from cyclegan.fileio import atomic_write_bytes, probe_writable, process_alive
from cyclegan.hostmem import host_available_bytes
from cyclegan.images import ImageError, extension_list, list_images, load_image
from cyclegan.infer.io import Job, decode, from_model_output, target_size
from cyclegan.infer.variants import remove_stale

GATE_MEDIAN_DB = 30.0
GATE_WORST_DB = 25.0
DEFAULT_IMAGES = 64
HELD_BACK = 4  # every HELD_BACK-th calibration photo is kept for the gate, not calibration
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
# percentile and entropy hold every activation of a chunk of photos until the chunk ends
# (~4 KB per pixel for the bundled generators: 275 MB per 256 x 256 photo).
CHUNK_BYTES = 2 << 30
# Smaller photos (as stored, before scaling) are icons or thumbnails, not photos like the
# ones the model will translate: scaled up, they would calibrate it on blur.
MIN_PHOTO_SIDE = 32
PSNR_CAP_DB = 99.0  # identical outputs: a finite number that prints and sorts
TEMP_PREFIX = "cyclegan-int8-"


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


def working_size(meta: dict[str, str]) -> int:
    """The size calibration scales photos to by default: the scale the fp32 model works
    at, as cyclegan-infer runs it (contract.work_size_of)."""
    try:
        return work_size_of(meta)
    except ValueError as exc:
        raise QuantizeError(f"the model's {exc}: pass --calibrate-size") from None


def check_size(size: int | None) -> None:
    if size is not None and size < MIN_SIZE:
        raise QuantizeError(f"--calibrate-size must be at least {MIN_SIZE} (pixels, the "
                            f"shorter side), got {size}")


@dataclass(frozen=True)
class Photo:
    """A calibration photo, checked readable; its pixels are read again when needed."""

    path: Path
    width: int  # as stored
    height: int

    def decode(self, size: int, geometry: Geometry):
        return decode(Job(self.path, self.path), size=size, geometry=geometry)

    def pixels(self, size: int) -> int:
        """Pixels of its model input at `size`."""
        w, h = target_size(self.width, self.height, size, None)
        return w * h


def load_photos(folder: str | Path, count: int = DEFAULT_IMAGES, log=print) -> list[Photo]:
    """Up to `count` photos spread evenly over the sorted folder, each read once to check
    it (one at a time: memory stays that of one photo); unreadable and tiny files are
    skipped with a note, and too few usable ones is an error saying why."""
    folder = Path(folder)
    if not folder.is_dir():
        raise QuantizeError(f"--calibrate {folder}: not a folder")
    paths = list_images(folder)
    if not paths:
        raise QuantizeError(f"--calibrate {folder}: no images (extensions read: "
                            f"{extension_list()})")
    if len(paths) > count:
        paths = [paths[i * len(paths) // count] for i in range(count)]
    photos, unreadable, tiny = [], [], []
    for path in paths:
        try:
            rgb, _ = load_image(path)
        except ImageError as exc:  # a bad file is the user's to fix, not a reason to stop
            unreadable.append(f"{path.name}: {exc.reason}")
            continue
        w, h = rgb.size
        rgb.close()
        if min(w, h) < MIN_PHOTO_SIDE:
            tiny.append(f"{path.name} is {w} x {h}")
        else:
            photos.append(Photo(path, w, h))
    skipped = []
    if unreadable:
        skipped.append(f"{len(unreadable)} unreadable (e.g. {unreadable[0]})")
    if tiny:
        skipped.append(f"{len(tiny)} smaller than {MIN_PHOTO_SIDE} pixels on a side "
                       f"(e.g. {tiny[0]})")
    if len(photos) < 2:
        raise QuantizeError(f"--calibrate {folder}: {len(photos)} of {len(paths)} images "
                            f"can calibrate ({'; '.join(skipped)}); int8 needs at least 2 "
                            "photos like the ones you will translate (some to calibrate, "
                            "some to check the result)")
    if skipped:
        log(f"calibration: skipped {'; '.join(skipped)}")
    return photos


def split(photos: list[Photo]) -> tuple[list[Photo], list[Photo]]:
    """(calibration, held back for the gate): every HELD_BACK-th photo is held back."""
    held = photos[HELD_BACK - 1::HELD_BACK] or photos[-1:]
    return [p for p in photos if p not in held], held


class _Reader:
    """onnxruntime's CalibrationDataReader protocol: one photo per batch (sizes may differ),
    decoded when asked for, in ranges (set_range) so only a chunk of photos' activations
    is held at a time."""

    def __init__(self, input_name: str, photos: list[Photo], size: int, geometry: Geometry):
        self.input_name, self.photos, self.size, self.geometry = (input_name, photos, size,
                                                                  geometry)
        self.set_range(0, len(photos))

    def __len__(self) -> int:
        return len(self.photos)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.items = iter(self.photos[start_index:end_index])

    def get_next(self):
        photo = next(self.items, None)
        if photo is None:
            return None
        return {self.input_name: photo.decode(self.size, self.geometry).x[None]}


def activation_bytes_per_pixel(proto) -> float:
    """Bytes of every float tensor the model computes, per input pixel: what calibration
    holds for each photo. Measured by running it once on a small input with every
    intermediate tensor made an output (shapes inferred statically stop at dynamic pads)."""
    import onnx
    from onnx import TensorProto, helper, shape_inference

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    inferred = shape_inference.infer_shapes(model)
    have = {o.name for o in model.graph.output}
    model.graph.output.extend(
        helper.make_tensor_value_info(v.name, TensorProto.FLOAT, None)
        for v in inferred.graph.value_info
        if v.type.tensor_type.elem_type == TensorProto.FLOAT and v.name not in have)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    side = 4 * MIN_SIZE
    x = np.zeros((1, 3, side, side), np.float32)
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    return sum(o.nbytes for o in outputs) / side**2


def chunk_size(photos: list[Photo], size: int, bytes_per_pixel: float,
               available: int | None) -> int:
    """Photos per collection pass: their activations within CHUNK_BYTES (and half the free
    memory, `available` bytes; None: unknown), and dividing the count evenly (onnxruntime's
    strided calibration needs that). QuantizeError when one photo alone would not fit."""
    largest = max(photos, key=lambda p: p.pixels(size))
    one = largest.pixels(size) * bytes_per_pixel
    if available is None:
        available = 2 * CHUNK_BYTES
    elif one > available:
        raise QuantizeError(
            f"calibrating at {size} pixels needs about {one / 2**30:.1f} GB per photo with "
            f"this model ({largest.path.name}; {available / 2**30:.1f} GB free): use a "
            f"smaller --calibrate-size (default: the size the model works at)")
    count = max(1, min(len(photos), int(min(CHUNK_BYTES, available / 2) // one)))
    while len(photos) % count:
        count -= 1
    return count


def float_nodes(proto) -> list[str]:
    """The first and the last convolution, which stay float (see QUANTIZED_OPS)."""
    convs = [n.name for n in proto.graph.node if n.op_type in QUANTIZED_OPS]
    return sorted({convs[0], convs[-1]})


def _session(model: bytes):
    from cyclegan.infer.runtime import OrtGenerator

    return OrtGenerator(model, device="cpu")


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


def _geometry(model: bytes) -> Geometry:
    """How the model pads its input (its size multiple and minimum, in its metadata)."""
    try:
        return Geometry.from_metadata(read_metadata(model))
    except ValueError as exc:
        raise QuantizeError(f"the model's {exc}") from None


def onnx_proto(data: bytes):
    import onnx

    try:
        return onnx.load_from_string(data)
    except Exception as exc:
        raise QuantizeError(f"cannot read the model: {exc}") from None


def quantize_bytes(fp32: bytes, photos: list[Photo], size: int,
                   method: str = DEFAULT_METHOD, tuned: bool = True) -> bytes:
    """QDQ int8 model bytes from fp32 bytes, calibrated on `photos` scaled to `size`;
    no quality check. tuned=False skips the graph rewrites and 7-bit weights: onnxruntime's
    plain QDQ graph, which benchmarks/bench_infer.py compares against."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in METHODS:
        raise QuantizeError(f"calibration method must be one of {', '.join(METHODS)}, "
                            f"got {method!r}")
    proto = onnx_proto(fp32)
    check_quantizable(proto)
    if tuned:
        graph_rewrites(proto)
    chunk = chunk_size(photos, size, activation_bytes_per_pixel(proto), host_available_bytes())
    calib = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
             "entropy": CalibrationMethod.Entropy}[method]
    with _temp_folder() as tmp:
        out = tmp / "int8.onnx"
        try:
            with _quiet():
                quantize_static(
                    proto, out, _Reader(proto.graph.input[0].name, photos, size, _geometry(fp32)),
                    quant_format=QuantFormat.QDQ, op_types_to_quantize=list(QUANTIZED_OPS),
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, reduce_range=REDUCE_RANGE and tuned,
                    nodes_to_exclude=float_nodes(proto),
                    calibrate_method=calib,
                    # Photos go in chunks (see CHUNK_BYTES). Not CalibMaxIntermediateOutputs:
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


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * np.log10(255.0 ** 2 / mse))


def gate(fp32: bytes, int8: bytes, held: list[Photo], size: int) -> GateResult:
    """PSNR of int8 output pixels against fp32's, one number per held-back photo."""
    ref, low = _session(fp32), _session(int8)
    geometry = _geometry(fp32)
    scores = []
    for photo in held:
        p = photo.decode(size, geometry)
        x = p.x[None]
        want = from_model_output(ref(x)[0], p.height, p.width)
        got = from_model_output(low(x)[0], p.height, p.width)
        scores.append(psnr(want, got))
    return GateResult(scores)


def with_int8_metadata(int8: bytes, fp32: bytes, record: dict) -> bytes:
    """The fp32 file's metadata, precision=int8, how it was calibrated, and the digest of
    the fp32 graph (which binds the two); nothing the quantizer added."""
    return set_metadata(int8, {**read_metadata(fp32), "precision": "int8",
                               "quantization": json.dumps(record, sort_keys=True),
                               FP32_DIGEST: graph_digest(fp32)}, replace=True)


def quantize_model(fp32: bytes, photos: list[Photo], target: Path, size: int,
                   method: str = DEFAULT_METHOD, log=print) -> GateResult:
    """Quantize, gate and write `target`; QualityGateError (nothing written) below the gate."""
    calibration, held = split(photos)
    int8 = quantize_bytes(fp32, calibration, size, method)
    result = gate(fp32, int8, held, size)
    log(f"{target.name}: {result}")
    if not result.ok:
        raise QualityGateError(
            f"{target.name} not written: {result}. Try more calibration photos "
            f"(--calibrate-images, {len(photos)} used), another --calibration-method "
            f"({method} used; {', '.join(m for m in METHODS if m != method)}), or keep the "
            "fp32 model for these photos")
    record = {"method": method, "per_channel": True, "quantized_ops": QUANTIZED_OPS,
              "reduce_range": REDUCE_RANGE, "graph_rewrites": graph_rewrites(onnx_proto(fp32)),
              "float_nodes": float_nodes(onnx_proto(fp32)), "calibration_size": size,
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
