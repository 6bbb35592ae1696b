"""Everything a training run changes as it goes, in one object that saves and restores itself.

A checkpoint is `TrainState.state_dict()` plus the self-describing fields of
`cyclegan.checkpoint.new_checkpoint`; resuming is `load_state_dict()` on a freshly built
state, which is all an exact (bit-identical on CPU) continuation needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cyclegan.errors import TrainError, first_line
from cyclegan.models import ModelConfig, build_generator, init_weights
from cyclegan.train.config import TrainConfig
from cyclegan.train.discriminators import KINDS
from cyclegan.train.ema import EMA
from cyclegan.train.recipe import (
    Discriminators,
    Generators,
    ImagePool,
    get_rng_state,
    lr_factor,
    seed_everything,
    set_rng_state,
)
from cyclegan.train.schedule import Budget

GENERATORS = ("G_A2B", "G_B2A")
OPTIMIZERS = ("optim_G", "optim_D", "sched_G", "sched_D")
COUNTERS = ("step", "epoch", "batch")
KEYS = (*GENERATORS, *OPTIMIZERS, *COUNTERS, "pools", "rng")


def ema_key(generator_key: str) -> str:
    """Where a checkpoint keeps the averaged weights of a generator ("G_A2B_ema")."""
    return generator_key + "_ema"


@dataclass
class TrainState:
    G: Generators
    D: Discriminators
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    sched_G: torch.optim.lr_scheduler.LambdaLR
    sched_D: torch.optim.lr_scheduler.LambdaLR
    pool_a: ImagePool
    pool_b: ImagePool
    ema: EMA | None
    epochs: int
    decay_epochs: int
    budget: Budget | None = None
    blur: tuple[float, int] = (0.0, 0)  # the projected inputs' blur: sigma at 0, fade steps
    step: int = 0
    epoch: int = 0
    batch: int = 0
    spent_s: float = 0.0  # training seconds so far, all sessions (schedule.Budget)

    @classmethod
    def create(cls, cfg: TrainConfig, model_cfg: ModelConfig, fused: bool, device: torch.device,
               rank: int = 0) -> TrainState:
        """Fresh networks with the paper's init; identical on every rank for one seed."""
        seed_everything(cfg.seed)
        G = Generators(build_generator(model_cfg, fused), build_generator(model_cfg, fused))
        kinds = cfg.discriminators
        D = Discriminators({k: KINDS[k].build(model_cfg, cfg, "A") for k in kinds},
                           {k: KINDS[k].build(model_cfg, cfg, "B") for k in kinds})
        init_weights(G)
        for kind in kinds:
            if KINDS[kind].paper_init:
                init_weights(D.a[kind])
                init_weights(D.b[kind])
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        G.to(device, memory_format=fmt)
        D.to(device, memory_format=fmt)
        opt_G = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        opt_D = torch.optim.Adam(D.trainable, lr=cfg.lr, betas=(cfg.beta1, 0.999))
        ema = EMA({"G_A2B": G.a2b, "G_B2A": G.b2a}, cfg.ema) if cfg.ema > 0 else None
        state = cls(G, D, opt_G, opt_D, None, None,
                    ImagePool(cfg.pool_size, seed=cfg.seed * 1000 + 2 * rank),
                    ImagePool(cfg.pool_size, seed=cfg.seed * 1000 + 2 * rank + 1),
                    ema, cfg.epochs, cfg.decay_epochs, Budget.from_config(cfg),
                    (cfg.projected_blur, cfg.projected_blur_steps))
        # A plain function (not a bound method), so LambdaLR keeps it out of its state_dict.
        schedule = lambda e: state.lr_factor(e)  # noqa: E731
        state.sched_G = torch.optim.lr_scheduler.LambdaLR(opt_G, schedule)
        state.sched_D = torch.optim.lr_scheduler.LambdaLR(opt_D, schedule)
        seed_everything(cfg.seed + rank)
        return state

    def lr_factor(self, epoch: int) -> float:
        if self.budget is not None:
            return self.budget.lr_factor(self.step, self.spent_s)
        return lr_factor(epoch, self.epochs, self.decay_epochs)

    def apply_lr(self) -> None:
        """Set every optimizer's rate from the schedule (after a step under a budget, and
        on resume, since the schedule's flags may change then)."""
        factor = self.lr_factor(self.sched_G.last_epoch)
        for group in (*self.opt_G.param_groups, *self.opt_D.param_groups):
            group["lr"] = group["initial_lr"] * factor

    @property
    def finished(self) -> bool:
        """The budget is spent, or (without one) every epoch has run."""
        if self.budget is not None:
            return self.budget.spent(self.step, self.spent_s)
        return self.epoch >= self.epochs + self.decay_epochs

    def before_step(self) -> None:
        """Per-step settings: a steps budget's learning rate, the projected inputs' blur.
        (A minutes budget's rate follows the clock, between steps: loop._stop_or_save.)"""
        from cyclegan.projected import ProjectedDiscriminator, blur_sigma

        if self.budget is not None and not self.budget.timed:
            self.apply_lr()
        sigma = blur_sigma(self.step, *self.blur)
        for net in (*self.D.a.values(), *self.D.b.values()):
            if isinstance(net, ProjectedDiscriminator):
                net.blur_sigma = sigma

    @property
    def lr(self) -> float:
        return self.opt_G.param_groups[0]["lr"]

    @property
    def generators(self) -> dict:
        """The generators that samples, evaluation and export use: the averaged ones when
        the run keeps an average, else the raw ones."""
        if self.ema is not None:
            return self.ema.modules
        return {"G_A2B": self.G.a2b, "G_B2A": self.G.b2a}

    def networks(self) -> dict:
        """Every trained network by its checkpoint key."""
        nets = {"G_A2B": self.G.a2b, "G_B2A": self.G.b2a}
        for kind in self.D.kinds:
            key_a, key_b = KINDS[kind].keys
            nets[key_a], nets[key_b] = self.D.a[kind], self.D.b[kind]
        return nets

    def end_epoch(self) -> None:
        """Decay the learning rate and move the counters to the next epoch."""
        self.sched_G.step()
        self.sched_D.step()
        self.epoch, self.batch = self.epoch + 1, 0

    def state_dict(self) -> dict:
        averaged = {} if self.ema is None else {
            ema_key(k): v for k, v in self.ema.state_dict().items()}
        return {
            **{k: net.state_dict() for k, net in self.networks().items()}, **averaged,
            "optim_G": self.opt_G.state_dict(), "optim_D": self.opt_D.state_dict(),
            "sched_G": self.sched_G.state_dict(), "sched_D": self.sched_D.state_dict(),
            "step": self.step, "epoch": self.epoch, "batch": self.batch,
            "spent_s": self.spent_s,
            "pools": {"A": self.pool_a.state_dict(), "B": self.pool_b.state_dict()},
            "rng": get_rng_state(),
        }

    def load_state_dict(self, state: dict, device: torch.device, restore_rng: bool = True) -> None:
        """Restore a checkpoint's training state; TrainError names what is missing or wrong."""
        networks = self.networks()
        missing = [k for k in (*networks, *KEYS) if k not in state]
        if missing:
            raise TrainError(f"the checkpoint cannot resume training: it has no "
                             f"{', '.join(dict.fromkeys(missing))}")
        targets = {**networks, "optim_G": self.opt_G, "optim_D": self.opt_D,
                   "sched_G": self.sched_G, "sched_D": self.sched_D}
        if self.ema is not None:
            # A run saved without an average starts one at its current weights.
            targets.update({ema_key(k): m for k, m in self.ema.modules.items()
                            if ema_key(k) in state})
        for key, target in targets.items():
            try:
                target.load_state_dict(state[key])
            except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
                reason = first_line(exc)
                raise TrainError(f"the checkpoint's {key} does not fit this run: {reason}") from exc
        if self.ema is not None and not all(ema_key(k) in state for k in self.ema.modules):
            self.ema.reset()
        try:
            self.pool_a.load_state_dict(state["pools"]["A"], device)
            self.pool_b.load_state_dict(state["pools"]["B"], device)
            self.step, self.epoch, self.batch = (int(state[k]) for k in COUNTERS)
            # Checkpoints from before the budgets count no training time.
            self.spent_s = float(state.get("spent_s", 0.0))
            if restore_rng:
                set_rng_state(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise TrainError(f"the checkpoint's training state is damaged ({type(exc).__name__}:"
                             f" {exc})") from exc
        # Recomputed, since the schedule's flags may change on resume.
        self.apply_lr()
