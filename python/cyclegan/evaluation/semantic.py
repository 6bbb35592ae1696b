"""A semantic learning-free baseline: colour statistics transferred per region of similar
EfficientNet-Lite features, carried to full size by the guided step.

The global colour transfer (baselines.color_transfer) moves every pixel of a photo by one
affine map per channel: sky, snow and trees alike. Here the photo is first split into
regions that look alike to a fixed ImageNet network (the stride-16 features of
EfficientNet-Lite0, the judge's "s16" space): clusters fitted once on the photos of both
domains, so "sky" or "ground" means the same cluster in either season. Each region of a
photo then gets the colour statistics (per-channel mean and standard deviation, Reinhard et
al. 2001) of that cluster in the target domain's photos: summer grass moves towards what
the same kind of region looks like in winter. The transfer is computed at a small scale,
where the regions are; a bilateral grid of local colour models fitted there
(infer/guided.py, as cyclegan-infer carries a generator's change) applies it to the photo at
full size, so region borders follow the photo's edges rather than the feature grid.

It is the bar a learned model must clear to claim more than colour, and a candidate base
for a generator to correct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cyclegan import backbone
from cyclegan.evaluation import judge, metrics
from cyclegan.infer import guided

NAME = "semantic colour transfer"
LEVEL = "s16"  # mid-level: regions by what they are (sky, snow, foliage), not by edges
CLUSTERS = 8
ITERATIONS = 25
SMALL = 64  # the scale the regions are coloured at, before the guided step
MIN_STD = 0.05  # a flat region's spread, in [-1, 1] units, so its gain stays bounded
# Pixels of target colour a cluster needs before its own statistics outweigh the target
# domain's global ones (weight n / (n + PRIOR_PIXELS)).
PRIOR_PIXELS = 4096
BATCH = 16


@dataclass(frozen=True)
class SemanticModel:
    """Unit-length cluster centres (K x C) and, per domain, each cluster's colour mean and
    standard deviation (K x 3, [-1, 1] units)."""

    centres: torch.Tensor
    means: dict
    stds: dict


def _features(images: torch.Tensor, device: str) -> torch.Tensor:
    """Unit-length LEVEL features (N x C x h x w, on the CPU) of [-1, 1] images."""
    net = backbone.inference_copy(device)
    out = []
    with torch.no_grad():
        for i in range(0, len(images), BATCH):
            x = judge.network_input(images[i:i + BATCH], device)
            out.append(F.normalize(net(x, (LEVEL,))[LEVEL].float(), dim=1).cpu())
    return torch.cat(out)


def _labels(features: torch.Tensor, centres: torch.Tensor, size: int) -> torch.Tensor:
    """The nearest centre (cosine) of every pixel of a size x size grid: N x size x size."""
    up = F.interpolate(features, size=(size, size), mode="bilinear", align_corners=False)
    return torch.einsum("nchw,kc->nkhw", up, centres).argmax(1)


def kmeans(vectors: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Spherical k-means (k-means++ seeding, then ITERATIONS Lloyd steps on cosine)."""
    g = torch.Generator().manual_seed(seed)
    centres = vectors[torch.randint(len(vectors), (1,), generator=g)]
    for _ in range(1, k):
        dist = (1 - vectors @ centres.T).min(1).values.clamp_min(0)
        centres = torch.cat([centres, vectors[torch.multinomial(dist + 1e-12, 1, generator=g)]])
    for _ in range(ITERATIONS):
        assign = (vectors @ centres.T).argmax(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, vectors)
        empty = sums.norm(dim=1) == 0
        centres = torch.where(empty[:, None], centres, F.normalize(sums, dim=1))
    return centres


def _small(images: torch.Tensor) -> torch.Tensor:
    return metrics.resize(images.float(), SMALL).clamp(-1, 1)


def fit(photos: dict[str, torch.Tensor], clusters: int = CLUSTERS, device: str = "cpu",
        seed: int = 0) -> SemanticModel:
    """Clusters shared by every domain's photos ({domain: N x 3 x H x W in [-1, 1]}), and
    each domain's colour statistics per cluster."""
    feats = {d: _features(x, device) for d, x in photos.items()}
    vectors = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]) for f in feats.values()])
    centres = kmeans(vectors.double(), clusters, seed).float()
    means, stds = {}, {}
    for d, x in photos.items():
        labels = _labels(feats[d], centres, SMALL).reshape(-1)
        pixels = _small(x).double().permute(0, 2, 3, 1).reshape(-1, 3)
        count = torch.bincount(labels, minlength=clusters).double()[:, None]
        total = torch.zeros(clusters, 3, dtype=torch.float64).index_add_(0, labels, pixels)
        square = torch.zeros(clusters, 3, dtype=torch.float64).index_add_(0, labels, pixels ** 2)
        mean = total / count.clamp_min(1)
        std = (square / count.clamp_min(1) - mean ** 2).clamp_min(0).sqrt()
        # Thinly covered clusters lean on the domain's global statistics.
        t = count / (count + PRIOR_PIXELS)
        means[d] = (t * mean + (1 - t) * pixels.mean(0)).float()
        stds[d] = (t * std + (1 - t) * pixels.std(0)).float()
    return SemanticModel(centres, means, stds)


def transfer_regions(small: torch.Tensor, labels: torch.Tensor, mean_t: torch.Tensor,
                    std_t: torch.Tensor) -> torch.Tensor:
    """Per image and region: (x - region mean) / region std * target std + target mean."""
    out = torch.empty_like(small)
    for i in range(len(small)):
        x = small[i].reshape(3, -1).double()
        lab = labels[i].reshape(-1)
        y = torch.empty_like(x)
        for k in lab.unique():
            sel = lab == k
            region = x[:, sel]
            mean = region.mean(1, keepdim=True)
            std = region.std(1, keepdim=True, unbiased=False).clamp_min(MIN_STD)
            y[:, sel] = ((region - mean) / std * std_t[k].double()[:, None]
                         + mean_t[k].double()[:, None])
        out[i] = y.reshape(small[i].shape).clamp(-1, 1).to(out.dtype)
    return out


def _u8(x: torch.Tensor) -> np.ndarray:
    """H x W x 3 uint8 of a 3 x H x W image in [-1, 1]."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def transfer(images: torch.Tensor, model: SemanticModel, target: str,
             device: str = "cpu") -> torch.Tensor:
    """`images` (N x 3 x H x W in [-1, 1]) with each region's colours moved to the target
    domain's statistics for it, at the images' own size."""
    labels = _labels(_features(images, device), model.centres, SMALL)
    small = _small(images)
    moved = transfer_regions(small, labels, model.means[target], model.stds[target])
    out = torch.empty(images.shape, dtype=images.dtype)
    for i in range(len(images)):
        grid = guided.fit(_u8(small[i]), ((moved[i] + 1) / 2).permute(1, 2, 0).double().numpy())
        full = guided.apply(grid, np.ascontiguousarray(_u8(images[i].cpu())))
        out[i] = torch.from_numpy(full).permute(2, 0, 1).to(images.dtype) / 127.5 - 1
    return out
