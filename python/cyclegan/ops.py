"""Fused instance norm + ReLU / residual add + reflection pad, as PyTorch custom ops.

``norm_act_pad(x, pad, act)`` computes ``reflect_pad(act(instance_norm(x)), pad)`` and
``norm_add_pad(x, skip, pad)`` computes ``reflect_pad(instance_norm(x) + skip, pad)``, where
the instance norm has no affine parameters and uses the biased variance over H*W of each
(n, c) plane, like ``nn.InstanceNorm2d``. The kernels live in the torch-free module
``cyclegan._C``; everything torch-specific (validation, allocation, streams, autograd,
fake kernels for ``torch.compile``) is here.

Each op is a ``torch.library.custom_op`` whose own body only refuses devices without
kernels; its ``cpu`` and ``cuda`` kernels (``register_kernel``) validate, allocate the
outputs, build the entry point's one argument struct by keyword (a ``_C.View`` per tensor,
the ``_C.ImageShape``) and hand it to a runner (``_cpu`` or ``_cuda``: threads, stream,
workspace) that calls the device's ``_C`` entry point.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from . import _C

__all__ = ["norm_act_pad", "norm_add_pad", "ACTS"]

# Activation and dtype codes are the compiled module's enums, so they are written once.
ACTS = {name: int(code) for name, code in _C.Act.__members__.items()}
_DTYPES = {torch.float32: _C.DType.float32, torch.float64: _C.DType.float64,
           torch.float16: _C.DType.float16, torch.bfloat16: _C.DType.bfloat16}
_CPU_DTYPES = (torch.float32, torch.float64)
_CUDA_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _stats_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _check(name: str, x: Tensor, skip: Tensor | None, pad: int, eps: float) -> None:
    """Raise a clear error for anything the kernels cannot take."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{name}: x must be 4-D (N, C, H, W), got {x.dim()}-D shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name}: x must be a floating-point tensor, got {x.dtype}")
    if isinstance(pad, bool) or not isinstance(pad, int):
        raise TypeError(f"{name}: pad must be an int, got {type(pad).__name__}")
    if pad < 0:
        raise ValueError(f"{name}: pad must be >= 0, got {pad}")
    h, w = x.shape[-2:]
    if h < 1 or w < 1:
        raise ValueError(f"{name}: H and W must be >= 1, got shape {tuple(x.shape)}")
    if pad >= h or pad >= w:
        raise ValueError(
            f"{name}: reflection pad {pad} must be smaller than H={h} and W={w} "
            f"(as nn.ReflectionPad2d requires)"
        )
    if not eps > 0:
        raise ValueError(f"{name}: eps must be > 0, got {eps}")
    if skip is None:
        return
    if not isinstance(skip, Tensor):
        raise TypeError(f"{name}: skip must be a torch.Tensor, got {type(skip).__name__}")
    if skip.device != x.device:
        raise ValueError(f"{name}: skip is on {skip.device} but x is on {x.device}")
    if skip.shape != x.shape:
        raise ValueError(
            f"{name}: skip shape {tuple(skip.shape)} must equal x shape {tuple(x.shape)}"
        )
    if skip.dtype != x.dtype:
        raise TypeError(f"{name}: skip dtype {skip.dtype} must equal x dtype {x.dtype}")


def _check_dtype(name: str, x: Tensor) -> None:
    """The dtypes of the kernels of x's device (one of those registered below)."""
    if x.device.type == "cpu" and x.dtype not in _CPU_DTYPES:
        raise TypeError(f"{name}: CPU kernels take float32 or float64, got {x.dtype}")
    if x.device.type == "cuda" and x.dtype not in _CUDA_DTYPES:
        raise TypeError(f"{name}: CUDA kernels take float32, float16 or bfloat16, got {x.dtype}")


def _no_kernel(name: str, x: Tensor) -> RuntimeError:
    """The error of an op called on a device it has no kernel for (its default body)."""
    if x.device.type == "cuda":
        return RuntimeError(
            f"{name}: this cyclegan build has no CUDA kernels (nvcc was not found when it "
            "was compiled); reinstall from source with the CUDA toolkit, or use fused=False"
        )
    return RuntimeError(f"{name}: no kernel for device type {x.device.type!r}")


def _kernel(op, device: str):
    """Registers the decorated function as `op`'s kernel for `device`; CUDA kernels only in
    builds that have them (elsewhere the op's default body explains)."""

    def register(fn):
        if device != "cuda" or _C.has_cuda:
            op.register_kernel(device)(fn)
        return fn

    return register


# ---- calling _C: one argument struct per call, built by keyword ----

_threads = 0


def _sync_threads() -> None:
    # The C++ pool follows torch's intra-op thread setting, so one knob controls both.
    global _threads
    n = torch.get_num_threads()
    if n != _threads:
        _C.set_num_threads(n)
        _threads = n


def _cpu(entry):
    """The runner of a _C.cpu_* entry point (NCHW-contiguous arrays): on the module's pool."""

    def run(args) -> None:
        _sync_threads()
        entry(args)

    return run


@functools.cache
def _sm_count(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def _cuda(entry, device: torch.device, workspace_floats=None):
    """The runner of a _C.cuda_* entry point: on the device's current stream, with the SM
    count (the norm kernels split a plane across blocks when planes alone cannot fill the
    GPU) and a float32 workspace of workspace_floats(shape, sms) elements, from torch's
    caching allocator like every other buffer."""

    def run(args) -> None:
        with torch.cuda.device(device):
            sms = _sm_count(torch.cuda.current_device())
            floats = workspace_floats(args.shape, sms) if workspace_floats else 0
            workspace = torch.empty(floats, dtype=torch.float32, device=device)
            args.launch = _C.Launch(sms=sms, workspace=workspace.data_ptr(),
                                    workspace_floats=floats,
                                    stream=torch.cuda.current_stream(device).cuda_stream)
            entry(args)

    return run


def _norm_cuda(entry, device: torch.device):
    return _cuda(entry, device, _C.cuda_norm_act_pad_workspace_floats)


def _view(t: Tensor | None) -> _C.View:
    """A tensor as the kernels see it (the empty View for an absent one). Views are of
    N x C x H x W arrays: the (N, C) statistics get strides 0 for their missing H and W."""
    if t is None:
        return _C.View()
    return _C.View(data=t.data_ptr(), strides=t.stride() + (0,) * (4 - t.dim()))


def _shape(x: Tensor, pad: int) -> _C.ImageShape:
    n, c, h, w = x.shape
    return _C.ImageShape(n=n, c=c, h=h, w=w, pad=pad)


def _memory_format(like: Tensor) -> torch.memory_format:
    """The layout of outputs shaped like `like`: channels_last when `like` is a 4-D
    channels_last tensor anywhere but the CPU (the CUDA kernels take any strides and keep
    the input's layout, and meta tensors follow them), else NCHW contiguous (the only
    layout of the CPU kernels)."""
    if (
        like.device.type != "cpu"
        and like.dim() == 4
        and not like.is_contiguous()
        and like.is_contiguous(memory_format=torch.channels_last)
    ):
        return torch.channels_last
    return torch.contiguous_format


def _empty(like: Tensor, shape=None, dtype=None) -> Tensor:
    """Allocates every output, for the real and the fake kernels alike, so their strides
    agree (torch.compile asserts it): 4-D outputs in `like`'s memory format (see
    _memory_format), statistics contiguous."""
    shape = like.shape if shape is None else tuple(shape)
    fmt = _memory_format(like) if len(shape) == 4 else torch.contiguous_format
    return torch.empty(shape, dtype=like.dtype if dtype is None else dtype, device=like.device,
                       memory_format=fmt)


def _outputs_fwd(x: Tensor, pad: int) -> tuple[Tensor, Tensor, Tensor]:
    n, c, h, w = x.shape
    stats = _stats_dtype(x.dtype)
    y = _empty(x, (n, c, h + 2 * pad, w + 2 * pad))
    return y, _empty(x, (n, c), stats), _empty(x, (n, c), stats)


def _contiguous(*tensors: Tensor | None) -> list[Tensor | None]:
    """The CPU kernels' inputs: NCHW contiguous."""
    return [None if t is None else t.contiguous() for t in tensors]


def _check_grad(name: str, gy: Tensor, like: Tensor, pad: int) -> None:
    n, c, h, w = like.shape
    if gy.shape != (n, c, h + 2 * pad, w + 2 * pad) or gy.dtype != like.dtype:
        raise ValueError(f"{name}: gradient {tuple(gy.shape)} {gy.dtype} does not match the output")


# ---- the forward: norm_act_pad and norm_add_pad share one entry point ----

def _fwd(run, name: str, x: Tensor, skip: Tensor | None, pad: int, act: int, eps: float):
    """Validates, allocates and calls run(args) with the forward's argument struct."""
    _check(name, x, skip, pad, eps)
    _check_dtype(name, x)
    if act not in ACTS.values():
        raise ValueError(f"{name}: unknown act code {act}")
    y, mean, rstd = _outputs_fwd(x, pad)
    if x.numel():
        run(_C.NormActPadFwd(dtype=_DTYPES[x.dtype], x=_view(x), skip=_view(skip), y=_view(y),
                             mean=_view(mean), rstd=_view(rstd), shape=_shape(x, pad),
                             act=_C.Act(act), eps=eps))
    return y, mean, rstd


@torch.library.custom_op("cyclegan::norm_act_pad", mutates_args=())
def _norm_act_pad(x: Tensor, pad: int, act: int, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    raise _no_kernel("norm_act_pad", x)


@_kernel(_norm_act_pad, "cpu")
def _(x, pad, act, eps):
    (x,) = _contiguous(x)
    return _fwd(_cpu(_C.cpu_norm_act_pad_fwd), "norm_act_pad", x, None, pad, act, eps)


@_kernel(_norm_act_pad, "cuda")
def _(x, pad, act, eps):
    run = _norm_cuda(_C.cuda_norm_act_pad_fwd, x.device)
    return _fwd(run, "norm_act_pad", x, None, pad, act, eps)


@_norm_act_pad.register_fake
def _(x, pad, act, eps):
    return _outputs_fwd(x, pad)


@torch.library.custom_op("cyclegan::norm_add_pad", mutates_args=())
def _norm_add_pad(x: Tensor, skip: Tensor, pad: int, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    raise _no_kernel("norm_add_pad", x)


@_kernel(_norm_add_pad, "cpu")
def _(x, skip, pad, eps):
    x, skip = _contiguous(x, skip)
    return _fwd(_cpu(_C.cpu_norm_act_pad_fwd), "norm_add_pad", x, skip, pad, ACTS["none"], eps)


@_kernel(_norm_add_pad, "cuda")
def _(x, skip, pad, eps):
    run = _norm_cuda(_C.cuda_norm_act_pad_fwd, x.device)
    return _fwd(run, "norm_add_pad", x, skip, pad, ACTS["none"], eps)


@_norm_add_pad.register_fake
def _(x, skip, pad, eps):
    return _outputs_fwd(x, pad)


# ---- the backward from the input: norm_act_pad's, and norm_add_pad's in half precision ----

def _bwd(run, gy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, pad: int, act: int,
         with_gskip: bool) -> tuple[Tensor, Tensor | None]:
    mean, rstd = mean.contiguous(), rstd.contiguous()
    gx = _empty(x)
    gskip = _empty(x) if with_gskip else None
    if x.numel():
        run(_C.NormActPadBwd(dtype=_DTYPES[x.dtype], gy=_view(gy), x=_view(x), mean=_view(mean),
                             rstd=_view(rstd), gx=_view(gx), gskip=_view(gskip),
                             shape=_shape(x, pad), act=_C.Act(act)))
    return gx, gskip


@torch.library.custom_op("cyclegan::norm_act_pad_backward", mutates_args=())
def _norm_act_pad_backward(
    gy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, pad: int, act: int
) -> Tensor:
    raise _no_kernel("norm_act_pad_backward", x)


@_kernel(_norm_act_pad_backward, "cpu")
def _(gy, x, mean, rstd, pad, act):
    _check_grad("norm_act_pad_backward", gy, x, pad)
    gy, x = _contiguous(gy, x)
    return _bwd(_cpu(_C.cpu_norm_act_pad_bwd), gy, x, mean, rstd, pad, act, False)[0]


@_kernel(_norm_act_pad_backward, "cuda")
def _(gy, x, mean, rstd, pad, act):
    _check_grad("norm_act_pad_backward", gy, x, pad)
    run = _norm_cuda(_C.cuda_norm_act_pad_bwd, x.device)
    return _bwd(run, gy, x, mean, rstd, pad, act, False)[0]


@_norm_act_pad_backward.register_fake
def _(gy, x, mean, rstd, pad, act):
    return _empty(x)


@torch.library.custom_op("cyclegan::norm_add_pad_backward_from_input", mutates_args=())
def _norm_add_pad_backward_from_input(
    gy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, pad: int
) -> tuple[Tensor, Tensor]:
    """Gradients of x and skip from the forward's input: xhat = (x - mean) * rstd."""
    raise _no_kernel("norm_add_pad_backward_from_input", x)


@_kernel(_norm_add_pad_backward_from_input, "cpu")
def _(gy, x, mean, rstd, pad):
    _check_grad("norm_add_pad_backward_from_input", gy, x, pad)
    gy, x = _contiguous(gy, x)
    return _bwd(_cpu(_C.cpu_norm_act_pad_bwd), gy, x, mean, rstd, pad, ACTS["none"], True)


@_kernel(_norm_add_pad_backward_from_input, "cuda")
def _(gy, x, mean, rstd, pad):
    _check_grad("norm_add_pad_backward_from_input", gy, x, pad)
    run = _norm_cuda(_C.cuda_norm_act_pad_bwd, x.device)
    return _bwd(run, gy, x, mean, rstd, pad, ACTS["none"], True)


@_norm_add_pad_backward_from_input.register_fake
def _(gy, x, mean, rstd, pad):
    return _empty(x), _empty(x)


# ---- the backward of norm_add_pad from its output ----

def _add_bwd(run, gy: Tensor, y: Tensor, skip: Tensor, rstd: Tensor, pad: int):
    """Gradients of x and skip from the forward's output: xhat = interior(y) - skip."""
    _check_grad("norm_add_pad_backward", gy, skip, pad)
    if y.shape != gy.shape or y.dtype != skip.dtype:
        raise ValueError(f"norm_add_pad_backward: output {tuple(y.shape)} does not match gy")
    rstd = rstd.contiguous()
    gx, gskip = _empty(y, skip.shape), _empty(y, skip.shape)
    if skip.numel():
        run(_C.NormAddPadBwd(dtype=_DTYPES[skip.dtype], gy=_view(gy), y=_view(y),
                             skip=_view(skip), rstd=_view(rstd), gx=_view(gx),
                             gskip=_view(gskip), shape=_shape(skip, pad)))
    return gx, gskip


@torch.library.custom_op("cyclegan::norm_add_pad_backward", mutates_args=())
def _norm_add_pad_backward(
    gy: Tensor, y: Tensor, skip: Tensor, rstd: Tensor, pad: int
) -> tuple[Tensor, Tensor]:
    raise _no_kernel("norm_add_pad_backward", skip)


@_kernel(_norm_add_pad_backward, "cpu")
def _(gy, y, skip, rstd, pad):
    gy, y, skip = _contiguous(gy, y, skip)
    return _add_bwd(_cpu(_C.cpu_norm_add_pad_bwd), gy, y, skip, rstd, pad)


@_kernel(_norm_add_pad_backward, "cuda")
def _(gy, y, skip, rstd, pad):
    run = _norm_cuda(_C.cuda_norm_add_pad_bwd, skip.device)
    return _add_bwd(run, gy, y, skip, rstd, pad)


@_norm_add_pad_backward.register_fake
def _(gy, y, skip, rstd, pad):
    return _empty(y, skip.shape), _empty(y, skip.shape)


def _add_backward_from_input(dtype: torch.dtype) -> bool:
    """Whether norm_add_pad's backward needs its input rather than its output.

    Rebuilding xhat as interior(y) - skip costs |skip| times the output's rounding error:
    negligible in float32 (2^-24), but 8.9% of the gradient in bfloat16 at |skip| ~ 16 when
    the gradient lines up with xhat. Half and bfloat16 therefore keep x (one more saved
    activation, at half the size of a float32 one) and recompute xhat exactly.
    """
    return dtype in (torch.float16, torch.bfloat16)


# norm_act_pad keeps its input: ReLU destroys the part of xhat that backward needs.
def _setup_act(ctx, inputs, output):
    x, pad, act, _ = inputs
    _, mean, rstd = output
    ctx.save_for_backward(x, mean, rstd)
    ctx.pad, ctx.act = pad, act
    ctx.mark_non_differentiable(mean, rstd)


def _backward_act(ctx, gy, _gmean, _grstd):
    x, mean, rstd = ctx.saved_tensors
    gx = _norm_act_pad_backward(gy, x, mean, rstd, ctx.pad, ctx.act)
    return gx, None, None, None


# norm_add_pad keeps its output and skip instead of its input: in the residual trunk both
# are already kept by the neighbouring convolutions, so this op adds no saved activation.
# Half and bfloat16 are the exception (see _add_backward_from_input).
def _setup_add(ctx, inputs, output):
    x, skip, pad, _ = inputs
    y, mean, rstd = output
    ctx.from_input = _add_backward_from_input(x.dtype)
    if ctx.from_input:
        ctx.save_for_backward(x, mean, rstd)
    else:
        ctx.save_for_backward(y, skip, rstd)
    ctx.pad = pad
    ctx.mark_non_differentiable(mean, rstd)


def _backward_add(ctx, gy, _gmean, _grstd):
    if ctx.from_input:
        x, mean, rstd = ctx.saved_tensors
        gx, gskip = _norm_add_pad_backward_from_input(gy, x, mean, rstd, ctx.pad)
    else:
        y, skip, rstd = ctx.saved_tensors
        gx, gskip = _norm_add_pad_backward(gy, y, skip, rstd, ctx.pad)
    return gx, gskip, None, None


_norm_act_pad.register_autograd(_backward_act, setup_context=_setup_act)
_norm_add_pad.register_autograd(_backward_add, setup_context=_setup_add)


def _compute_dtype(x: Tensor) -> torch.dtype | None:
    """CPU half/bfloat16 (e.g. under CPU autocast) runs in float32 and is cast back."""
    if (
        isinstance(x, Tensor)
        and x.device.type == "cpu"
        and x.dtype in (torch.float16, torch.bfloat16)
    ):
        return torch.float32
    return None


def norm_act_pad(x: Tensor, pad: int = 0, act: str = "relu", eps: float = 1e-5) -> Tensor:
    """``reflect_pad(act(instance_norm(x)), pad)`` for N x C x H x W ``x``.

    ``act`` is ``"relu"`` or ``"none"``. Returns N x C x (H + 2 pad) x (W + 2 pad).
    Differentiable with respect to ``x``.
    """
    if act not in ACTS:
        raise ValueError(f"norm_act_pad: act must be one of {sorted(ACTS)}, got {act!r}")
    _check("norm_act_pad", x, None, pad, eps)
    up = _compute_dtype(x)
    if up is not None:
        return _norm_act_pad(x.to(up), pad, ACTS[act], float(eps))[0].to(x.dtype)
    return _norm_act_pad(x, pad, ACTS[act], float(eps))[0]


def norm_add_pad(x: Tensor, skip: Tensor, pad: int = 0, eps: float = 1e-5) -> Tensor:
    """``reflect_pad(instance_norm(x) + skip, pad)``; ``skip`` has the shape of ``x``.

    Differentiable with respect to ``x`` and ``skip``.
    """
    if not isinstance(skip, Tensor):
        raise TypeError(f"norm_add_pad: skip must be a torch.Tensor, got {type(skip).__name__}")
    _check("norm_add_pad", x, skip, pad, eps)
    up = _compute_dtype(x)
    if up is not None:
        return _norm_add_pad(x.to(up), skip.to(up), pad, float(eps))[0].to(x.dtype)
    return _norm_add_pad(x, skip, pad, float(eps))[0]
