"""Optional TensorBoard logging of a run (pip install "cyclegan[tensorboard]")."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cyclegan.errors import TrainError

INSTALL_HINT = 'pip install "cyclegan[tensorboard]" (or: pip install tensorboard)'


def open_writer(run: Path, step: int):
    """A SummaryWriter on RUN/tensorboard that appends to earlier sessions of the run.

    purge_step drops the events a killed session wrote after its last checkpoint (at `step`),
    so a resumed run's curves have one value per step.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise TrainError(f"--tensorboard needs the tensorboard package ({exc}); "
                         f"install it with {INSTALL_HINT}") from exc
    return SummaryWriter(log_dir=str(run / "tensorboard"), purge_step=step + 1 if step else None)


def log_record(writer, record: dict) -> None:
    """Every loss, the learning rate and images/s of one log.jsonl record."""
    step = record["step"]
    for key, value in record.items():
        if key.startswith("loss_"):
            writer.add_scalar(f"loss/{key[5:]}", value, step)
    writer.add_scalar("lr", record["lr"], step)
    writer.add_scalar("images_per_s", record["images_per_s"], step)


def log_health(writer, record: dict, kinds: tuple[str, ...]) -> None:
    """The numbers of a health record (train/health.py), per direction, and for each kind
    of failure 1 when found, else 0, so a curve shows when it began."""
    step = record["step"]
    for direction, m in record["health"].items():
        for key, value in m.items():
            if isinstance(value, float):
                writer.add_scalar(f"health/{direction}/{key}", value, step)
        for name in kinds:
            writer.add_scalar(f"health/{direction}/{name}", float(name in m["failures"]), step)


def log_samples(writer, grid, step: int) -> None:
    """The sample grid (a PIL image) as an HWC uint8 image."""
    writer.add_image("samples", np.asarray(grid.convert("RGB")), step, dataformats="HWC")
    writer.flush()
