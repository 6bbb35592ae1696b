"""The full-resolution step: the generator's output at the working scale, at the photo's size.

A photo the generator ran on at its own size needs nothing (its output is cropped back from
the padding). A photo translated at a smaller working scale (cyclegan.infer.scale) gets its
output resized to the photo's size (bicubic).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from cyclegan.infer.io import Decoded, from_model_output

DETAILS = ("resize",)
DEFAULT_DETAIL = "resize"


def finish(item: Decoded, y: np.ndarray, detail: str = DEFAULT_DETAIL) -> np.ndarray:
    """The output pixels (H x W x 3 uint8, the photo's size) from the model's output y
    (3 x h' x w' in [-1, 1], padded)."""
    if item.photo is None:
        return from_model_output(y, item.height, item.width)
    h, w = item.small.shape[:2]
    out = Image.fromarray(from_model_output(y, h, w))
    return np.asarray(out.resize((item.width, item.height), Image.Resampling.BICUBIC))
