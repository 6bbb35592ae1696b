"""Exponential moving average of the generators' weights (Yazici et al., ICLR 2019).

A GAN's generator oscillates around a good solution rather than settling on it; the
average of its recent weights sits closer to that solution, and it damps the swings
between neighbouring checkpoints. It costs one copy of each generator and one fused
multiply-add over its parameters per step. Samples, evaluation, export and the bundled
models use the averaged weights; the optimizer keeps training the raw ones.

After optimizer step t (1-based) every averaged tensor becomes
    ema <- d_t * ema + (1 - d_t) * raw,   d_t = min(decay, (1 + t) / (10 + t)),
the warm-up of TensorFlow's ExponentialMovingAverage(num_updates): early in a run, when
the initial weights are worthless, the average follows the raw weights closely.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def decay_at(step: int, decay: float) -> float:
    """d_t for 1-based optimizer step `step`."""
    return min(decay, (1 + step) / (10 + step))


class EMA:
    """Averaged copies of the given modules (same architecture, parameter names, device)."""

    def __init__(self, modules: dict[str, nn.Module], decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.sources = modules
        self.modules = {k: copy.deepcopy(m).requires_grad_(False).eval()
                        for k, m in modules.items()}

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = decay_at(step, self.decay)
        for key, source in self.sources.items():
            avg = list(self.modules[key].parameters())
            raw = [p.detach() for p in source.parameters()]
            torch._foreach_lerp_(avg, raw, 1.0 - d)
            for a, b in zip(self.modules[key].buffers(), source.buffers()):
                a.copy_(b)

    def state_dict(self) -> dict[str, dict]:
        return {k: m.state_dict() for k, m in self.modules.items()}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        for k, m in self.modules.items():
            m.load_state_dict(state[k])

    def reset(self) -> None:
        """Restart the average at the current raw weights (a run that had no EMA)."""
        for key, source in self.sources.items():
            self.modules[key].load_state_dict(source.state_dict())
