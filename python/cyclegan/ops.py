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
the ``_C.ImageShape``) and hand it to a runner (``cpu_runner`` or ``cuda_runner``: threads, stream,
workspace) that calls the device's ``_C`` entry point.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _C
from .opcall import (
    DTYPES,
    check_dtype,
    check_grad,
    check_input,
    contiguous,
    cpu_runner,
    cuda_runner,
    empty,
    image_shape,
    kernel,
    no_kernel,
    view,
)

__all__ = ["norm_act_pad", "norm_add_pad", "ACTS"]

# Activation codes are the compiled module's enum, so they are written once.
ACTS = {name: int(code) for name, code in _C.Act.__members__.items()}


def _stats_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _norm_cuda(entry, device: torch.device):
    """The CUDA runner of the norm kernels, with the workspace their plane split needs."""
    return cuda_runner(entry, device, _C.cuda_norm_act_pad_workspace_floats)


def _outputs_fwd(x: Tensor, pad: int) -> tuple[Tensor, Tensor, Tensor]:
    n, c, h, w = x.shape
    stats = _stats_dtype(x.dtype)
    y = empty(x, (n, c, h + 2 * pad, w + 2 * pad))
    return y, empty(x, (n, c), stats), empty(x, (n, c), stats)


# ---- the forward: norm_act_pad and norm_add_pad share one entry point ----

def _fwd(run, name: str, x: Tensor, skip: Tensor | None, pad: int, act: int, eps: float):
    """Validates, allocates and calls run(args) with the forward's argument struct."""
    check_input(name, x, skip, pad, eps)
    check_dtype(name, x)
    if act not in ACTS.values():
        raise ValueError(f"{name}: unknown act code {act}")
    y, mean, rstd = _outputs_fwd(x, pad)
    if x.numel():
        run(_C.NormActPadFwd(dtype=DTYPES[x.dtype], x=view(x), skip=view(skip), y=view(y),
                             mean=view(mean), rstd=view(rstd), shape=image_shape(x, pad),
                             act=_C.Act(act), eps=eps))
    return y, mean, rstd


@torch.library.custom_op("cyclegan::norm_act_pad", mutates_args=())
def _norm_act_pad(x: Tensor, pad: int, act: int, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    raise no_kernel("norm_act_pad", x)


@kernel(_norm_act_pad, "cpu")
def _(x, pad, act, eps):
    (x,) = contiguous(x)
    return _fwd(cpu_runner(_C.cpu_norm_act_pad_fwd), "norm_act_pad", x, None, pad, act, eps)


@kernel(_norm_act_pad, "cuda")
def _(x, pad, act, eps):
    run = _norm_cuda(_C.cuda_norm_act_pad_fwd, x.device)
    return _fwd(run, "norm_act_pad", x, None, pad, act, eps)


@_norm_act_pad.register_fake
def _(x, pad, act, eps):
    return _outputs_fwd(x, pad)


@torch.library.custom_op("cyclegan::norm_add_pad", mutates_args=())
def _norm_add_pad(x: Tensor, skip: Tensor, pad: int, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    raise no_kernel("norm_add_pad", x)


@kernel(_norm_add_pad, "cpu")
def _(x, skip, pad, eps):
    x, skip = contiguous(x, skip)
    run = cpu_runner(_C.cpu_norm_act_pad_fwd)
    return _fwd(run, "norm_add_pad", x, skip, pad, ACTS["none"], eps)


@kernel(_norm_add_pad, "cuda")
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
    gx = empty(x)
    gskip = empty(x) if with_gskip else None
    if x.numel():
        run(_C.NormActPadBwd(dtype=DTYPES[x.dtype], gy=view(gy), x=view(x), mean=view(mean),
                             rstd=view(rstd), gx=view(gx), gskip=view(gskip),
                             shape=image_shape(x, pad), act=_C.Act(act)))
    return gx, gskip


@torch.library.custom_op("cyclegan::norm_act_pad_backward", mutates_args=())
def _norm_act_pad_backward(
    gy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, pad: int, act: int
) -> Tensor:
    raise no_kernel("norm_act_pad_backward", x)


@kernel(_norm_act_pad_backward, "cpu")
def _(gy, x, mean, rstd, pad, act):
    check_grad("norm_act_pad_backward", gy, x, pad)
    gy, x = contiguous(gy, x)
    return _bwd(cpu_runner(_C.cpu_norm_act_pad_bwd), gy, x, mean, rstd, pad, act, False)[0]


@kernel(_norm_act_pad_backward, "cuda")
def _(gy, x, mean, rstd, pad, act):
    check_grad("norm_act_pad_backward", gy, x, pad)
    run = _norm_cuda(_C.cuda_norm_act_pad_bwd, x.device)
    return _bwd(run, gy, x, mean, rstd, pad, act, False)[0]


@_norm_act_pad_backward.register_fake
def _(gy, x, mean, rstd, pad, act):
    return empty(x)


@torch.library.custom_op("cyclegan::norm_add_pad_backward_from_input", mutates_args=())
def _norm_add_pad_backward_from_input(
    gy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, pad: int
) -> tuple[Tensor, Tensor]:
    """Gradients of x and skip from the forward's input: xhat = (x - mean) * rstd."""
    raise no_kernel("norm_add_pad_backward_from_input", x)


@kernel(_norm_add_pad_backward_from_input, "cpu")
def _(gy, x, mean, rstd, pad):
    check_grad("norm_add_pad_backward_from_input", gy, x, pad)
    gy, x = contiguous(gy, x)
    return _bwd(cpu_runner(_C.cpu_norm_act_pad_bwd), gy, x, mean, rstd, pad, ACTS["none"], True)


@kernel(_norm_add_pad_backward_from_input, "cuda")
def _(gy, x, mean, rstd, pad):
    check_grad("norm_add_pad_backward_from_input", gy, x, pad)
    run = _norm_cuda(_C.cuda_norm_act_pad_bwd, x.device)
    return _bwd(run, gy, x, mean, rstd, pad, ACTS["none"], True)


@_norm_add_pad_backward_from_input.register_fake
def _(gy, x, mean, rstd, pad):
    return empty(x), empty(x)


# ---- the backward of norm_add_pad from its output ----

def _add_bwd(run, gy: Tensor, y: Tensor, skip: Tensor, rstd: Tensor, pad: int):
    """Gradients of x and skip from the forward's output: xhat = interior(y) - skip."""
    check_grad("norm_add_pad_backward", gy, skip, pad)
    if y.shape != gy.shape or y.dtype != skip.dtype:
        raise ValueError(f"norm_add_pad_backward: output {tuple(y.shape)} does not match gy")
    rstd = rstd.contiguous()
    gx, gskip = empty(y, skip.shape), empty(y, skip.shape)
    if skip.numel():
        run(_C.NormAddPadBwd(dtype=DTYPES[skip.dtype], gy=view(gy), y=view(y),
                             skip=view(skip), rstd=view(rstd), gx=view(gx),
                             gskip=view(gskip), shape=image_shape(skip, pad)))
    return gx, gskip


@torch.library.custom_op("cyclegan::norm_add_pad_backward", mutates_args=())
def _norm_add_pad_backward(
    gy: Tensor, y: Tensor, skip: Tensor, rstd: Tensor, pad: int
) -> tuple[Tensor, Tensor]:
    raise no_kernel("norm_add_pad_backward", skip)


@kernel(_norm_add_pad_backward, "cpu")
def _(gy, y, skip, rstd, pad):
    gy, y, skip = contiguous(gy, y, skip)
    return _add_bwd(cpu_runner(_C.cpu_norm_add_pad_bwd), gy, y, skip, rstd, pad)


@kernel(_norm_add_pad_backward, "cuda")
def _(gy, y, skip, rstd, pad):
    run = _norm_cuda(_C.cuda_norm_add_pad_bwd, skip.device)
    return _add_bwd(run, gy, y, skip, rstd, pad)


@_norm_add_pad_backward.register_fake
def _(gy, y, skip, rstd, pad):
    return empty(y, skip.shape), empty(y, skip.shape)


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
    check_input("norm_act_pad", x, None, pad, eps)
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
    check_input("norm_add_pad", x, skip, pad, eps)
    up = _compute_dtype(x)
    if up is not None:
        return _norm_add_pad(x.to(up), skip.to(up), pad, float(eps))[0].to(x.dtype)
    return _norm_add_pad(x, skip, pad, float(eps))[0]
