"""The full-resolution step: the generator's output at the working scale, at the photo's size.

A photo the generator ran on at its own size needs nothing (its output is cropped back from
the padding). A photo translated at a smaller working scale (cyclegan.infer.scale) is
finished one of two ways (--detail):

    guided   the change the generator made is fitted as local colour models and applied to
             the full-size photo (cyclegan.infer.guided): the photo's own edges and texture,
             the generator's colours. The default.
    resize   the generator's output itself, enlarged (bicubic): what the generator drew,
             soft and with its small-scale artifacts magnified.

docs/inference.md compares them on pictures. finish is the last of the per-image steps
that every engine runs (the threaded pipeline, cyclegan.Translator and through it
cyclegan-eval): decode -> prepare (io.py) -> model -> finish (here) -> write.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from cyclegan.infer import guided
from cyclegan.infer.io import Decoded, from_model_output

DETAILS = ("guided", "resize")
DEFAULT_DETAIL = "guided"


def finish(item: Decoded, y: np.ndarray, detail: str = DEFAULT_DETAIL,
           threads: int = 0) -> np.ndarray:
    """The output pixels (H x W x 3 uint8, the photo's size) from the model's output y
    (3 x h' x w' in [-1, 1], padded). threads: for the guided step (0: the compiled
    module's pool, 1: this thread only, for callers that run many photos at once)."""
    if item.photo is None:
        return from_model_output(y, item.height, item.width)
    h, w = item.small.shape[:2]
    if detail == "resize":
        out = Image.fromarray(from_model_output(y, h, w))
        return np.asarray(out.resize((item.width, item.height), Image.Resampling.BICUBIC))
    if detail != "guided":
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, got {detail!r}")
    return guided.apply(colour_grid(item, y), item.photo, threads=threads)


def colour_grid(item: Decoded, y: np.ndarray) -> guided.ColourGrid:
    """The guided step's fit: the grid of colour models mapping what the generator saw
    (item.small) to what it returned (y, padded). Video smooths it over time
    (cyclegan.infer.temporal) before applying it."""
    h, w = item.small.shape[:2]
    out = np.clip((y[:, :h, :w].transpose(1, 2, 0) + 1.0) * 0.5, 0.0, 1.0)
    return guided.fit(item.small, out)
