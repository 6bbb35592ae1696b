"""Temporal stability for video: the guided step's colour grid smoothed over time.

Translated frame by frame, a clip flickers: every frame gets its own network output, and
so its own colour change. The guided step (cyclegan.infer.guided) carries that change to
full size as a grid of local colour models, a few thousand numbers per frame; blending each
frame's grid with the running grid of the frames before it (an exponential moving average)
removes the flicker without optical flow, the blind temporal consistency of Lai et al.
(ECCV 2018) and Bonneel et al. (SIGGRAPH Asia 2015) at the cost of a few array additions.
The models live in colour space (the grid's third axis is luminance), so a camera pan
moves the picture under them without smearing it: each pixel is still mapped by its own
colour's model, only that model changes slowly.

Where the scene cuts, the previous shot's models are wrong for the new one: a frame whose
colour histogram differs from the previous frame's by more than CUT (half the L1 distance
of the two normalized histograms, 0..1) starts a new running grid.
"""

from __future__ import annotations

import numpy as np

from cyclegan.infer.guided import ColourGrid

# How much of the running grid each frame keeps (0: per-frame translation): about
# 1 / (1 - KEEP) = 5 frames of memory, a fifth of a second at 25 fps. On the render clip of
# benchmarks/bench_video.py (24 frames per shot, before the encoder), 0.9 took the flicker
# ratio from 0.58 to 0.50 while moving the output 1.7x as far from per-frame translation
# (4.6 grey levels against 2.8) and lagging colour changes twice as long.
DEFAULT_KEEP = 0.8
# Histogram distance above which two consecutive frames are a cut. Measured at the working
# scale (benchmarks/bench_video.py --parts cuts, 50 summer2winter test photos): consecutive
# frames of a slow pan and zoom at most 0.03; the first frames of two different photos at
# least 0.16, and 1.1% of the 1,225 pairs at or below 0.25, a cut between two very alike
# shots, whose colour models are alike too. The margin above pans is for faster motion.
CUT = 0.25
BINS = 4  # per channel: a 4 x 4 x 4 colour histogram, coarse enough to ignore motion


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """The normalized BINS^3 colour histogram of ... x 3 uint8 pixels."""
    q = rgb.reshape(-1, 3).astype(np.int64) // (256 // BINS)
    index = (q[:, 0] * BINS + q[:, 1]) * BINS + q[:, 2]
    counts = np.bincount(index, minlength=BINS**3).astype(np.float64)
    return counts / max(1.0, counts.sum())


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two normalized histograms: 0 equal, 1 disjoint."""
    return 0.5 * float(np.abs(a - b).sum())


class GridSmoother:
    """Feed each frame's grid in order; get the grid to apply. Not thread-safe: one per clip.

    keep: the share of the running grid each frame keeps (0 turns smoothing off);
    cut: the histogram distance (of the frames the grids were fitted on) that resets it.
    """

    def __init__(self, keep: float = DEFAULT_KEEP, cut: float = CUT):
        if not 0.0 <= keep < 1.0:
            raise ValueError(f"keep must be in [0, 1), got {keep}")
        self.keep, self.cut = keep, cut
        self.cuts = 0  # resets after the first frame: the scene cuts found so far
        self._coef: np.ndarray | None = None
        self._hist: np.ndarray | None = None

    def __call__(self, grid: ColourGrid, small: np.ndarray) -> ColourGrid:
        """The grid for this frame. grid: fitted on `small` (the frame at the working
        scale, h x w x 3 uint8)."""
        hist = colour_histogram(small)
        fresh = self._coef is None or self._coef.shape != grid.coef.shape
        if not fresh and histogram_distance(self._hist, hist) > self.cut:
            fresh = True
            self.cuts += 1
        self._hist = hist
        if fresh or not self.keep:
            self._coef = np.array(grid.coef, np.float32)
        else:
            self._coef *= self.keep
            self._coef += (1.0 - self.keep) * grid.coef
        return ColourGrid(self._coef.copy())


def frame_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two equal-shape uint8 frames, in grey levels: the
    frame-to-frame change that flicker adds to (benchmarks and tests compare an output's
    against its input's own)."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
