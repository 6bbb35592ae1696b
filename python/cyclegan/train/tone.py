"""--lambda-tone: keep which parts of a photo are lighter than which, and nothing else.

The structure loss (train/structure.py) compares which neighbours resemble which, and a
resemblance has no sign: trained with it and without the identity loss, the generators
change the season's cues but invert tones in places (dark forest made bright, snow dark
blue; issue 27's paper-struct arm, structure SSIM below 0). This term sees the sign, and
only the sign and layout of tone: it compares the local correlation of the two photos'
luma at a quarter of their size, where leaves and grass have averaged out and what is left
is the layout of light and dark areas.

With x, y the BT.601 luma of input and translation on [0, 1], area-pooled by SCALE, and
mu, var, cov their Gaussian-weighted local statistics (window WINDOW, sigma SIGMA, over the
valid region only), the local correlation is

    r = (cov + C) / sqrt((var_x + C) (var_y + C)),   -1 <= r <= 1,

and the loss is mean(1 - r): 0 for the same photo, near 0 for any brightness or contrast
change of it (C makes a contrast change cost a little: 0.02 for 60% contrast on the tests'
scenes), up to 1 where the translation flattens a textured area, up to 2 where it inverts
one. C (SSIM's structure constant, (0.03)^2 / 2) keeps r and its gradient finite in flat
areas. Computed in float32 (float64 if given) with autocast off: bf16 statistics would
cancel in var = E[x^2] - mu^2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cyclegan.evaluation.metrics import gaussian_filter, gaussian_window, grayscale

SCALE = 4  # 112 px crops -> 28 x 28; the window then spans 28 px of the crop
WINDOW, SIGMA = 7, 1.5
C = 0.03 ** 2 / 2
MIN_SIZE = WINDOW * SCALE  # the smallest image side the loss takes


def local_correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W luma on [0, 1] -> N x 1 x (H - WINDOW + 1) x (W - WINDOW + 1) r."""
    g = gaussian_window(WINDOW, SIGMA, x.dtype).to(x.device)
    mu_x, mu_y = gaussian_filter(x, g), gaussian_filter(y, g)
    var_x = (gaussian_filter(x * x, g) - mu_x * mu_x).clamp_min(0)
    var_y = (gaussian_filter(y * y, g) - mu_y * mu_y).clamp_min(0)
    cov = gaussian_filter(x * y, g) - mu_x * mu_y
    return (cov + C) / ((var_x + C) * (var_y + C)).sqrt()


def tone_loss(x: torch.Tensor, y: torch.Tensor, scale: int = SCALE) -> torch.Tensor:
    """mean(1 - r) of images x (the photo: no gradient) and y (its translation) in [-1, 1],
    their lumas area-pooled by `scale`."""
    if min(x.shape[-2:]) < WINDOW * scale:
        raise ValueError(f"tone_loss needs images of at least {WINDOW * scale} px a side, "
                         f"got {tuple(x.shape[-2:])}")
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    with torch.autocast(x.device.type, enabled=False):
        lx, ly = (F.avg_pool2d(grayscale((t.to(dtype) + 1) / 2), scale)
                  for t in (x.detach(), y))
        return (1 - local_correlation(lx, ly)).mean()
