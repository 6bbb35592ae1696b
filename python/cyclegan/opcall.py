"""How the fused custom ops (cyclegan.ops) call the compiled kernels in cyclegan._C.

Everything between a tensor and an entry point: the checks the kernels cannot make
themselves, the kernel registration per device, the argument structs built by keyword (a
``_C.View`` per tensor, the ``_C.ImageShape``), output allocation that the real and fake
kernels share, and the runners (``cpu_runner``: the module's thread pool;
``cuda_runner``: stream, SM count, workspace) that make the call.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from cyclegan import _C

# The dtype codes are the compiled module's enum, so they are written once.
DTYPES = {torch.float32: _C.DType.float32, torch.float64: _C.DType.float64,
          torch.float16: _C.DType.float16, torch.bfloat16: _C.DType.bfloat16}
_CPU_DTYPES = (torch.float32, torch.float64)
_CUDA_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def check_input(name: str, x: Tensor, skip: Tensor | None, pad: int, eps: float) -> None:
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


def check_dtype(name: str, x: Tensor) -> None:
    """The dtypes the kernels of x's device take (those cyclegan.ops registers)."""
    if x.device.type == "cpu" and x.dtype not in _CPU_DTYPES:
        raise TypeError(f"{name}: CPU kernels take float32 or float64, got {x.dtype}")
    if x.device.type == "cuda" and x.dtype not in _CUDA_DTYPES:
        raise TypeError(f"{name}: CUDA kernels take float32, float16 or bfloat16, got {x.dtype}")


def no_kernel(name: str, x: Tensor) -> RuntimeError:
    """The error of an op called on a device it has no kernel for (its default body)."""
    if x.device.type == "cuda":
        return RuntimeError(
            f"{name}: this cyclegan build has no CUDA kernels (nvcc was not found when it "
            "was compiled); reinstall from source with the CUDA toolkit, or use fused=False"
        )
    return RuntimeError(f"{name}: no kernel for device type {x.device.type!r}")


def kernel(op, device: str):
    """Registers the decorated function as `op`'s kernel for `device`; CUDA kernels only in
    builds that have them (elsewhere the op's default body explains)."""

    def register(fn):
        if device != "cuda" or _C.has_cuda:
            op.register_kernel(device)(fn)
        return fn

    return register


_threads = 0


def _sync_threads() -> None:
    # The C++ pool follows torch's intra-op thread setting, so one knob controls both.
    global _threads
    n = torch.get_num_threads()
    if n != _threads:
        _C.set_num_threads(n)
        _threads = n


def cpu_runner(entry):
    """The runner of a _C.cpu_* entry point (NCHW-contiguous arrays): on the module's pool."""

    def run(args) -> None:
        _sync_threads()
        entry(args)

    return run


@functools.cache
def _sm_count(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def cuda_runner(entry, device: torch.device, workspace_floats=None):
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


def view(t: Tensor | None) -> _C.View:
    """A tensor as the kernels see it (the empty View for an absent one). Views are of
    N x C x H x W arrays: the (N, C) statistics get strides 0 for their missing H and W."""
    if t is None:
        return _C.View()
    return _C.View(data=t.data_ptr(), strides=t.stride() + (0,) * (4 - t.dim()))


def image_shape(x: Tensor, pad: int) -> _C.ImageShape:
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


def empty(like: Tensor, shape=None, dtype=None) -> Tensor:
    """Allocates every output, for the real and the fake kernels alike, so their strides
    agree (torch.compile asserts it): 4-D outputs in `like`'s memory format (see
    _memory_format), statistics contiguous."""
    shape = like.shape if shape is None else tuple(shape)
    fmt = _memory_format(like) if len(shape) == 4 else torch.contiguous_format
    return torch.empty(shape, dtype=like.dtype if dtype is None else dtype, device=like.device,
                       memory_format=fmt)


def contiguous(*tensors: Tensor | None) -> list[Tensor | None]:
    """The CPU kernels' inputs: NCHW contiguous."""
    return [None if t is None else t.contiguous() for t in tensors]


def check_grad(name: str, gy: Tensor, like: Tensor, pad: int) -> None:
    n, c, h, w = like.shape
    if gy.shape != (n, c, h + 2 * pad, w + 2 * pad) or gy.dtype != like.dtype:
        raise ValueError(f"{name}: gradient {tuple(gy.shape)} {gy.dtype} does not match the output")
