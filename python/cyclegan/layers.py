"""Normalization blocks of the generator, fused (cyclegan.ops) or plain torch.

Both variants hold no parameters, so a network's state_dict is the same either way. The
plain variant is the reference for tests and what ONNX export traces.

The fused blocks return their output already reflection-padded for the next convolution,
which then runs with padding=0; the residual skip is the interior view of that tensor.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-5


def fused_unavailable_reason(device="cpu") -> str | None:
    """Why the fused ops cannot run on `device`, or None: a probe call, whose failure (no
    compiled extension, no kernels for the device, a driver the kernels cannot use, a torch
    without that device, which raises AssertionError) is the reason."""
    try:
        from cyclegan import ops

        ops.norm_act_pad(torch.zeros(1, 1, 2, 2, device=device), pad=1)
    except Exception as exc:  # any failure of the probe means "use the plain layers"
        return f"{type(exc).__name__}: {exc}"
    return None


def _ops():
    try:
        from cyclegan import ops
    except ImportError as exc:
        raise RuntimeError(
            f"fused layers need the compiled extension cyclegan._C ({exc}); "
            "reinstall the package or use the plain layers (fused=False, --no-fused)"
        ) from exc
    return ops


def _plain_pad(pad: int) -> nn.Module:
    return nn.ReflectionPad2d(pad) if pad else nn.Identity()


class NormReLUPad(nn.Module):
    """reflect_pad(relu(instance_norm(x)), pad)."""

    def __init__(self, channels: int, pad: int = 0, fused: bool = True):
        super().__init__()
        self.pad = pad
        self.fused = fused
        if fused:
            self._op = _ops().norm_act_pad
        else:
            self.norm = nn.InstanceNorm2d(channels, eps=EPS, affine=False)
            self.act = nn.ReLU(inplace=True)
            self.padding = _plain_pad(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return self._op(x, pad=self.pad, act="relu", eps=EPS)
        return self.padding(self.act(self.norm(x)))

    def extra_repr(self) -> str:
        return f"pad={self.pad}, fused={self.fused}"


class NormAddPad(nn.Module):
    """reflect_pad(instance_norm(x) + skip, pad): the end of a residual block."""

    def __init__(self, channels: int, pad: int = 0, fused: bool = True):
        super().__init__()
        self.pad = pad
        self.fused = fused
        if fused:
            self._op = _ops().norm_add_pad
        else:
            self.norm = nn.InstanceNorm2d(channels, eps=EPS, affine=False)
            self.padding = _plain_pad(pad)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return self._op(x, skip, pad=self.pad, eps=EPS)
        return self.padding(self.norm(x) + skip)

    def extra_repr(self) -> str:
        return f"pad={self.pad}, fused={self.fused}"


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm; input and output are reflect-padded by 1.

    `pad_out` is 1 when another block follows (its input must be padded), else 0.
    """

    def __init__(self, channels: int, pad_out: int = 1, fused: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=0, bias=True)
        self.norm1 = NormReLUPad(channels, pad=1, fused=fused)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=0, bias=True)
        self.norm2 = NormAddPad(channels, pad=pad_out, fused=fused)

    def forward(self, x_padded: torch.Tensor) -> torch.Tensor:
        skip = x_padded[:, :, 1:-1, 1:-1]
        h = self.norm1(self.conv1(x_padded))
        return self.norm2(self.conv2(h), skip)
