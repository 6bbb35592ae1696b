"""cyclegan.infer.temporal: the colour grid smoothed over time, reset at scene cuts."""

import numpy as np
import pytest

from cyclegan.infer import guided
from cyclegan.infer.temporal import (
    CUT,
    GridSmoother,
    colour_histogram,
    frame_change,
    histogram_distance,
)

from conftest import colour_field


def _scene(seed: int, h: int = 48, w: int = 160) -> np.ndarray:
    return colour_field(seed, h, w, amplitude=120)


def _grid(value: float) -> guided.ColourGrid:
    return guided.ColourGrid(np.full((3, 4, 8, guided.VEC), value, np.float32))


def test_histogram_distance_small_for_a_pan_large_for_a_cut():
    a, b = _scene(1), _scene(2)
    pan = [a[:, i:i + 64] for i in (0, 4)]
    assert histogram_distance(*map(colour_histogram, pan)) < CUT / 2
    assert histogram_distance(colour_histogram(a[:, :64]), colour_histogram(b[:, :64])) > CUT
    # Against an independent count: two pixels in the first and last bins.
    two = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)
    h = colour_histogram(two)
    assert h[0] == h[-1] == 0.5 and h.sum() == 1.0


def test_running_grid_is_the_moving_average_by_hand():
    s = GridSmoother(keep=0.75)
    frame = _scene(1)
    assert np.allclose(s(_grid(4.0), frame).coef, 4.0)  # the first frame: its own grid
    assert np.allclose(s(_grid(0.0), frame).coef, 3.0)  # 0.75 * 4 + 0.25 * 0
    assert np.allclose(s(_grid(1.0), frame).coef, 0.75 * 3.0 + 0.25)
    assert s.cuts == 0


def test_keep_zero_is_per_frame_and_bad_keep_is_refused():
    s = GridSmoother(keep=0.0)
    frame = _scene(1)
    s(_grid(4.0), frame)
    assert np.allclose(s(_grid(1.0), frame).coef, 1.0)
    with pytest.raises(ValueError, match="keep"):
        GridSmoother(keep=1.0)


def _after_cut(smoother: GridSmoother) -> np.ndarray:
    for _ in range(5):
        smoother(_grid(10.0), _scene(1))
    return smoother(_grid(-10.0), _scene(2)).coef


def _assert_resets(smoother: GridSmoother) -> None:
    assert np.allclose(_after_cut(smoother), -10.0), "the old shot's models leaked past the cut"
    assert smoother.cuts == 1


def test_a_cut_starts_a_new_running_grid():
    _assert_resets(GridSmoother())


def test_planted_no_reset_fails_the_cut_check():
    with pytest.raises(AssertionError, match="leaked"):
        _assert_resets(GridSmoother(cut=2.0))  # a distance never exceeds 1: never resets


def test_a_new_grid_shape_restarts_without_counting_a_cut():
    s = GridSmoother()
    s(_grid(1.0), _scene(1))
    other = guided.ColourGrid(np.full((5, 4, 8, guided.VEC), 7.0, np.float32))
    assert np.allclose(s(other, _scene(1)).coef, 7.0) and s.cuts == 0


def test_frame_change_in_grey_levels():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 255  # one pixel of four, all three channels
    assert frame_change(a, b) == pytest.approx(255 / 4)
    assert frame_change(b, a) == frame_change(a, b)
