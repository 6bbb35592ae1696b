"""The model side of cyclegan-infer: an onnxruntime session with providers chosen safely.

onnxruntime-gpu runs fine on machines without a GPU (CPU provider), but merely asking for the
CUDA provider there prints library-load errors before it falls back; so CUDA is requested
only when a GPU is actually present, and onnxruntime's own logging is kept to errors.
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

import numpy as np

from cyclegan.contract import Geometry, work_size_of
from cyclegan.errors import CycleganError, UsageError, first_line
from cyclegan.infer import variants
from cyclegan.infer.binding import CUDA_EP, BoundRunner

DEVICES = ("auto", "cpu", "cuda")
DEFAULT_DEVICE = DEVICES[0]  # auto: CUDA when a GPU is usable, else the CPU
ONNX_SUFFIXES = (".onnx",)
FLOAT_TYPES = ("tensor(float)", "tensor(float16)")


class ModelError(UsageError):
    """The model file is missing, unreadable or not a 3-channel image generator."""


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def gpu_present() -> bool:
    """An NVIDIA GPU this process may use, found without loading any CUDA library."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    torch = sys.modules.get("torch")  # only if already imported: importing it costs seconds
    if torch is not None and torch.cuda.is_available():
        return True
    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/proc/driver/nvidia/gpus/*"))


def _ort():
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    return ort


def choose_providers(device: str) -> list:
    if device not in DEVICES:
        raise ModelError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    ort = _ort()
    has_cuda_ep = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda":
        if not has_cuda_ep:
            raise ModelError("--device cuda: this onnxruntime build has no CUDA provider "
                             "(install onnxruntime-gpu)")
        if not gpu_present():
            raise ModelError("--device cuda: no NVIDIA GPU found")
    if device == "cuda" or (device == "auto" and has_cuda_ep and gpu_present()):
        # Folders mix image sizes; an exhaustive cuDNN search would rerun for every new one.
        cuda = ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"})
        return [cuda, "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OrtGenerator:
    """Callable: N x 3 x H x W float32 in [-1, 1] -> same shape, on the chosen provider."""

    def __init__(self, model: str | os.PathLike | bytes, device: str = DEFAULT_DEVICE,
                 threads: int | None = None, name: str | None = None):
        ort = _ort()
        self.name = name or (os.fspath(model) if not isinstance(model, bytes) else "model")
        providers = choose_providers(device)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = threads or cpu_count()
        opts.inter_op_num_threads = 1
        # onnxruntime's default: threads spin briefly between parallel sections. Turning
        # that off (to leave the cores to the decode and encode pools) made the model about
        # 2% slower on 2 cores and the pipeline no faster (docs/benchmarks.md).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
        source = model if isinstance(model, bytes) else os.fspath(model)
        try:
            self.session, graphs = _open_session(ort, source, opts, providers)
        except Exception as exc:
            first = first_line(exc)
            raise ModelError(f"cannot load {self.name} as an ONNX model: {first}") from None
        active = self.session.get_providers()
        self.device = "cuda" if "CUDAExecutionProvider" in active else "cpu"
        if device == "cuda" and self.device != "cuda":
            raise ModelError("--device cuda: the CUDA provider failed to start (see the "
                             "messages above); use --device cpu")
        self.meta = dict(self.session.get_modelmeta().custom_metadata_map)
        try:
            self.geometry = Geometry.from_metadata(self.meta)
            self.work_size = work_size_of(self.meta)
        except ValueError as exc:
            raise ModelError(f"{self.name}: damaged {exc}") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{self.name}: expected one input and one output, got "
                             f"{len(inputs)} and {len(outputs)}")
        # Refused here, once, rather than failing (or writing garbage) image by image.
        for what, arg in (("input", inputs[0]), ("output", outputs[0])):
            shape = arg.shape
            if len(shape) != 4 or (shape[1] != 3 and not isinstance(shape[1], str)):
                raise ModelError(f"{self.name}: expected an N x 3 x H x W image {what}, got "
                                 f"shape {shape}")
            if arg.type not in FLOAT_TYPES:
                raise ModelError(f"{self.name}: expected a float32 or float16 {what}, got "
                                 f"{arg.type}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.input_dtype = np.float16 if inputs[0].type == "tensor(float16)" else np.float32
        self._run = BoundRunner(ort, self.session, self.input_name, self.output_name,
                                self.input_dtype, self.device, graphs)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._run(x)

    def describe(self) -> str:
        src, dst = self.meta.get("source_domain"), self.meta.get("target_domain")
        what = f"{src} -> {dst}" if src and dst else "generator"
        precision = self.meta.get("precision", "fp32")
        return f"{Path(self.name).name} ({what}, {precision}) on {self.device}"


def _open_session(ort, source, opts, providers):
    """(session, CUDA graphs on). On CUDA, graphs are asked for first: onnxruntime refuses
    them at load when a node would run on the CPU, and then a plain CUDA session is used."""
    first = providers[0]
    if isinstance(first, tuple) and first[0] == CUDA_EP:
        with_graphs = [(CUDA_EP, {**first[1], "enable_cuda_graph": "1"}), *providers[1:]]
        try:
            return ort.InferenceSession(source, opts, providers=with_graphs), True
        except Exception:  # any refusal means: no graphs for this model
            pass
    return ort.InferenceSession(source, opts, providers=providers), False


def load_model(path: str | os.PathLike, direction: str | None = None,
               device: str = DEFAULT_DEVICE,
               threads: int | None = None, log=print,
               precision: str = variants.AUTO, warn=print) -> OrtGenerator:
    """An .onnx file (or its variant of `precision` beside it, cyclegan.infer.variants);
    anything else is read as a cyclegan checkpoint, exported to ONNX in memory (verified
    against torch like cyclegan-export) and run by onnxruntime.
    `direction`: a checkpoint's generator (default A2B); for an .onnx file, which holds one,
    a check of its metadata. `warn` says when a stale variant is passed over."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model not found: {path}")
    variants.check(precision)
    on = "cuda" if len(choose_providers(device)) > 1 else "cpu"
    if path.suffix.lower() in ONNX_SUFFIXES:
        model = OrtGenerator(variants.choose(path, precision, on, warn), device, threads)
        held = model.meta.get("direction")
        if direction is not None and held != direction:
            has = f"holds the {held} generator" if held else "does not record its direction"
            raise ModelError(f"{path} {has}; --direction {direction} needs a checkpoint or "
                             f"the G_{direction}.onnx file")
        return model
    if precision == "int8":
        raise ModelError("--precision int8 needs an exported model: cyclegan-export "
                         f"{path} --out DIR {variants.HOW_TO_MAKE['int8']}")
    direction = direction or "A2B"
    # Only a checkpoint needs torch: imported here, never for an .onnx model.
    from cyclegan.checkpoint import load_generator
    from cyclegan.export.to_onnx import export_generator

    try:
        generator, meta = load_generator(path, direction=direction, fused=False)
        data, _ = export_generator(generator, meta, direction,
                                   "fp16" if precision == "fp16" else "fp32")
    except (ValueError, KeyError, OSError, CycleganError) as exc:
        raise ModelError(f"cannot use {path} as a model: {exc}") from None
    log(f"exported {path.name} ({direction}) to ONNX in memory; use cyclegan-export to do "
        "this once")
    return OrtGenerator(data, device, threads, name=str(path))
