"""Where things are in a training run folder; torch-free, shared by training, checkpoint
loading, evaluation, sweeps and the command line.

    RUN/config.json              the run's flags, model config and domains
    RUN/log.jsonl                one JSON record per logged step (losses, lr, speed)
    RUN/health.jsonl             one JSON record per sample grid (copy/inversion/collapse)
    RUN/samples/epoch_XXXX.png   sample grids
    RUN/checkpoints/latest.pt    what --resume continues from (also written by the clock)
    RUN/checkpoints/epoch_XXXX.pt  kept every --save-every epochs
"""

from __future__ import annotations

from pathlib import Path

CONFIG = "config.json"
LOG = "log.jsonl"
HEALTH = "health.jsonl"
LATEST = "latest.pt"


def config_path(run: Path) -> Path:
    return Path(run) / CONFIG


def log_path(run: Path) -> Path:
    return Path(run) / LOG


def health_path(run: Path) -> Path:
    return Path(run) / HEALTH


def latest_checkpoint(run: Path) -> Path:
    return Path(run) / "checkpoints" / LATEST


def epoch_checkpoint(run: Path, epoch: int) -> Path:
    return Path(run) / "checkpoints" / f"epoch_{epoch:04d}.pt"


def sample_path(run: Path, epoch: int) -> Path:
    return Path(run) / "samples" / f"epoch_{epoch:04d}.png"
