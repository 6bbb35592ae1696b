"""Learning-free "translations" that a trained model must beat, so a colour shift cannot pass
for a translation: the untouched input, grayscale, a hand-made season look, and per-channel
colour-statistics transfer to the target domain. The season looks only for a target named
after a season.

All take and return N x 3 x H x W images in [-1, 1].
"""

from __future__ import annotations

import re

import torch

from cyclegan.evaluation import metrics


def identity(x: torch.Tensor, target_stats=None) -> torch.Tensor:
    return x


def grayscale(x: torch.Tensor, target_stats=None) -> torch.Tensor:
    return metrics.grayscale(x).expand_as(x).clone()


def _look(x: torch.Tensor, saturation: float, brightness: float, tint) -> torch.Tensor:
    """Blend towards gray by 1 - saturation, add brightness, then a per-channel tint."""
    unit = (x + 1) / 2
    gray = (grayscale(x) + 1) / 2
    y = gray + saturation * (unit - gray) + brightness
    y = y + torch.tensor(tint, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (y.clamp(0, 1) * 2 - 1)


def winter_look(x: torch.Tensor, target_stats=None) -> torch.Tensor:
    """Desaturate, brighten and tint blue: what a photo editor's "winter" preset does."""
    return _look(x, saturation=0.45, brightness=0.12, tint=(-0.03, 0.0, 0.06))


def summer_look(x: torch.Tensor, target_stats=None) -> torch.Tensor:
    """The opposite preset: more saturation, a little darker, warm-green tint."""
    return _look(x, saturation=1.4, brightness=-0.05, tint=(0.03, 0.04, -0.04))


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over a set of images."""
    flat = images.double().transpose(0, 1).reshape(3, -1)
    return flat.mean(1), flat.std(1)


def color_transfer(x: torch.Tensor,
                   target_stats: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Match each image's per-channel mean and std to the target domain's (Reinhard et al.
    2001, here in RGB): the best a global colour mapping can do without learning."""
    mean_t, std_t = (s.to(x.device).view(1, 3, 1, 1) for s in target_stats)
    xd = x.double()
    mean = xd.mean((2, 3), keepdim=True)
    std = xd.std((2, 3), keepdim=True).clamp_min(1e-6)
    return ((xd - mean) / std * std_t + mean_t).clamp(-1, 1).to(x.dtype)


# Presets for targets whose name is a season: a look is only a baseline where it means
# something ("winter look" is no translation into zebras).
LOOKS = {"winter": winter_look, "summer": summer_look}


def look_for(target: str):
    """(name, preset) for a target domain named after a season (any case, e.g. "Winter",
    "winter_photos"), else None."""
    words = re.findall(r"[a-z]+", target.lower())
    for season, fn in LOOKS.items():
        if season in words:
            return f"{target} look", fn
    return None


def for_direction(direction: str, domains: dict[str, str]) -> dict:
    """Name -> baseline for translating towards the direction's target domain; `domains`
    maps "A"/"B" to their names."""
    look = look_for(domains[direction[2]])
    return dict([("untranslated", identity), ("grayscale", grayscale), *([look] if look else []),
                 ("colour transfer", color_transfer)])
