"""cyclegan.infer.guided.splat, the fit's per-vertex statistics, against an independent
float64 reference: every pixel's statistics added into each of its 8 vertices one by one
(np.add.at), in the grid's own definition of the tents (as tests/test_guided.py's oracle)."""

import numpy as np
import pytest

from cyclegan.infer import guided

RNG = np.random.default_rng(5)


def reference(small: np.ndarray, out: np.ndarray) -> np.ndarray:
    h, w, _ = small.shape
    ny, nx, nz = guided.grid_shape(h, w)
    x = small.reshape(-1, 3).astype(np.float64) / 255
    y = out.reshape(-1, 3).astype(np.float64)
    stats = np.concatenate([np.ones((h * w, 1)), x, np.einsum("pi,pj->pij", x, x).reshape(-1, 9),
                            y, np.einsum("pi,pj->pij", x, y).reshape(-1, 9)], 1)
    rgb = small.reshape(-1, 3).astype(np.int64)
    lum = (77 * rgb[:, 0] + 150 * rgb[:, 1] + 29 * rgb[:, 2] + 128) // 256
    rows, cols = np.divmod(np.arange(h * w), w)
    pos = [(rows + 0.5) / h * (ny - 1), (cols + 0.5) / w * (nx - 1), lum / 255 * (nz - 1)]
    ref = np.zeros((ny, nx, nz, stats.shape[1]))
    for corner in np.ndindex(2, 2, 2):
        vertex, tent = [], np.ones(h * w)
        for p, n, d in zip(pos, (ny, nx, nz), corner):
            low = np.minimum(np.floor(p), n - 2).astype(np.int64)  # the last cell is closed
            vertex.append(low + d)
            tent = tent * (p - low if d else 1 - (p - low))
        np.add.at(ref, tuple(vertex), tent[:, None] * stats)
    return ref


@pytest.mark.parametrize("h, w", [(37, 53), (8, 300), (128, 228), (9, 9)])
def test_splat_matches_pixel_by_pixel_sums(h, w):
    small = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = RNG.random((h, w, 3)).astype(np.float32)
    got = guided.splat(small, out)
    assert got.shape == (*guided.grid_shape(h, w), guided.STATS)
    np.testing.assert_allclose(got, reference(small, out), rtol=1e-12, atol=1e-12)


def test_every_pixel_is_counted_once():
    # The tents of each pixel sum to one, so the weight statistic totals the pixel count
    # and the y statistics total the output's sums.
    small = RNG.integers(0, 256, (40, 70, 3), dtype=np.uint8)
    out = RNG.random((40, 70, 3))
    sums = guided.splat(small, out).reshape(-1, guided.STATS).sum(0)
    assert sums[0] == pytest.approx(40 * 70, rel=1e-12)
    np.testing.assert_allclose(sums[13:16], out.reshape(-1, 3).sum(0), rtol=1e-12)
