import pytest
import torch
import torch.nn.functional as F

from cyclegan.layers import NormAddPad, NormReLUPad, ResidualBlock, fused_unavailable_reason

from conftest import FUSED_REASON, needs_ops


def ref_norm(x):
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5)


def ref_pad(x, pad):
    return F.pad(x, (pad,) * 4, mode="reflect") if pad else x


def rand(*shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


@pytest.mark.parametrize("pad", [0, 1, 3])
def test_plain_norm_relu_pad_matches_reference(pad):
    x = rand(2, 4, 9, 7) * 3 + 1
    y = NormReLUPad(4, pad=pad, fused=False)(x.clone())
    torch.testing.assert_close(y, ref_pad(torch.relu(ref_norm(x)), pad), atol=1e-5, rtol=0)


@pytest.mark.parametrize("pad", [0, 1])
def test_plain_norm_add_pad_matches_reference(pad):
    x, skip = rand(2, 4, 6, 6, seed=1), rand(2, 4, 6, 6, seed=2)
    y = NormAddPad(4, pad=pad, fused=False)(x, skip)
    torch.testing.assert_close(y, ref_pad(ref_norm(x) + skip, pad), atol=1e-5, rtol=0)


def test_blocks_hold_no_parameters():
    for fused in [False] + ([True] if FUSED_REASON is None else []):
        assert not NormReLUPad(8, pad=1, fused=fused).state_dict()
        assert not NormAddPad(8, pad=1, fused=fused).state_dict()


def official_block(block, x):
    """The official ResnetBlock: pad, conv, norm, relu, pad, conv, norm, plus x."""
    h = F.conv2d(ref_pad(x, 1), block.conv1.weight, block.conv1.bias)
    h = torch.relu(ref_norm(h))
    h = F.conv2d(ref_pad(h, 1), block.conv2.weight, block.conv2.bias)
    return x + ref_norm(h)


@pytest.mark.parametrize("fused", [False, pytest.param(True, marks=needs_ops)])
@pytest.mark.parametrize("pad_out", [0, 1])
def test_residual_block_matches_official_block(fused, pad_out):
    torch.manual_seed(0)
    block = ResidualBlock(6, pad_out=pad_out, fused=fused)
    x = rand(2, 6, 10, 8, seed=3)
    y = block(ref_pad(x, 1))
    torch.testing.assert_close(y, ref_pad(official_block(block, x), pad_out),
                               atol=1e-5, rtol=1e-5)


@needs_ops
@pytest.mark.parametrize("pad", [0, 1, 3])
def test_fused_blocks_match_plain_forward_and_backward(pad):
    x = rand(2, 5, 12, 10, seed=4) * 2 + 0.5
    skip = rand(2, 5, 12, 10, seed=5)
    g = rand(2, 5, 12 + 2 * pad, 10 + 2 * pad, seed=6)
    for make in (lambda f: NormReLUPad(5, pad=pad, fused=f),
                 lambda f: NormAddPad(5, pad=pad, fused=f)):
        outs, grads = [], []
        for fused in (False, True):
            xi, si = x.clone().requires_grad_(), skip.clone().requires_grad_()
            m = make(fused)
            y = m(xi, si) if isinstance(m, NormAddPad) else m(xi)
            (y * g).sum().backward()
            outs.append(y.detach())
            grads.append([xi.grad] + ([si.grad] if isinstance(m, NormAddPad) else []))
        torch.testing.assert_close(outs[1], outs[0], atol=1e-5, rtol=0)
        for a, b in zip(grads[1], grads[0]):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


@needs_ops
def test_fused_pad_too_large_is_a_clear_error():
    with pytest.raises(ValueError, match="smaller than"):
        NormReLUPad(2, pad=3, fused=True)(torch.randn(1, 2, 3, 8))


@needs_ops
def test_fused_unavailable_reason_is_none_where_kernels_run():
    # The CPU kernels, and meta tensors (shapes only, through the fake kernels).
    assert fused_unavailable_reason("cpu") is None
    assert fused_unavailable_reason("meta") is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is available")
def test_fused_unavailable_reason_names_a_missing_device():
    # Without a usable GPU the probe fails (torch without CUDA raises AssertionError, one
    # without a driver RuntimeError): a reason naming CUDA, not an exception.
    reason = fused_unavailable_reason("cuda")
    assert reason is not None and "cuda" in reason.lower()
