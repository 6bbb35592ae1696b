"""A training budget: a run sized in steps or in minutes, its learning rate decaying linearly
from --lr to 0 over the whole of it (budgeted training, Li, Yumer and Ramanan, ICLR 2020),
instead of the paper's flat epochs then decaying epochs (recipe.lr_factor).

The schedule is a function of progress, the fraction of the budget spent:
- steps: optimizer steps done / --budget-steps, so step k (0-based) runs at
  lr * (1 - k / N) and the last one at lr / N; bit-identical across a resume on CPU.
- minutes: training seconds spent / (60 * --budget-minutes). The seconds are counted by the
  training loop from its first step (start-up, and the time a run spends interrupted, are
  not), kept in every checkpoint and restored on --resume. A resumed run therefore follows
  the same learning rate against minutes spent and stops when the spent minutes reach the
  budget, at a rate of 0, as an uninterrupted one does; only the number of steps that fit
  in those minutes follows the machine's pace, so it is not bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    steps: int | None = None
    minutes: float | None = None

    @classmethod
    def from_config(cls, cfg) -> Budget | None:
        """The run's budget, or None for the epoch schedule."""
        if cfg.budget_steps is None and cfg.budget_minutes is None:
            return None
        return cls(cfg.budget_steps, cfg.budget_minutes)

    @property
    def timed(self) -> bool:
        """Whether progress is measured in minutes (it then depends on the clock)."""
        return self.steps is None

    def progress(self, step: int, spent_s: float) -> float:
        """Fraction of the budget spent after `step` steps and `spent_s` training seconds."""
        done = step / self.steps if self.steps is not None else spent_s / (60 * self.minutes)
        return min(max(done, 0.0), 1.0)

    def lr_factor(self, step: int, spent_s: float) -> float:
        """The multiplier of --lr for the next step."""
        return 1.0 - self.progress(step, spent_s)

    def spent(self, step: int, spent_s: float) -> bool:
        return self.progress(step, spent_s) >= 1.0
