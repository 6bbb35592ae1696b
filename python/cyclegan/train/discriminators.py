"""The discriminator kinds a run can train, in one table: how each is built, where a
checkpoint keeps its pair, and the names of its loss terms.

Torch-free, so `train.config` offers the kinds in `--discriminator`'s choices without
importing torch; a builder imports what it builds when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    # (model config, train config, domain "A" or "B") -> the network, in PyTorch's init.
    build: Callable
    # Checkpoint keys of the (domain A, domain B) pair.
    keys: tuple[str, str]
    # Adversarial loss terms: the generators' (A2B, B2A), then the discriminators' (A, B).
    losses: tuple[str, str, str, str]
    # Whether train.state re-initialises it with the paper's N(0, 0.02) weights.
    paper_init: bool


def _patch(model_cfg, cfg, domain: str):
    from cyclegan.models import PatchDiscriminator

    return PatchDiscriminator(model_cfg)


def _projected(model_cfg, cfg, domain: str):
    from cyclegan.projected import ProjectedDiscriminator

    # Each domain's random feature mixing is its own, fixed by the run's seed.
    return ProjectedDiscriminator(cfg.image_size, seed=cfg.seed * 2 + (domain == "B"),
                                  input_size=cfg.projected_size)


KINDS = {
    # The paper's 70x70 PatchGAN; it keeps the loss and checkpoint names of the original.
    "patch": Kind(_patch, ("D_A", "D_B"), ("G_A2B", "G_B2A", "D_A", "D_B"), paper_init=True),
    # Heads on frozen EfficientNet-Lite0 features (cyclegan.projected); the heads keep
    # PyTorch's init, as in the paper.
    "projected": Kind(_projected, ("Dproj_A", "Dproj_B"),
                      ("Gproj_A2B", "Gproj_B2A", "Dproj_A", "Dproj_B"), paper_init=False),
}
BOTH = "both"
# --discriminator's choices: one kind, or every kind (their losses add up).
CHOICES = (*KINDS, BOTH)


def kinds_of(choice: str) -> tuple[str, ...]:
    """The kinds `--discriminator choice` trains, in recipe order."""
    return tuple(KINDS) if choice == BOTH else (choice,)
