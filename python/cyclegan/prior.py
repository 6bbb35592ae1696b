"""A pretrained prior inside the generator: frozen EfficientNet-Lite0 features of its input.

The large recent gains in unpaired translation come from pretrained features inside the
generator or its losses; the ImageNet EfficientNet-Lite0 weights the `efficientnet` extra
installs offline are such a prior. `--arch resnet-prior` is the ResNet generator with the
backbone's stride-8 and stride-16 maps of the input (40 + 112 channels: parts and
textures, what a season changes) resized to the trunk's stride 4, mixed by a trained 1x1
convolution and added to the last downsampling's output before its normalization, so the
fused norm/act/pad ops of the trunk stay as they are.

The backbone (its stem and blocks up to stride 16, 0.7 M parameters, 2.8 MB) is a frozen
submodule: saved with the generator, so a checkpoint and its ONNX export are
self-contained and `cyclegan-infer` runs it as any other generator; never trained (no
gradient, batch norm on its ImageNet statistics in every mode). Input sizes divide by 16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan import backbone

LEVELS = ("s8", "s16")
CHANNELS = sum(backbone.CHANNELS[lv] for lv in LEVELS)
STRIDE = 16  # the deepest level's: what input sizes must divide by


class FeaturePrior(nn.Module):
    """The frozen front of EfficientNet-Lite0: x in [-1, 1] -> (stride-8, stride-16) maps."""

    def __init__(self):
        super().__init__()
        net = backbone.EfficientNetLite0().net
        self.stem, self.stem_bn, self.act = net._conv_stem, net._bn0, net._swish
        self.blocks = nn.ModuleList(net._blocks[:backbone.LEVELS["s16"] + 1])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeaturePrior:
        # Batch norm keeps its ImageNet statistics whatever the generator's mode.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.act(self.stem_bn(self.stem(backbone.network_scale(x))))
        s8 = h
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i == backbone.LEVELS["s8"]:
                s8 = h
        return s8, h


class PriorJoin(nn.Module):
    """join(x, h) = h + conv1x1([s8, s16 of x, resized to h's size])."""

    def __init__(self, trunk_channels: int):
        super().__init__()
        self.prior = FeaturePrior()
        self.mix = nn.Conv2d(CHANNELS, trunk_channels, 1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        feats = [F.interpolate(f, size=h.shape[-2:], mode="bilinear", align_corners=False)
                 for f in self.prior(x)]
        return h + self.mix(torch.cat(feats, 1).to(h.dtype))
