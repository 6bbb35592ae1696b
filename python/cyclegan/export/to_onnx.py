"""ONNX export of generators, checked against PyTorch with onnxruntime before anything is written.

The graph is traced from the reference path (fused=False: plain InstanceNorm2d, ReLU,
ReflectionPad2d), so it holds standard ONNX ops only; the fused custom ops never reach it.
The TorchScript exporter (torch.onnx.export(dynamo=False)) is used because the dynamo
exporter needs onnxscript, which is not a dependency of this package.

fp16 variants hold float16 weights and compute in float16, but keep float32 input and output
(a Cast at each end), so they are drop-in replacements for the fp32 files.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import cyclegan
from cyclegan.contract import (
    ATOL,
    DEFAULT_OPSET,
    DIRECTIONS,
    FORMAT,
    FP32_DIGEST,
    INPUT_NAME,
    NORMALIZATION,
    OUTPUT_NAME,
    direction_error,
    graph_digest,
    opset_error,
    set_metadata,
    variant_path,
)
from cyclegan.errors import CycleganError
from cyclegan.fileio import atomic_write_bytes, probe_writable
from cyclegan.models import ModelConfig

# Random inputs exercise a batch and an odd non-square size; "photo" inputs are real-sized.
CHECK_INPUTS = (("random", (2, 3, 36, 52)), ("photo", (1, 3, 256, 256)),
                ("photo", (1, 3, 240, 320)))


class ExportError(CycleganError):
    """Export could not run (bad model or arguments, unwritable output)."""


class VerificationError(ExportError):
    """onnxruntime output differs from PyTorch by more than the tolerance."""

    def __init__(self, name: str, checks: list[CheckResult]):
        self.checks = checks
        lines = [f"{name}: onnxruntime does not match PyTorch; not written"]
        lines += [f"  {c}" for c in checks]
        super().__init__("\n".join(lines))


@dataclass
class CheckResult:
    kind: str
    shape: tuple[int, ...]
    max_abs_diff: float
    atol: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.atol

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAIL"
        dims = "x".join(map(str, self.shape))
        return (f"{self.kind:6s} {dims:>14s}: max abs diff {self.max_abs_diff:.3g} "
                f"(tolerance {self.atol:g}) {verdict}")


def reference_copy(generator: nn.Module) -> nn.Module:
    """A fused=False float32 copy in eval mode: the path that is traced and trusted."""
    from cyclegan.models import build_generator

    ref = build_generator(generator.config, fused=False)
    ref.load_state_dict(generator.state_dict())
    return ref.float().eval()


class _HalfCompute(nn.Module):
    """float32 in, float16 inside, float32 out."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x.half()).float()


def trace_to_onnx(reference: nn.Module, precision: str = "fp32",
                  opset: int = DEFAULT_OPSET) -> bytes:
    """Trace a fused=False generator to ONNX bytes with dynamic batch, height and width."""
    if precision not in ATOL:
        raise ExportError(f"precision must be one of {sorted(ATOL)}, got {precision!r}")
    if problem := opset_error(opset):
        raise ExportError(problem)
    module = _HalfCompute(reference_copy(reference)) if precision == "fp16" else reference
    dims = {0: "batch", 2: "height", 3: "width"}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter warns about its own deprecation and about instance
        # norm's train flag (which is what we want: statistics from the input).
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros(1, 3, 64, 64),), buf, dynamo=False,
                          opset_version=opset, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: dims, OUTPUT_NAME: dims})
    return buf.getvalue()


def build_metadata(meta: dict, direction: str, precision: str) -> dict[str, str]:
    """metadata_props for a generator; meta is load_generator's meta dict."""
    cfg = ModelConfig.from_dict(meta.get("config") or {})
    domains = dict(meta.get("domains") or {"A": "A", "B": "B"})
    src, dst = (domains.get("A", "A"), domains.get("B", "B"))
    if direction == "B2A":
        src, dst = dst, src
    props = {
        "format": FORMAT,
        "direction": direction,
        "domains": json.dumps(domains, sort_keys=True),
        "source_domain": str(src),
        "target_domain": str(dst),
        "normalization": NORMALIZATION,
        "model_config": json.dumps(meta.get("config") or {}, sort_keys=True),
        "precision": precision,
        "io_dtype": "float32",
        # The model's own size rule, which cyclegan-infer pads by.
        **cfg.geometry.to_metadata(),
        "package_version": cyclegan.__version__,
        "checkpoint_version": str(meta.get("version", "")),
    }
    if cfg.work_size is not None:  # else readers fall back to contract.DEFAULT_WORK_SIZE
        props["work_size"] = str(cfg.work_size)
    for key in ("step", "epoch"):
        if meta.get(key) is not None:
            props[f"checkpoint_{key}"] = str(meta[key])
    return props


def attach_metadata(model_bytes: bytes, props: dict[str, str]) -> bytes:
    import onnx

    model = onnx.load_from_string(model_bytes)
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "cyclegan"
    model.producer_version = cyclegan.__version__
    model.doc_string = (f"CycleGAN generator {props.get('source_domain')} -> "
                        f"{props.get('target_domain')}. {NORMALIZATION}")
    onnx.checker.check_model(model)
    custom = sorted({n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx")})
    if custom:
        raise ExportError(f"exported graph uses non-standard op domains {custom}")
    return model.SerializeToString()


def photo_like(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Smooth colour gradients plus texture in [-1, 1]: closer to a photo than white noise."""
    n, c, h, w = shape
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    out = np.empty(shape, np.float32)
    for i in range(n):
        for ch in range(c):
            fy, fx, phase = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 6.3)
            base = 0.6 * np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)
            out[i, ch] = base + 0.15 * rng.standard_normal((h, w))
    return np.clip(out, -1, 1)


def check_inputs(seed: int = 0, multiple: int = 1) -> list[tuple[str, np.ndarray]]:
    """CHECK_INPUTS, heights and widths rounded up to the generator's size multiple."""
    rng = np.random.default_rng(seed)
    inputs = []
    for kind, shape in CHECK_INPUTS:
        shape = (*shape[:2], *(-(-d // multiple) * multiple for d in shape[2:]))
        if kind == "random":
            inputs.append((kind, rng.uniform(-1, 1, shape).astype(np.float32)))
        else:
            inputs.append((kind, photo_like(shape, seed)))
    return inputs


def verify(model_bytes: bytes, reference: nn.Module, precision: str = "fp32",
           atol: float | None = None) -> list[CheckResult]:
    """Run the ONNX model on CPU onnxruntime and the float32 reference on the same inputs."""
    import onnxruntime as ort

    atol = ATOL[precision] if atol is None else atol
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    results = []
    for kind, x in check_inputs(multiple=reference.config.geometry.multiple):
        got = session.run(None, {INPUT_NAME: x})[0]
        with torch.no_grad():
            want = reference(torch.from_numpy(x)).numpy()
        if got.shape != want.shape:
            diff = float("inf")
        else:
            diff = float(np.abs(got.astype(np.float64) - want).max())
        results.append(CheckResult(kind, tuple(x.shape), diff, atol))
    return results


def export_generator(generator: nn.Module, meta: dict, direction: str,
                     precision: str = "fp32", opset: int = DEFAULT_OPSET,
                     atol: float | None = None) -> tuple[bytes, list[CheckResult]]:
    """Export and verify; returns (model bytes, checks) or raises VerificationError."""
    reference = reference_copy(generator)
    data = trace_to_onnx(reference, precision, opset)
    data = attach_metadata(data, build_metadata(meta, direction, precision))
    checks = verify(data, reference, precision, atol)
    if not all(c.ok for c in checks):
        raise VerificationError(f"G_{direction} ({precision})", checks)
    return data, checks


def output_name(direction: str, precision: str) -> str:
    return variant_path(f"G_{direction}.onnx", precision).name


def load_directions(ckpt: Path, directions: tuple[str, ...] | None):
    """[(direction, generator, meta)]; None means every direction the checkpoint holds."""
    from cyclegan.checkpoint import load_checkpoint, load_generator

    if directions is None:
        try:
            state = load_checkpoint(ckpt)
        except (KeyError, ValueError, OSError, RuntimeError) as exc:
            raise ExportError(f"cannot read checkpoint {ckpt}: {exc}") from exc
        directions = tuple(d for d in DIRECTIONS if state.get(f"G_{d}") is not None)
        del state
        if not directions:
            raise ExportError(f"{ckpt} holds no generator (no G_A2B or G_B2A)")
    loaded = []
    for direction in directions:
        if direction_error(direction):
            raise ExportError(direction_error(direction))
        try:
            generator, meta = load_generator(ckpt, direction=direction, fused=False)
        except (KeyError, ValueError, OSError, RuntimeError) as exc:
            raise ExportError(f"cannot load G_{direction} from {ckpt}: {exc}") from exc
        loaded.append((direction, generator, meta))
    return loaded


def export_checkpoint(checkpoint: str | os.PathLike, out_dir: str | os.PathLike,
                      directions: tuple[str, ...] | None = None, fp16: bool = False,
                      opset: int = DEFAULT_OPSET, log=print,
                      domains: dict[str, str] | None = None) -> tuple[list[Path], list[str]]:
    """Export each direction (and fp16 variants); returns (written files, failure reports).
    `domains` replaces the domain names the checkpoint records, in the files' metadata.

    A model that fails verification is reported and not written; the others still are.
    """
    from cyclegan.checkpoint import CheckpointError, resolve_checkpoint

    if problem := opset_error(opset):  # before the checkpoint is read
        raise ExportError(problem)
    try:
        ckpt = resolve_checkpoint(checkpoint)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from exc
    loaded = load_directions(ckpt, directions)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} exists and is not a folder")
    try:
        probe_writable(out)
    except OSError as exc:
        raise ExportError(f"cannot write to {out}: {exc.strerror or exc}") from exc
    written, failures = [], []
    for direction, generator, meta in loaded:
        if domains:
            meta = {**meta, "domains": domains}
        fp32_digest = None
        for precision in ("fp32", "fp16") if fp16 else ("fp32",):
            target = out / output_name(direction, precision)
            try:
                data, checks = export_generator(generator, meta, direction, precision, opset)
            except VerificationError as exc:
                failures.append(str(exc))
                log(str(exc))
                continue
            if precision == "fp32":
                fp32_digest = graph_digest(data)
            elif fp32_digest is not None:  # binds the variant to its fp32 file
                data = set_metadata(data, {FP32_DIGEST: fp32_digest})
            try:
                atomic_write_bytes(target, data)
            except OSError as exc:
                raise ExportError(f"cannot write to {out}: {exc}") from exc
            worst = max(c.max_abs_diff for c in checks)
            log(f"wrote {target} ({len(data) / 1e6:.1f} MB, max abs diff vs torch "
                f"{worst:.2g} over {len(checks)} checks)")
            written.append(target)
    return written, failures
