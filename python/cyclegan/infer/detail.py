"""The full-resolution step: the generator's output at the working scale, at the photo's size.

A photo the generator ran on at its own size needs nothing (its output is cropped back from
the padding). A photo translated at a smaller working scale (cyclegan.infer.scale) is
finished one of three ways (--detail):

    guided   the change the generator made is fitted as local colour models and applied to
             the full-size photo (cyclegan.infer.guided): the photo's own edges and texture,
             the generator's colours. The default.
    resize   the generator's output itself, enlarged (bicubic): what the generator drew,
             soft and with its small-scale artifacts magnified.
    texture  guided, plus what the colour models cannot carry: the generator's output less
             the grid applied to what it saw (snow, frost, any drawn texture), enlarged
             bilinearly and added. The photo's detail finer than the working scale stays
             sharp; the drawn change comes at the working scale's resolution.

docs/inference.md compares them on pictures. finish is the last of the per-image steps
that every engine runs (the threaded pipeline, cyclegan.Translator and through it
cyclegan-eval): decode -> prepare (io.py) -> model -> finish (here) -> write.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from cyclegan.infer import guided
from cyclegan.infer.io import Decoded, from_model_output

DETAILS = ("guided", "resize", "texture")
DEFAULT_DETAIL = "guided"
TEXTURE_ROWS = 256  # output rows per band of the texture step: bounds its float32 buffers


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
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, got {detail!r}")
    grid = colour_grid(item, y)
    out = guided.apply(grid, item.photo, threads=threads)
    if detail == "texture":
        drawn = from_model_output(y, h, w).astype(np.float32)
        add_enlarged(out, drawn - guided.apply(grid, item.small, threads=threads))
    return out


def colour_grid(item: Decoded, y: np.ndarray) -> guided.ColourGrid:
    """The guided step's fit: the grid of colour models mapping what the generator saw
    (item.small) to what it returned (y, padded). Video smooths it over time
    (cyclegan.infer.temporal) before applying it."""
    h, w = item.small.shape[:2]
    out = np.clip((y[:, :h, :w].transpose(1, 2, 0) + 1.0) * 0.5, 0.0, 1.0)
    return guided.fit(item.small, out)


def add_enlarged(out: np.ndarray, residual: np.ndarray) -> None:
    """out (H x W x 3 uint8) += residual (h x w x 3 float32, h <= H, w <= W) enlarged
    bilinearly to H x W (pixel centres aligned, edges clamped), rounded and clipped, in
    place, in bands of TEXTURE_ROWS rows: Pillow enlarges each band from its box of the
    residual (reading the rows around the box too, so bands join exactly), and the float
    buffers stay one band in size."""
    height, width = out.shape[:2]
    h, w = residual.shape[:2]
    channels = [Image.fromarray(np.ascontiguousarray(residual[:, :, c])) for c in range(3)]
    for begin in range(0, height, TEXTURE_ROWS):
        end = min(begin + TEXTURE_ROWS, height)
        box = (0, begin * h / height, w, end * h / height)
        band = out[begin:end].astype(np.float32)
        for c, channel in enumerate(channels):
            band[:, :, c] += np.asarray(channel.resize((width, end - begin),
                                                       Image.Resampling.BILINEAR, box=box))
        out[begin:end] = np.clip(np.rint(band), 0, 255)
