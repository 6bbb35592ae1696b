import ast
import contextlib
import re
import zlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import cyclegan
from cyclegan import ops
from cyclegan.ops import norm_act_pad, norm_add_pad

from conftest import needs_cuda

DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]

SHAPES = [
    (1, 1, 4, 4),
    (1, 3, 5, 7),
    (5, 3, 8, 6),
    (5, 1, 9, 9),
    (1, 3, 4, 13),
    (2, 3, 16, 11),
    (1, 1, 64, 64),
]


def reference(x, pad, act="relu", skip=None):
    """The eager composition the fused ops replace."""
    y = torch.nn.InstanceNorm2d(x.shape[1], eps=1e-5)(x)
    if act == "relu":
        y = F.relu(y)
    if skip is not None:
        y = y + skip
    return torch.nn.ReflectionPad2d(pad)(y)


def cases():
    for shape in SHAPES:
        for pad in range(4):
            if pad < min(shape[2:]):
                yield shape, pad
    # H or W exactly pad + 1, the smallest input a reflection pad accepts.
    for pad in range(1, 4):
        yield (1, 3, pad + 1, 7), pad
        yield (5, 1, 6, pad + 1), pad


CASES = list(cases())


def stable_seed(*parts) -> int:
    """A seed from a test's parameters that is the same in every process (hash() of a
    string is salted per process, so a failure would not reproduce)."""
    return zlib.crc32(repr(parts).encode())


def run(kind, x, pad, skip=None):
    if kind == "add":
        return norm_add_pad(x, skip, pad), reference(x, pad, "none", skip)
    return norm_act_pad(x, pad, kind), reference(x, pad, kind)


def assert_close(a, b, rtol=1e-5, atol=1e-5):
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["relu", "none", "add"])
@pytest.mark.parametrize("shape,pad", CASES)
def test_matches_eager_forward_and_backward(device, kind, shape, pad):
    torch.manual_seed(stable_seed(kind, shape, pad))
    x = (torch.randn(shape, device=device) * 3 + 1).requires_grad_()
    skip = torch.randn(shape, device=device, requires_grad=True) if kind == "add" else None
    y, ref = run(kind, x, pad, skip)
    assert y.shape == (shape[0], shape[1], shape[2] + 2 * pad, shape[3] + 2 * pad)
    assert_close(y, ref)
    g = torch.randn_like(ref)
    inputs = [x] if skip is None else [x, skip]
    for got, want in zip(torch.autograd.grad(y, inputs, g), torch.autograd.grad(ref, inputs, g)):
        assert_close(got, want)


@pytest.mark.parametrize("device", DEVICES)
def test_large_plane_statistics(device):
    # Large offset and 256x256 planes: naive float sums would lose the variance here.
    x = torch.randn(2, 4, 256, 256, device=device) * 0.5 + 100
    assert_close(norm_act_pad(x, 1, "none"), reference(x, 1, "none"), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["relu", "none", "add"])
@pytest.mark.parametrize("shape,pad", [((2, 3, 5, 4), 2), ((1, 2, 3, 3), 1), ((2, 1, 4, 6), 0)])
def test_gradcheck_float64(kind, shape, pad):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    if kind == "add":
        skip = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: norm_add_pad(a, b, pad), (x, skip))
    else:
        assert torch.autograd.gradcheck(lambda a: norm_act_pad(a, pad, kind), (x,))


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    x = torch.randn(2, 3, 6, 5, device=device, requires_grad=True)
    skip = torch.randn(2, 3, 6, 5, device=device, requires_grad=True)
    torch.library.opcheck(ops._norm_act_pad, (x, 2, ops.ACTS["relu"], 1e-5))
    torch.library.opcheck(ops._norm_act_pad, (x, 0, ops.ACTS["none"], 1e-3))
    torch.library.opcheck(ops._norm_add_pad, (x, skip, 1, 1e-5))
    y, mean, rstd = ops._norm_act_pad(x.detach(), 2, 1, 1e-5)
    gy = torch.randn_like(y)
    torch.library.opcheck(ops._norm_act_pad_backward, (gy, x.detach(), mean, rstd, 2, 1))
    torch.library.opcheck(ops._norm_add_pad_backward_from_input, (gy, x.detach(), mean, rstd, 2))
    y, _, rstd = ops._norm_add_pad(x.detach(), skip.detach(), 2, 1e-5)
    torch.library.opcheck(ops._norm_add_pad_backward, (gy, y, skip.detach(), rstd, 2))


def test_norm_add_pad_saves_no_extra_activation():
    # Its backward runs from the output and skip, which the surrounding convolutions keep;
    # the input x (a conv output) must not be held alive by autograd.
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    skip = torch.randn(2, 3, 6, 6, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = norm_add_pad(x, skip, 1)
    ptrs = {t.untyped_storage().data_ptr() for t in saved}
    assert x.untyped_storage().data_ptr() not in ptrs
    assert ptrs <= {y.untyped_storage().data_ptr(), skip.untyped_storage().data_ptr()} | {
        t.untyped_storage().data_ptr() for t in saved if t.numel() == 6
    }


def test_statistics_outputs():
    x = torch.randn(3, 2, 7, 5, dtype=torch.float64)
    _, mean, rstd = ops._norm_act_pad(x, 1, 1, 1e-5)
    torch.testing.assert_close(mean, x.mean((2, 3)))
    torch.testing.assert_close(rstd, (x.var((2, 3), unbiased=False) + 1e-5).rsqrt())


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(4, 4, 3)
        self.conv2 = torch.nn.Conv2d(4, 4, 3)

    def forward(self, x):
        h = norm_act_pad(self.conv1(x), 1)
        return norm_add_pad(self.conv2(h), x[:, :, 1:-1, 1:-1], 1)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_compile_matches_eager(device):
    torch.manual_seed(0)
    block = Block().to(device)
    x = torch.randn(2, 4, 12, 10, device=device, requires_grad=True)
    compiled = torch.compile(block, fullgraph=True)
    want = block(x)
    got = compiled(x)
    assert_close(got, want)
    (g1,) = torch.autograd.grad(want.square().sum(), x)
    (g2,) = torch.autograd.grad(compiled(x).square().sum(), x)
    assert_close(g2, g1)


CL = torch.channels_last


@contextlib.contextmanager
def uncached_compile():
    # The on-disk compile caches do not key on a custom op's fake kernel: a graph compiled
    # against an earlier fake kernel would hide a stride mismatch.
    with torch._inductor.config.patch(fx_graph_cache=False), \
            torch._functorch.config.patch(enable_autograd_cache=False):
        yield


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_channels_last(device):
    # The fake kernels must give the strides the real kernels give, whatever the layout.
    x = torch.randn(2, 3, 6, 5, device=device).contiguous(memory_format=CL)
    skip = torch.randn(2, 3, 6, 5, device=device).contiguous(memory_format=CL)
    torch.library.opcheck(ops._norm_act_pad, (x, 2, ops.ACTS["relu"], 1e-5))
    torch.library.opcheck(ops._norm_add_pad, (x, skip, 1, 1e-5))
    y, mean, rstd = ops._norm_act_pad(x, 2, 1, 1e-5)
    gy = torch.randn_like(y).contiguous(memory_format=CL)
    torch.library.opcheck(ops._norm_act_pad_backward, (gy, x, mean, rstd, 2, 1))
    y, _, rstd = ops._norm_add_pad(x, skip, 2, 1e-5)
    torch.library.opcheck(ops._norm_add_pad_backward, (gy, y, skip, rstd, 2))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["relu", "add"])
def test_torch_compile_channels_last_forward_and_backward(device, kind):
    # As training with --channels-last: channels_last tensors into and out of both ops.
    # Inductor asserts that the real kernels give the strides the fake kernels promised.
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 4, 3).to(device).to(memory_format=CL)

    def f(x, s):
        if kind == "add":
            return norm_add_pad(x * 2, s * 3, 1) * 2
        return norm_act_pad(conv(x), 1) * 2

    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True)
    x, s = (torch.randn(2, 4, 12, 10, device=device).contiguous(memory_format=CL)
            for _ in range(2))
    inputs = (x.requires_grad_(), s.requires_grad_())
    used = inputs if kind == "add" else inputs[:1]
    want = f(*inputs)
    with uncached_compile():
        got = compiled(*inputs)
        assert_close(got, want)
        for g1, g2 in zip(torch.autograd.grad(want.square().sum(), used),
                          torch.autograd.grad(got.square().sum(), used)):
            assert_close(g2, g1)


def test_meta_tensors_give_shapes():
    x = torch.empty(2, 3, 10, 9, device="meta")
    assert norm_act_pad(x, 3).shape == (2, 3, 16, 15)
    assert norm_add_pad(x, x, 2).shape == (2, 3, 14, 13)


@pytest.mark.parametrize("device", DEVICES)
def test_noncontiguous_and_channels_last_inputs(device):
    base = torch.randn(2, 3, 9, 16, device=device)
    for x in (base[:, :, :, ::2], base.contiguous(memory_format=torch.channels_last)):
        assert not x.is_contiguous()
        xr = x.clone().requires_grad_()
        xf = x.clone().requires_grad_()
        assert_close(norm_act_pad(xf, 2), reference(xr, 2))
        norm_act_pad(xf, 2).sum().backward()
        reference(xr, 2).sum().backward()
        assert_close(xf.grad, xr.grad)


def test_outputs_keep_channels_last_off_the_cpu():
    # The CUDA kernels write channels_last outputs for channels_last inputs (no transpose);
    # meta tensors follow the same rule through the one allocation helper, while the CPU
    # kernels stay NCHW.
    for device, want in (("meta", CL), ("cpu", torch.contiguous_format)):
        x = torch.empty(2, 3, 6, 5, device=device).contiguous(memory_format=CL)
        y, mean, rstd = ops._norm_act_pad(x, 2, 1, 1e-5)
        gx = ops._norm_act_pad_backward(torch.empty_like(y), x, mean, rstd, 2, 1)
        y2, _, rstd2 = ops._norm_add_pad(x, x, 1, 1e-5)
        gx2, gskip2 = ops._norm_add_pad_backward(torch.empty_like(y2), y2, x, rstd2, 1)
        for t in (y, gx, y2, gx2, gskip2):
            assert t.is_contiguous(memory_format=want), (device, t.shape, t.stride())
        assert mean.is_contiguous() and rstd.is_contiguous()
    x = torch.empty(2, 3, 6, 5, device="meta")
    assert ops._norm_act_pad(x, 2, 1, 1e-5)[0].is_contiguous()


@needs_cuda
@pytest.mark.parametrize("kind", ["relu", "add"])
@pytest.mark.parametrize("layout", ["nchw", "channels_last", "strided"])
@pytest.mark.parametrize("shape", [(1, 64, 64, 64), (8, 256, 16, 16), (1, 3, 130, 97)])
def test_cuda_layouts_and_split_planes_match_eager(kind, layout, shape):
    # Batch 1 with 64 channels (fewer planes than SMs: each plane split across blocks),
    # many small planes (a block per plane), channels_last and a strided view read in
    # place; outputs keep channels_last.
    torch.manual_seed(0)
    base = torch.randn(shape[0], shape[1], shape[2], 2 * shape[3], device="cuda") * 3 + 1
    if layout == "strided":
        x = base[..., ::2]
    else:
        x = base[..., : shape[3]].contiguous()
        if layout == "channels_last":
            x = x.contiguous(memory_format=CL)
    skip = torch.randn_like(x) if kind == "add" else None
    xr, xf = x.clone().requires_grad_(), x.clone().requires_grad_()
    sr = None if skip is None else skip.clone().requires_grad_()
    sf = None if skip is None else skip.clone().requires_grad_()
    got = norm_add_pad(xf, sf, 1) if kind == "add" else norm_act_pad(xf, 1)
    want = reference(xr, 1, "none", sr) if kind == "add" else reference(xr, 1)
    if layout == "channels_last":
        assert got.is_contiguous(memory_format=CL)
    assert_close(got, want, rtol=1e-4, atol=1e-4)
    g = torch.randn_like(want)
    used = [t for t in (xf, sf) if t is not None]
    ref_used = [t for t in (xr, sr) if t is not None]
    for a, b in zip(torch.autograd.grad(got, used, g), torch.autograd.grad(want, ref_used, g)):
        assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_zero_size_batch():
    x = torch.randn(0, 3, 8, 8, requires_grad=True)
    y = norm_act_pad(x, 2)
    assert y.shape == (0, 3, 12, 12)
    y.sum().backward()
    assert x.grad.shape == x.shape
    assert norm_add_pad(x, torch.zeros_like(x), 1).shape == (0, 3, 10, 10)


def test_cpu_half_precision_runs_in_float32():
    # CPU autocast hands bf16 tensors to the ops: they are computed in float32.
    x = torch.randn(2, 3, 8, 8)
    for dtype in (torch.bfloat16, torch.float16):
        y = norm_act_pad(x.to(dtype), 1)
        assert y.dtype == dtype
        assert_close(y.float(), reference(x.to(dtype).float(), 1), rtol=1e-2, atol=1e-2)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kind", ["relu", "add"])
def test_cuda_low_precision_matches_float32_reference(dtype, kind):
    x32 = torch.randn(3, 8, 33, 20, device="cuda") * 2
    s32 = torch.randn_like(x32)
    x, s = x32.to(dtype).requires_grad_(), s32.to(dtype).requires_grad_()
    y = norm_add_pad(x, s, 2) if kind == "add" else norm_act_pad(x, 2)
    assert y.dtype == dtype
    xr, sr = x.detach().float().requires_grad_(), s.detach().float().requires_grad_()
    ref = reference(xr, 2, "none", sr) if kind == "add" else reference(xr, 2)
    tol = 2e-2 if dtype == torch.bfloat16 else 5e-3
    assert_close(y.float(), ref, rtol=tol, atol=tol)
    g = torch.randn_like(ref)
    y.backward(g.to(dtype))
    ref.backward(g)
    assert_close(x.grad.float(), xr.grad, rtol=5 * tol, atol=5 * tol)


def test_norm_add_pad_backward_from_input_matches():
    # The backward half/bfloat16 use, checked in float64 against the output-based one.
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64) * 2 + 1
    skip = torch.randn_like(x) * 16
    y, mean, rstd = ops._norm_add_pad(x, skip, 2, 1e-5)
    gy = torch.randn_like(y)
    want = ops._norm_add_pad_backward(gy, y, skip, rstd, 2)
    got = ops._norm_add_pad_backward_from_input(gy, x, mean, rstd, 2)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("scale", [1, 4, 16])
def test_cuda_low_precision_add_backward_large_skip(dtype, scale):
    # Gradients lined up with xhat and |skip| up to 16: within 1% of float64.
    x64 = torch.randn(2, 8, 24, 20, dtype=torch.float64, device="cuda") * 2 + 3
    s64 = (torch.rand_like(x64) * 2 - 1) * scale
    x, s = x64.to(dtype).requires_grad_(), s64.to(dtype).requires_grad_()
    xr, sr = x.detach().double().requires_grad_(), s.detach().double().requires_grad_()
    ref = reference(xr, 1, "none", sr)
    xhat = ref.detach()[:, :, 1:-1, 1:-1] - sr.detach()
    g = F.pad(xhat, (1,) * 4) + 0.3 * torch.randn_like(ref)
    norm_add_pad(x, s, 1).backward(g.to(dtype))
    ref.backward(g.to(dtype).double())
    for got, want in ((x.grad, xr.grad), (s.grad, sr.grad)):
        assert ((got.double() - want).norm() / want.norm()).item() < 0.01


@needs_cuda
def test_cuda_graph_capture_and_replay():
    # Training with CUDA graphs replays the ops on new data in the captured buffers.
    x = torch.randn(2, 16, 32, 32, device="cuda", requires_grad=True)
    skip = torch.randn(2, 16, 32, 32, device="cuda", requires_grad=True)

    def step():
        y = norm_add_pad(norm_act_pad(x, 1)[:, :, 1:-1, 1:-1], skip, 1)
        return y, torch.autograd.grad(y.square().sum(), (x, skip))

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()  # warm-up outside the graph, as capture requires
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        y, (gx, gskip) = step()
    for seed in range(2):
        torch.manual_seed(seed)
        with torch.no_grad():
            x.copy_(torch.randn_like(x) * 2 + 1)
            skip.copy_(torch.randn_like(skip))
        graph.replay()
        want, (wgx, wgskip) = step()
        assert_close(y, want)
        assert_close(gx, wgx, rtol=1e-4, atol=1e-4)
        assert_close(gskip, wgskip)


@needs_cuda
@pytest.mark.slow
def test_cuda_tensor_over_2_31_elements():
    # 33 planes of 8192 x 8192 bf16: offsets past 2^31 elements (the last planes) are int64.
    x = torch.randn(1, 33, 8192, 8192, device="cuda", dtype=torch.bfloat16)
    assert x.numel() > 2**31
    y = norm_act_pad(x, 1)
    for c in (0, 32):
        ref = reference(x[:, c : c + 1].float(), 1)
        assert_close(y[:, c : c + 1].float(), ref, rtol=2e-2, atol=2e-2)


@needs_cuda
@pytest.mark.slow
def test_cuda_plane_16384_squared():
    # One plane of 2^28 pixels, forward and backward (the largest planes the kernels take
    # are 2^30 padded elements).
    x = torch.randn(1, 1, 16384, 16384, device="cuda", requires_grad=True)
    xr = x.detach().clone().requires_grad_()
    y, ref = norm_act_pad(x, 1), reference(xr, 1)
    assert_close(y, ref, rtol=1e-4, atol=1e-4)
    g = torch.randn_like(ref)
    y.backward(g)
    ref.backward(g)
    assert_close(x.grad, xr.grad, rtol=1e-4, atol=1e-4)


@needs_cuda
def test_cuda_uses_current_stream():
    x = torch.randn(4, 16, 64, 64, device="cuda")
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        y = norm_act_pad(x, 1)
    side.synchronize()
    assert_close(y, reference(x, 1))


BAD = [
    (lambda: norm_act_pad(torch.randn(2, 3, 8, 8).int(), 1), TypeError, "floating-point"),
    (lambda: norm_act_pad(torch.randn(3, 8, 8), 1), ValueError, "4-D"),
    (lambda: norm_act_pad(torch.randn(1, 2, 3, 8, 8), 1), ValueError, "4-D"),
    (lambda: norm_act_pad(torch.randn(1, 3, 8, 8), 8), ValueError, "smaller than H=8"),
    (lambda: norm_act_pad(torch.randn(1, 3, 8, 3), 3), ValueError, "W=3"),
    (lambda: norm_act_pad(torch.randn(1, 3, 8, 8), -1), ValueError, "pad must be >= 0"),
    (lambda: norm_act_pad(torch.randn(1, 3, 8, 8), 1.5), TypeError, "pad must be an int"),
    (lambda: norm_act_pad(torch.randn(1, 3, 8, 8), 1, "gelu"), ValueError, "act must be one of"),
    (lambda: norm_act_pad(torch.randn(1, 3, 8, 8), 1, eps=0.0), ValueError, "eps"),
    (lambda: norm_act_pad(torch.randn(1, 3, 0, 8)), ValueError, "H and W must be >= 1"),
    (lambda: norm_act_pad([[1.0]]), TypeError, "torch.Tensor"),
    (
        lambda: norm_add_pad(torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 7)),
        ValueError,
        "skip shape",
    ),
    (
        lambda: norm_add_pad(torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8).double()),
        TypeError,
        "skip dtype",
    ),
    (lambda: norm_add_pad(torch.randn(1, 3, 8, 8), None), TypeError, "skip must be"),
    (
        lambda: ops._norm_act_pad(torch.randn(1, 3, 8, 8).half(), 1, 1, 1e-5),
        TypeError,
        "float32 or float64",
    ),
]


@pytest.mark.parametrize("call,exc,message", BAD)
def test_bad_input_raises_clear_error(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


@needs_cuda
def test_device_mismatch_raises():
    with pytest.raises(ValueError, match="skip is on cpu"):
        norm_add_pad(torch.randn(1, 3, 8, 8, device="cuda"), torch.randn(1, 3, 8, 8))
    with pytest.raises(TypeError, match="CUDA kernels take"):
        norm_act_pad(torch.randn(1, 3, 8, 8, device="cuda", dtype=torch.float64))


def test_device_mismatch_raises_on_meta():
    # Without a GPU the same check is exercised with the meta device.
    with pytest.raises(ValueError, match="skip is on cpu but x is on meta"):
        norm_add_pad(torch.empty(1, 3, 8, 8, device="meta"), torch.randn(1, 3, 8, 8))


def test_threads_follow_torch():
    from cyclegan import _C

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        x = torch.randn(2, 3, 8, 8)
        assert_close(norm_act_pad(x, 1), reference(x, 1))
        assert _C.build_info()["cpu_threads"] == 1
    finally:
        torch.set_num_threads(before)


def stub_module():
    """From the _C.pyi next to the imported package: function name -> parameter names, and
    class name -> its fields (annotated attributes) or, for an enum, {member: value}."""
    stub = Path(cyclegan.__file__).parent / "_C.pyi"
    tree = ast.parse(stub.read_text())
    functions = {f.name: [a.arg for a in f.args.args] for f in tree.body
                 if isinstance(f, ast.FunctionDef)}
    classes = {}
    for c in (c for c in tree.body if isinstance(c, ast.ClassDef)):
        if any(isinstance(b, ast.Attribute) and b.attr == "Enum" for b in c.bases):
            classes[c.name] = {s.targets[0].id: s.value.value for s in c.body
                               if isinstance(s, ast.Assign)}
        else:
            classes[c.name] = [s.target.id for s in c.body if isinstance(s, ast.AnnAssign)]
    return functions, classes


def compiled_fields(cls):
    """A bound struct's fields in binding order, or an enum's {member: value}."""
    if hasattr(cls, "__members__"):
        return {name: int(value) for name, value in cls.__members__.items()}
    return [name for name, v in vars(cls).items() if isinstance(v, property)]


def test_stub_matches_compiled_module():
    # cuda_* functions exist only in builds with CUDA; the stub lists them all.
    from cyclegan import _C

    functions, classes = stub_module()
    public = {name: getattr(_C, name) for name in dir(_C) if not name.startswith("__")}
    compiled = {name for name, v in public.items() if callable(v) and not isinstance(v, type)}
    assert compiled <= set(functions), f"missing from _C.pyi: {sorted(compiled - set(functions))}"
    expected = {n for n in functions if _C.has_cuda or not n.startswith("cuda_")}
    assert expected <= compiled, f"in _C.pyi but not compiled: {sorted(expected - compiled)}"
    for name in compiled:
        signature = public[name].__doc__.splitlines()[0]
        params = re.findall(r"[(,] ?(\w+):", signature)
        assert params == functions[name], f"{name}: compiled {params}, stub {functions[name]}"
    types = {name: v for name, v in public.items() if isinstance(v, type)}
    assert set(types) == set(classes), f"classes: compiled {sorted(types)}, stub {sorted(classes)}"
    for name, cls in types.items():
        assert compiled_fields(cls) == classes[name], f"{name}: fields differ from the stub"


def test_argument_structs_take_known_fields_by_keyword_only():
    # A misspelt field must fail loudly, not leave a pointer at 0.
    from cyclegan import _C

    view = _C.View(data=64, strides=(60, 20, 5, 1))
    assert (view.data, view.strides) == (64, [60, 20, 5, 1])
    args = _C.NormActPadFwd(x=view, act=_C.Act.relu, eps=1e-5)
    assert (args.x.data, args.act, args.eps, args.y.data) == (64, _C.Act.relu, 1e-5, 0)
    with pytest.raises(AttributeError, match="skp"):
        _C.NormActPadFwd(skp=view)
    with pytest.raises(TypeError):
        _C.NormActPadFwd(view)
    with pytest.raises(TypeError):
        _C.ImageShape(n="2")
