"""The working scale a generator learns: the short side of its training frames before
cropping. Folder images are resized to --load-size; the built-in landscapes are rendered
at --image-size.

Torch-free and below `checkpoint`, so the training config (a new run's scale) and
checkpoint loading (the scale of a checkpoint written before model configs recorded it)
read one rule without checkpoint importing the training package.
"""

from __future__ import annotations


def trained_work_size(data: str, image_size: int, load_size: int) -> int:
    """The working scale of a run on `data` at these sizes."""
    return image_size if str(data).startswith("builtin:") else load_size


def recorded_work_size(train_config: dict) -> int | None:
    """The working scale a checkpoint's training flags give; None when they cannot say
    (converted weights record none; a damaged config falls back the same way)."""
    data = train_config.get("data")
    sizes = [train_config.get(k) for k in ("image_size", "load_size")]
    if not isinstance(data, str) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        return None
    return trained_work_size(data, *sizes)
