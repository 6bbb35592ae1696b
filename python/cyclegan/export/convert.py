"""Import generators trained with the official code (junyanz/pytorch-CycleGAN-and-pix2pix).

The official ResnetGenerator is one nn.Sequential named `model`:
  0 ReflectionPad2d(3), 1 Conv 7x7, 2 InstanceNorm, 3 ReLU,
  4 Conv s2, 5 norm, 6 ReLU, 7 Conv s2, 8 norm, 9 ReLU,
  10 .. 10+n-1 ResnetBlock, each `conv_block` = [ReflectionPad, Conv, norm, ReLU,
      (Dropout,) ReflectionPad, Conv, norm],
  then ConvTranspose, norm, ReLU (x2), ReflectionPad2d(3), Conv 7x7, Tanh.
With instance norm every convolution has a bias and the norms hold no weights (old
releases saved running_mean/running_var buffers for them, which carry nothing and are
dropped here).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from cyclegan.checkpoint import new_checkpoint, save_checkpoint
from cyclegan.contract import DIRECTIONS
from cyclegan.errors import CycleganError
from cyclegan.models import ModelConfig, build_generator

_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
_BLOCK_KEY = re.compile(r"^model\.(\d+)\.conv_block\.(\d+)\.(weight|bias)$")


class ConvertError(CycleganError):
    """The file is not an official instance-norm ResNet generator state_dict."""


def _clean(state: dict) -> dict[str, torch.Tensor]:
    if not isinstance(state, dict) or not state:
        raise ConvertError("expected a non-empty state_dict (a dict of tensors)")
    out = {}
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ConvertError(f"expected a state_dict of tensors, found entry {key!r} of type "
                               f"{type(value).__name__}")
        key = key.removeprefix("module.")  # saved from a DataParallel wrapper
        if key.rsplit(".", 1)[-1] in _NORM_BUFFERS:
            continue
        out[key] = value
    return out


def official_to_ours(state: dict) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """(model config, our state_dict) for an official resnet_{n}blocks generator."""
    src = _clean(state)
    if "model.1.weight" not in src or "model.4.weight" not in src:
        raise ConvertError("not an official ResnetGenerator state_dict (no model.1.weight / "
                           f"model.4.weight; first keys: {', '.join(list(src)[:5])})")
    if "model.2.weight" in src:
        raise ConvertError("this generator uses batch norm (model.2.weight); only instance "
                           "norm generators (the CycleGAN default) can be imported")
    block_ids = sorted({int(m.group(1)) for k in src if (m := _BLOCK_KEY.match(k))})
    n_blocks = len(block_ids)
    if block_ids != list(range(10, 10 + n_blocks)):
        raise ConvertError(f"unexpected residual block layout: model indices {block_ids}")
    # With use_dropout the second conv of a block sits one index later.
    second = 6 if n_blocks and "model.10.conv_block.6.weight" in src else 5

    mapping = {"model.1": "stem", "model.4": "down.0", "model.7": "down.1"}
    for i in range(n_blocks):
        mapping[f"model.{10 + i}.conv_block.1"] = f"blocks.{i}.conv1"
        mapping[f"model.{10 + i}.conv_block.{second}"] = f"blocks.{i}.conv2"
    up = 10 + n_blocks
    mapping.update({f"model.{up}": "up.0", f"model.{up + 3}": "up.1",
                    f"model.{up + 7}": "head"})

    ours = {}
    for theirs, mine in mapping.items():
        for p in ("weight", "bias"):
            key = f"{theirs}.{p}"
            if key not in src:
                raise ConvertError(f"missing {key} (convolutions without bias mean a "
                                   "non-instance-norm generator, which is not supported)")
            ours[f"{mine}.{p}"] = src.pop(key)
    if src:
        raise ConvertError(f"unexpected keys (not a resnet generator?): "
                           f"{', '.join(sorted(src)[:8])}")

    stem, head = ours["stem.weight"], ours["head.weight"]
    cfg = ModelConfig(in_channels=stem.shape[1], out_channels=head.shape[0],
                      ngf=stem.shape[0], n_blocks=n_blocks)
    try:
        build_generator(cfg, fused=False).load_state_dict(ours)
    except RuntimeError as exc:
        raise ConvertError(f"weights do not form a ResNet generator: {exc}") from exc
    return cfg, ours


def convert_file(src: str | os.PathLike, out: str | os.PathLike, direction: str = "A2B",
                 domains: dict[str, str] | None = None) -> dict:
    """Write our checkpoint holding the official generator as G_<direction>; returns info."""
    if direction not in DIRECTIONS:
        raise ConvertError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    src, out = Path(src), Path(out)
    if not src.is_file():
        raise ConvertError(f"file not found: {src}")
    if out.exists() and out.is_dir():
        raise ConvertError(f"--out {out} is a directory; give a file name such as model.pt")
    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConvertError(f"{src} is not a readable PyTorch state_dict: "
                           f"{type(exc).__name__}: {exc}") from exc
    cfg, weights = official_to_ours(state)
    ckpt = new_checkpoint(cfg, domains)
    ckpt.update({f"G_{direction}": weights, "step": 0, "epoch": 0, "source": str(src)})
    try:
        save_checkpoint(out, ckpt)
    except OSError as exc:
        raise ConvertError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return {"out": str(out), "config": cfg.to_dict(), "direction": direction}
