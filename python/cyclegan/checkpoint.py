"""Self-describing checkpoints: model config + weights (+ training state), saved atomically.

Loading uses torch.load(weights_only=True), so a checkpoint holds only tensors and plain
Python containers (no pickled objects; RNG states are stored as lists and tensors).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from cyclegan import __version__
from cyclegan.contract import DIRECTIONS
from cyclegan.errors import CycleganError
from cyclegan.fileio import atomic_writer
from cyclegan.models import ModelConfig, build_generator
from cyclegan.train.rundir import latest_checkpoint

FORMAT = "cyclegan-checkpoint"


class CheckpointError(CycleganError):
    """A file that is missing, unreadable, or not one of our checkpoints."""


def new_checkpoint(model_config: ModelConfig, domains: dict | None = None) -> dict:
    """The fields every checkpoint carries; callers add G_A2B / G_B2A and the rest."""
    return {
        "format": FORMAT,
        "version": __version__,
        "model_config": model_config.to_dict(),
        "domains": dict(domains or {"A": "A", "B": "B"}),
    }


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """torch.save to a temp file in the same folder, fsync, then rename over `path`."""
    with atomic_writer(path) as f:
        torch.save(state, f)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a training run folder (its checkpoints/latest.pt)."""
    path = Path(path)
    if path.is_dir():
        latest = latest_checkpoint(path)
        if not latest.is_file():
            raise CheckpointError(f"{path} is a folder without {latest.relative_to(path)} "
                                  "(not a training run folder)")
        return latest
    if not path.is_file():
        raise CheckpointError(f"{path}: no such run folder or checkpoint file")
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file "
                              f"(for a run directory use {latest_checkpoint(Path('RUN'))})")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path} is not a readable cyclegan checkpoint "
                              f"({type(exc).__name__}: {reason})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        hint = ""
        if isinstance(state, dict) and any(k.startswith("model.") for k in state):
            hint = " (it looks like an official CycleGAN state_dict: run cyclegan-convert first)"
        raise CheckpointError(f"{path} is not a cyclegan checkpoint{hint}")
    for key in ("model_config", "domains"):
        if key not in state:
            raise CheckpointError(f"{path} is a damaged cyclegan checkpoint: no {key!r}")
    return state


def load_generator(path: str | os.PathLike, direction: str = "A2B", fused: bool = False,
                   device="cpu") -> tuple[torch.nn.Module, dict]:
    """The generator for `direction` in eval mode, plus metadata about it."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    state = load_checkpoint(path)
    key = f"G_{direction}"
    if key not in state:
        have = [d for d in DIRECTIONS if f"G_{d}" in state]
        raise CheckpointError(f"{path} has no {direction} generator (it holds: "
                              f"{', '.join(have) or 'none'})")
    cfg = ModelConfig.from_dict(state["model_config"])
    model = build_generator(cfg, fused=fused)
    try:
        model.load_state_dict(state[key])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: {key} weights do not match its model config: "
                              f"{exc}") from exc
    model.to(device).eval()
    meta = {
        "config": cfg.to_dict(),
        "version": state.get("version"),
        "domains": state["domains"],
        "direction": direction,
        "step": state.get("step", 0),
        "epoch": state.get("epoch", 0),
    }
    return model, meta
