"""Projected discriminator (Sauer et al., "Projected GANs Converge Faster", NeurIPS 2021).

The discriminator judges images through a frozen ImageNet network (EfficientNet-Lite0,
`cyclegan.backbone`) instead of learning its features from scratch, which is what lets a
GAN converge in far fewer images. Per the paper:
- differentiable augmentation (Zhao et al. 2020) on every image it sees, real or generated,
  so that it cannot memorise the few hundred training photos;
- random feature mixing, fixed at initialisation and never trained: cross-channel mixing
  (a random 1x1 convolution per feature level) and cross-scale mixing (each level plus a
  random 1x1 projection of the upsampled, already-mixed deeper level), which spreads the
  backbone's signal over all channels so the heads cannot ignore most of it;
- one small discriminator head per level (strided 4x4 convolutions with spectral norm),
  each giving a map of logits. The recipe's loss (least squares, or the paper's hinge) is
  the mean over the levels;
- as the reference code runs it (autonomousvision/projected-gan): inputs below the
  backbone's ImageNet scale resized up to it after augmentation (its `interp224`, set for
  datasets below 224 px), so the backbone sees objects at the size it learned them
  (`input_size`; 0 keeps the inputs' size), and optionally its loss's blur warm-up: every
  image the discriminator sees, real or generated, blurred before augmentation with a
  Gaussian whose sigma fades linearly to 0 (`blur_sigma`, set per step by the training
  loop). Its train.py leaves the blur at 0; StyleGAN-XL, by the same authors, starts it at
  2 px.

The backbone is held outside the module tree (not a parameter, not in state_dict, not in
DDP's buckets): it is frozen and identical in every run, and 17 MB per checkpoint would
buy nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from cyclegan import backbone

LEVELS = ("s4", "s8", "s16", "s32")
MIXED_CHANNELS = {"s4": 64, "s8": 128, "s16": 256, "s32": 512}
HEAD_MAX_CHANNELS = 256
# Augmentations (DiffAugment's translation and cutout). DiffAugment's colour jitter is left
# out: between summer and winter the colours are the domain itself, and jittering them on
# both real and generated images would hide the very signal the discriminator must see.
TRANSLATE = 1 / 8  # shift by up to this fraction of the size, zeros shifted in
CUTOUT = 1 / 2  # a square of this fraction of the size set to zero


def augment(x: torch.Tensor) -> torch.Tensor:
    """Random translation and cutout per sample, differentiable with respect to x."""
    n, _, h, w = x.shape
    # Translation: out[y, x] = in[y - dy, x - dx], zero where that falls outside.
    dy = torch.randint(-int(h * TRANSLATE), int(h * TRANSLATE) + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-int(w * TRANSLATE), int(w * TRANSLATE) + 1, (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1) - dy
    xs = torch.arange(w, device=x.device).view(1, 1, w) - dx
    inside = ((ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)).unsqueeze(1)
    index = (ys.clamp(0, h - 1) * w + xs.clamp(0, w - 1)).view(n, 1, h * w)
    flat = x.reshape(n, x.shape[1], h * w)
    x = flat.gather(2, index.expand(-1, x.shape[1], -1)).view_as(x) * inside
    # Cutout: a square of CUTOUT * size centred anywhere in the image (clipped at edges).
    ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    top = torch.randint(0, h, (n, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w, (n, 1, 1), device=x.device) - cw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~hole).unsqueeze(1)


def blur_sigma(step: int, initial: float, fade_steps: int) -> float:
    """The blur at `step`: `initial` at step 0, falling linearly to 0 at `fade_steps`."""
    if fade_steps <= 0:
        return 0.0
    return initial * max(1.0 - step / fade_steps, 0.0)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable blur with taps 2^-(k / sigma)^2 for |k| <= floor(3 sigma), normalised, zero
    padded (the reference's filter and padding); x itself when that leaves one tap."""
    radius = int(3 * sigma)
    if radius <= 0:
        return x
    k = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    taps = torch.exp2(-(k / sigma) ** 2)
    taps = taps / taps.sum()
    c = x.shape[1]
    x = F.conv2d(x, taps.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, radius), groups=c)
    return F.conv2d(x, taps.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(radius, 0), groups=c)


def _fixed(conv: nn.Conv2d, generator: torch.Generator) -> nn.Conv2d:
    """A random projection that stays as initialised (Kaiming-uniform, zero bias)."""
    bound = (6 / conv.weight[0].numel()) ** 0.5
    with torch.no_grad():
        conv.weight.copy_(torch.rand(conv.weight.shape, generator=generator) * 2 * bound - bound)
        conv.bias.zero_()
    return conv.requires_grad_(False)


def _head(channels: int, size: int) -> nn.Sequential:
    """Strided 4x4 convolutions down to 4 x 4 (or less), then a 1-channel logit map."""
    layers: list[nn.Module] = []
    c = channels
    while size > 4:
        c_next = min(2 * c, HEAD_MAX_CHANNELS)
        layers += [spectral_norm(nn.Conv2d(c, c_next, 4, stride=2, padding=1)),
                   nn.LeakyReLU(0.2, inplace=True)]
        c, size = c_next, size // 2
    layers.append(spectral_norm(nn.Conv2d(c, 1, 3, padding=1)))
    return nn.Sequential(*layers)


class ProjectedDiscriminator(nn.Module):
    """D(x) = [head_l(mix_l(EfficientNet-Lite0_l(augment(x)))) for the four levels l].

    `image_size` is the training crop size and `input_size` the size crops below it are
    resized to for the backbone (0: none); the larger fixes how many strided convolutions
    each head needs. `seed` fixes the random mixing, which is also saved in state_dict.
    """

    def __init__(self, image_size: int, seed: int = 0, augmentation: bool = True,
                 input_size: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.augmentation, self.input_size = augmentation, input_size
        self.blur_sigma = 0.0  # a function of the step, not state: set by the training loop
        image_size = max(image_size, input_size)
        self.ccm = nn.ModuleDict({lv: _fixed(nn.Conv2d(backbone.CHANNELS[lv],
                                                       MIXED_CHANNELS[lv], 1), g)
                                  for lv in LEVELS})
        # csm[l] projects the mixed level below l (twice l's stride) onto l's channels.
        self.csm = nn.ModuleDict({lv: _fixed(nn.Conv2d(MIXED_CHANNELS[deeper],
                                                       MIXED_CHANNELS[lv], 1), g)
                                  for lv, deeper in zip(LEVELS, LEVELS[1:])})
        sizes = {lv: max(1, image_size // int(lv[1:])) for lv in LEVELS}
        self.heads = nn.ModuleDict({lv: _head(MIXED_CHANNELS[lv], sizes[lv]) for lv in LEVELS})

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mixed backbone features of x (blurred by self.blur_sigma, augmented when
        self.augmentation, resized up to self.input_size)."""
        x = blur(x, self.blur_sigma)
        if self.augmentation:
            x = augment(x)
        if min(x.shape[-2:]) < self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)
        feats = backbone.load(str(x.device))(x, LEVELS)
        mixed: dict[str, torch.Tensor] = {}
        for lv, deeper in zip(reversed(LEVELS), (None, *reversed(LEVELS[1:]))):
            m = self.ccm[lv](feats[lv])
            if deeper is not None:
                up = F.interpolate(mixed[deeper], size=m.shape[-2:], mode="bilinear",
                                   align_corners=False)
                m = m + self.csm[lv](up)
            mixed[lv] = m
        return mixed

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        mixed = self.features(x)
        return [self.heads[lv](mixed[lv]) for lv in LEVELS]
