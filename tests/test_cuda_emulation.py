"""The CUDA kernels replayed on the CPU, so CI without a GPU tests them on every run.

nvcc builds tests/emulation/harness.cpp (the kernel bodies and dispatch of
csrc/cuda/norm_act_pad.cuh with a thread context that runs each block's threads as fibers,
barriers and warp shuffles included) into a Python extension, cached under build/emulation
by a hash of its sources. It takes the argument structs of cyclegan._C, bound by the same
code (csrc/bind_types.h).
Every kernel (forward and both backwards) runs over edge-case shapes, large planes,
misaligned pointers, strided skips and fp32/fp16/bf16, in NCHW and channels_last, with the
launch plan of an H200 and of SM counts that force a block per plane or a plane split
across blocks, against a float64 reference. Select with
`pytest -k emulat`; without nvcc the tests skip and say so.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pybind11
import pytest
import torch
import torch.nn.functional as F

from cyclegan import ops

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tests" / "emulation" / "harness.cpp"
DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}
EPS = 1e-5
# Relative to the largest reference value: fp32 is arithmetic noise, fp16 and bf16 are
# dominated by rounding the result to their 11- and 8-bit significands.
TOL = {torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.2e-2}


def find_nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and (Path(home) / "bin" / "nvcc").is_file():
        return str(Path(home) / "bin" / "nvcc")
    return None


def harness_sources() -> list[Path]:
    """The harness and every header it may include (the cache key)."""
    csrc = REPO / "csrc"
    return [HARNESS, *sorted(csrc.glob("*.h")), *sorted((csrc / "cuda").glob("*.cuh"))]


def build_harness(nvcc: str, cache: Path) -> Path:
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    digest = hashlib.sha256(version.encode() + pybind11.__version__.encode())
    for src in harness_sources():
        digest.update(src.read_bytes())
    lib = cache / f"harness-{digest.hexdigest()[:16]}{sysconfig.get_config_var('EXT_SUFFIX')}"
    if lib.exists():
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    cmd = [nvcc, "-std=c++17", "-O2", "-shared",
           "-Xcompiler", "-fPIC,-fvisibility=hidden,-Wall,-Wextra", "--cudart", "none",
           f"-I{REPO / 'csrc'}", f"-I{pybind11.get_include()}",
           f"-I{sysconfig.get_paths()['include']}", str(HARNESS), "-o", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building the emulation harness failed:\n{' '.join(cmd)}\n{proc.stderr}")
    os.replace(tmp, lib)
    return lib


def load_harness(path: Path):
    spec = importlib.util.spec_from_file_location("_emulation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Emulator:
    """The harness's entry points, called with CPU tensors of any strides and an SM count
    for the launch plan (the workspace is sized by the plan, as ops.py does)."""

    def __init__(self, module):
        self.m = module

    def view(self, t):
        if t is None:
            return self.m.View()
        return self.m.View(data=t.data_ptr(), strides=t.stride() + (0,) * (4 - t.dim()))

    def shape(self, shape, pad):
        n, c, h, w = shape
        return self.m.ImageShape(n=n, c=c, h=h, w=w, pad=pad)

    def chunks(self, shape, pad, sms, channels_adjacent):
        """Blocks per plane the launch plan gives (1: the one-block-per-plane kernels)."""
        return self.m.norm_act_pad_chunks(self.shape(shape, pad), sms, channels_adjacent)

    def _call(self, entry, args, sms):
        floats = self.m.norm_act_pad_workspace_floats(args.shape, sms)
        ws = torch.full((floats,), float("nan"))
        args.launch = self.m.Launch(sms=sms, workspace=ws.data_ptr(), workspace_floats=floats)
        entry(args)

    def dtype(self, t):
        return getattr(self.m.DType, DTYPES[t.dtype])

    def fwd(self, x, skip, y, mean, rstd, pad, act, sms, eps=EPS):
        v = self.view
        args = self.m.NormActPadFwd(dtype=self.dtype(x), x=v(x), skip=v(skip), y=v(y),
                                    mean=v(mean), rstd=v(rstd), shape=self.shape(x.shape, pad),
                                    act=getattr(self.m.Act, act), eps=eps)
        self._call(self.m.norm_act_pad_fwd, args, sms)

    def bwd(self, gy, x, mean, rstd, gx, gskip, pad, act, sms):
        v = self.view
        args = self.m.NormActPadBwd(dtype=self.dtype(x), gy=v(gy), x=v(x), mean=v(mean),
                                    rstd=v(rstd), gx=v(gx), gskip=v(gskip),
                                    shape=self.shape(x.shape, pad), act=getattr(self.m.Act, act))
        self._call(self.m.norm_act_pad_bwd, args, sms)

    def add_bwd(self, gy, y, skip, rstd, gx, gskip, pad, sms):
        v = self.view
        args = self.m.NormAddPadBwd(dtype=self.dtype(skip), gy=v(gy), y=v(y), skip=v(skip),
                                    rstd=v(rstd), gx=v(gx), gskip=v(gskip),
                                    shape=self.shape(skip.shape, pad))
        self._call(self.m.norm_add_pad_bwd, args, sms)


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found on PATH (or in CUDA_HOME): the CUDA kernel emulation "
                    "needs it to build the kernels as host code")
    cache = REPO / "build" / "emulation"
    if not os.access(REPO, os.W_OK):
        cache = tmp_path_factory.mktemp("emulation")
    return Emulator(load_harness(build_harness(nvcc, cache)))


def buffer(shape, dtype, offset=0, layout="nchw"):
    """An uninitialized tensor `offset` elements past a 64-byte aligned start, NCHW
    contiguous or (layout "nhwc", 4-D only) channels_last."""
    numel = int(torch.Size(shape).numel())
    base = torch.empty(numel + offset + 8, dtype=dtype)
    assert base.data_ptr() % 64 == 0
    flat = base[offset : offset + numel]
    if layout == "nhwc":
        n, c, h, w = shape
        return flat.view(n, h, w, c).permute(0, 3, 1, 2).fill_(float("nan"))
    return flat.view(shape).fill_(float("nan"))


def placed(t, offset, layout="nchw"):
    out = buffer(t.shape, t.dtype, offset, layout)
    out.copy_(t)
    return out


def strided_view(t, margin_c, margin_hw, layout="nchw"):
    """t copied into the middle of a larger buffer and returned as a view of it, like the
    residual trunk's skip (the interior of a padded output) or a channel slice."""
    n, c, h, w = t.shape
    big = buffer((n, c + 2 * margin_c, h + 2 * margin_hw, w + 2 * margin_hw), t.dtype,
                 layout=layout)
    view = big[:, margin_c : margin_c + c, margin_hw : margin_hw + h, margin_hw : margin_hw + w]
    view.copy_(t)
    return view


def reference(x, skip, pad, act):
    """Float64 forward: output, mean, rstd, and xhat (for the gradient checks)."""
    x = x.double()
    mean = x.mean((2, 3), keepdim=True)
    rstd = (x.var((2, 3), unbiased=False, keepdim=True) + EPS).rsqrt()
    xhat = (x - mean) * rstd
    y = F.relu(xhat) if act == "relu" else xhat
    if skip is not None:
        y = y + skip.double()
    if pad:
        y = F.pad(y, (pad,) * 4, mode="reflect")
    return y, mean.flatten(), rstd.flatten(), xhat


def reference_grads(x, skip, gy, pad, act):
    xd = x.double().requires_grad_()
    sd = None if skip is None else skip.double().requires_grad_()
    y, *_ = reference(xd, sd, pad, act)
    inputs = [xd] if sd is None else [xd, sd]
    return torch.autograd.grad(y, inputs, gy.double())


def assert_close(got, want, dtype, what):
    tol = TOL[dtype] * max(want.abs().max().item(), 1e-6)
    err = (got.double() - want).abs()
    worst = err.max().item() if err.numel() else 0.0
    assert worst <= tol, f"{what}: max error {worst:.3g} > {tol:.3g} ({dtype})"


def rel_error(got, want):
    return ((got.double() - want).norm() / want.norm()).item()


# (N*C planes as (n, c), H, W, pad): single pixels, single rows and columns, pad = H-1 and
# W-1 (both mirrors of an axis at once), planes much smaller than a block, planes needing
# every thread of the largest block, odd sizes so no row is a whole number of packs, and
# 37 channels (in channels_last a block takes 32, so the second group is partly empty).
SHAPES = [
    ((3, 1), 1, 1, 0),
    ((1, 2), 1, 37, 0),
    ((2, 1), 29, 1, 0),
    ((1, 2), 5, 9, 4),
    ((2, 1), 9, 4, 3),
    ((1, 3), 7, 6, 2),
    ((2, 2), 2, 2, 1),
    ((1, 37), 3, 5, 2),
    ((1, 2), 33, 20, 2),
    ((1, 1), 40, 33, 32),
    ((1, 1), 130, 97, 3),
    ((1, 1), 256, 256, 1),
]
# Element offsets of (x, skip, y) and (gy, gx, gskip): aligned, all misaligned alike, and
# misaligned differently (the backward then cannot use 16-byte packs). The skip is
# contiguous when aligned, else a strided view (read in place): the interior of a padded
# plane ("same"), a channel slice of one ("mixed").
OFFSETS = {"aligned": ((0, 0, 0), (0, 0, 0)), "same": ((1, 1, 3), (3, 1, 1)),
           "mixed": ((3, 1, 2), (1, 2, 5))}
SKIP_VIEW = {"aligned": None, "same": (0, 1), "mixed": (1, 2)}
# SM counts for the launch plan: an H200's, one SM (a block per plane whenever there are
# two planes), and so many that every plane large enough is split across blocks.
H200_SMS, ONE_SM, MANY_SMS = 132, 1, 1 << 20


def shape_id(case):
    (n, c), h, w, pad = case
    return f"{n}x{c}x{h}x{w}p{pad}"


def check_kernels(emu, case, kind, dtype, offsets, layout, sms):
    """Forward, then the backward ops.py runs after it, with every tensor in `layout`,
    against float64."""
    (n, c), h, w, pad = case
    (ox, os_, oy), (ogy, ogx, ogs) = OFFSETS[offsets]
    gen = torch.Generator().manual_seed(h * 1000 + w * 10 + pad)
    shape, out_shape = (n, c, h, w), (n, c, h + 2 * pad, w + 2 * pad)
    # A large mean tests the variance against cancellation.
    x = placed((torch.randn(shape, generator=gen) * 2 + 3).to(dtype), ox, layout)
    skip = None
    if kind == "add":
        skip = torch.randn(shape, generator=gen).to(dtype)
        view = SKIP_VIEW[offsets]
        skip = placed(skip, os_, layout) if view is None else strided_view(skip, *view, layout)
    act = "none" if kind == "add" else kind
    y = buffer(out_shape, dtype, oy, layout)
    mean, rstd = buffer((n * c,), torch.float32), buffer((n * c,), torch.float32)
    emu.fwd(x, skip, y, mean, rstd, pad, act, sms)

    y_ref, mean_ref, rstd_ref, _ = reference(x, skip, pad, act)
    assert_close(y, y_ref, dtype, "y")
    assert_close(mean, mean_ref, torch.float32, "mean")
    assert_close(rstd, rstd_ref, torch.float32, "rstd")

    gy = placed(torch.randn(out_shape, generator=gen).to(dtype), ogy, layout)
    gx = buffer(shape, dtype, ogx, layout)
    grads = reference_grads(x, skip, gy, pad, act)
    if kind == "add":
        # Both backwards of the skip form: from the output (float32 in ops.py) and from
        # the input (half and bfloat16), each checked in every dtype.
        gskip = buffer(shape, dtype, ogs, layout)
        emu.add_bwd(gy, y, skip, rstd, gx, gskip, pad, sms)
        assert_close(gskip, grads[1], dtype, "gskip (from y)")
        assert_close(gx, grads[0], dtype, "gx (from y)")
        gx, gskip = buffer(shape, dtype, ogx, layout), buffer(shape, dtype, ogs, layout)
        emu.bwd(gy, x, mean, rstd, gx, gskip, pad, "none", sms)
        assert_close(gskip, grads[1], dtype, "gskip")
    else:
        emu.bwd(gy, x, mean, rstd, gx, None, pad, act, sms)
    assert_close(gx, grads[0], dtype, "gx")


@pytest.mark.parametrize("offsets", OFFSETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[1])
@pytest.mark.parametrize("kind", ["relu", "none", "add"])
@pytest.mark.parametrize("case", SHAPES, ids=shape_id)
def test_emulated_kernels_match_float64(emu, case, kind, dtype, offsets):
    # NCHW on an H200's plan: a block per plane for the small shapes, a plane split
    # across blocks for those of more than 2 x 256 pixels.
    check_kernels(emu, case, kind, dtype, offsets, "nchw", H200_SMS)


@pytest.mark.parametrize("mode", [("nchw", MANY_SMS), ("nhwc", ONE_SM), ("nhwc", MANY_SMS)],
                         ids=["nchw-split", "nhwc", "nhwc-split"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[1])
@pytest.mark.parametrize("kind", ["relu", "none", "add"])
@pytest.mark.parametrize("case", SHAPES, ids=shape_id)
def test_emulated_split_and_channels_last_match_float64(emu, case, kind, dtype, mode):
    # The tiled kernels: every plane split as far as the plan allows, and channels_last
    # tensors (x, skip, y, gy, gx, gskip) read and written in place, misaligned and with
    # the skip a view.
    check_kernels(emu, case, kind, dtype, "mixed", *mode)


def test_emulated_launch_plan(emu):
    # A block per plane while planes give two blocks per SM; below that, planes split into
    # chunks of at least 512 positions (256 threads, 2 each), at most 32.
    assert emu.chunks((8, 256, 64, 64), 1, H200_SMS, False) == 1
    assert emu.chunks((1, 256, 64, 64), 1, H200_SMS, False) == 2
    assert emu.chunks((1, 64, 64, 64), 1, H200_SMS, False) == 5
    assert emu.chunks((1, 64, 16, 16), 1, H200_SMS, False) == 1
    assert emu.chunks((1, 1, 130, 97), 3, MANY_SMS, False) == 25
    assert emu.chunks((1, 1, 256, 256), 1, MANY_SMS, False) == 32
    # channels_last: 32 channels per block (8 rows of threads, so chunks of 16 positions).
    assert emu.chunks((8, 256, 64, 64), 1, H200_SMS, True) == 5
    assert emu.chunks((33, 256, 64, 64), 1, H200_SMS, True) == 1
    assert emu.chunks((1, 3, 64, 64), 1, H200_SMS, True) == 32


def test_emulated_bad_shape_is_an_error(emu):
    x = torch.zeros(1, 1, 4, 4)
    y, m = torch.empty(1, 1, 12, 12), torch.empty(1)
    with pytest.raises(ValueError, match="invalid shape"):
        emu.fwd(x, None, y, m, m, 4, "relu", H200_SMS)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("scale", [1, 4, 16])
def test_emulated_low_precision_add_backward_large_skip(emu, dtype, scale):
    # norm_add_pad's backward in half/bfloat16, with the kernel ops.py picks for the dtype,
    # gradients lined up with xhat (the hard case for rebuilding xhat from the rounded
    # output) and |skip| up to `scale`: gx and gskip within 1% (relative) of float64.
    gen = torch.Generator().manual_seed(scale)
    shape, pad = (2, 3, 24, 20), 1
    out_shape = (2, 3, 26, 22)
    x = (torch.randn(shape, generator=gen) * 2 + 3).to(dtype)
    skip = ((torch.rand(shape, generator=gen) * 2 - 1) * scale).to(dtype)
    y = buffer(out_shape, dtype)
    mean, rstd = buffer((6,), torch.float32), buffer((6,), torch.float32)
    emu.fwd(x, skip, y, mean, rstd, pad, "none", H200_SMS)
    _, _, _, xhat = reference(x, skip, pad, "none")
    noise = torch.randn(out_shape, generator=gen, dtype=torch.float64)
    gy = (F.pad(xhat, (pad,) * 4) + 0.3 * noise).to(dtype)
    gx, gskip = buffer(shape, dtype), buffer(shape, dtype)
    if ops._add_backward_from_input(dtype):
        emu.bwd(gy, x, mean, rstd, gx, gskip, pad, "none", H200_SMS)
    else:
        emu.add_bwd(gy, y, skip, rstd, gx, gskip, pad, H200_SMS)
    want_gx, want_gskip = reference_grads(x, skip, gy, pad, "none")
    assert rel_error(gx, want_gx) < 0.01
    assert rel_error(gskip, want_gskip) < 0.01
