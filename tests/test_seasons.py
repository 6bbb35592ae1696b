import time

import numpy as np
import pytest
import torch

from cyclegan import seasons
from cyclegan.data import seasons_pairs


def _edges(batch):
    gray = batch.mean(1)
    dy = (gray[:, 1:, :-1] - gray[:, :-1, :-1]).abs()
    dx = (gray[:, :-1, 1:] - gray[:, :-1, :-1]).abs()
    return dx + dy


def _corr(a, b):
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float((a @ b) / (a.norm() * b.norm()))


def test_render_is_deterministic_and_seed_dependent():
    a = seasons.render(11, 48, "summer")
    assert a.dtype == np.float32 and a.shape == (48, 48, 3)
    assert a.min() >= 0 and a.max() <= 1
    assert np.array_equal(a, seasons.render(11, 48, "summer"))
    assert np.abs(a - seasons.render(12, 48, "summer")).mean() > 0.03
    s, w = seasons.render_pair(11, 48)
    assert np.array_equal(s, a) and np.array_equal(w, seasons.render(11, 48, "winter"))


def test_pair_shares_structure():
    # Each summer scene's edge map matches its own winter render better than any other's.
    summer, winter = seasons_pairs(8, 64, seed=100)
    es, ew = _edges(summer), _edges(winter)
    corr = torch.tensor([[_corr(es[i], ew[j]) for j in range(8)] for i in range(8)])
    paired = corr.diag()
    others = corr.masked_fill(torch.eye(8, dtype=torch.bool), -1.0).max(dim=1).values
    assert (paired > others + 0.05).all(), corr
    assert paired.mean() > 0.4


def test_winter_is_brighter_and_less_green():
    summer, winter = seasons_pairs(6, 48, seed=300)

    def green(x):
        return (x[:, 1] - (x[:, 0] + x[:, 2]) / 2).mean(dim=(1, 2))

    assert (winter.mean(dim=(1, 2, 3)) > summer.mean(dim=(1, 2, 3)) + 0.1).all()
    assert (green(summer) > green(winter) + 0.05).all()
    assert (summer - winter).abs().mean() > 0.3


def test_same_scene_at_any_size():
    big = torch.from_numpy(seasons.render(7, 64, "winter")).permute(2, 0, 1)[None]
    small = torch.from_numpy(seasons.render(7, 32, "winter")).permute(2, 0, 1)[None]
    other = torch.from_numpy(seasons.render(8, 32, "winter")).permute(2, 0, 1)[None]
    down = torch.nn.functional.avg_pool2d(big, 2)
    assert (down - small).abs().mean() < 0.05
    assert (down - small).abs().mean() < 0.5 * (down - other).abs().mean()


def test_render_is_fast():
    seasons.render(0, 64, "summer")
    start = time.perf_counter()
    for seed in range(5):
        seasons.render(seed, 64, "winter")
    # A few ms each when the machine is idle; the bound leaves room for a busy CI runner.
    assert (time.perf_counter() - start) / 5 < 0.1


@pytest.mark.parametrize(
    "seed,size,season,match",
    [(-1, 32, "summer", "seed"), (1.5, 32, "summer", "seed"), (True, 32, "summer", "seed"),
     (0, 2, "summer", "size"), (0, "64", "summer", "size"), (0, 32, "autumn", "season")],
)
def test_bad_arguments(seed, size, season, match):
    with pytest.raises(ValueError, match=match):
        seasons.render(seed, size, season)
