"""--lambda-struct: a loss that keeps each photo's structure and leaves its appearance free.

The identity loss keeps structure by keeping pixels, so it also holds back the change a
season needs (issue 27: with it the outputs stay a colour grade; without it they stop being
the photo). This loss compares which parts of a photo resemble which instead of the pixels:
the spatially-correlative loss of Zheng et al. (CVPR 2021, "FSeSim"), here in the frozen
EfficientNet-Lite0 features the judge and the projected discriminator already use.

For a feature map F (N x C x H x W) scaled to unit length at each location, the
self-similarity map S holds, for each location p and each offset d of a WINDOW x WINDOW
neighbourhood (in unfold's row-major order), the cosine
    S[n, d, p] = <F[n, :, p], F[n, :, p + d]>   (0 where p + d is off the map).
The loss is mean |S(input) - S(output)| over n, d and p, averaged over its levels (LEVELS
unless given); the input's side carries no gradient. A colour grade or whitened ground
changes F but mostly leaves which neighbours resemble which; moved, smeared or invented
edges do not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan import backbone

LEVELS = ("s4", "s8")  # strides 4 and 8: edges and textures, before objects
WINDOW = 5  # neighbourhood side, in feature locations (20 and 40 px at those strides)


def self_similarity(f: torch.Tensor, window: int = WINDOW) -> torch.Tensor:
    """N x C x H x W features -> N x window^2 x H x W cosines (module docstring)."""
    n, c, h, w = f.shape
    unit = F.normalize(f.float(), dim=1)
    around = F.unfold(unit, window, padding=window // 2).view(n, c, window * window, h, w)
    return (around * unit.unsqueeze(2)).sum(1)


class StructureLoss(nn.Module):
    """loss(x, y): how far y's structure is from x's; x and y are images in [-1, 1]."""

    def __init__(self, net: nn.Module, levels: tuple[str, ...] = LEVELS):
        super().__init__()
        self.net = net  # frozen: gradients reach y only
        self.levels = levels

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            fx = self.net(x, self.levels)
        fy = self.net(y, self.levels)
        return sum((self_similarity(fx[k]) - self_similarity(fy[k])).abs().mean()
                   for k in self.levels) / len(self.levels)


def structure_loss(device: torch.device | str) -> StructureLoss:
    """The loss on `device`, with the shared frozen backbone (BackboneUnavailable without
    the efficientnet extra)."""
    return StructureLoss(backbone.load(str(device)))
