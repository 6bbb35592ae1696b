"""cyclegan.infer.guided: the fit at the working scale and the compiled full-resolution step,
against an independent float64 implementation of the grid's definition."""

import numpy as np
import pytest

from cyclegan.infer import guided

RNG = np.random.default_rng(11)


def oracle(coef: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """The definition in csrc/guided_upsample.h, in float64, pixel by pixel position: each
    pixel's model is the sum over the 8 grid vertices around it of its tent weight."""
    ny, nx, nz = coef.shape[:3]
    h, w = photo.shape[:2]
    rgb = photo.astype(np.float64)
    lum = (77 * rgb[..., 0] + 150 * rgb[..., 1] + 29 * rgb[..., 2] + 128) // 256
    pos = [((np.arange(h) + 0.5) / h * (ny - 1))[:, None] * np.ones((1, w)),
           ((np.arange(w) + 0.5) / w * (nx - 1))[None, :] * np.ones((h, 1)),
           lum / 255 * (nz - 1)]
    model = np.zeros((h, w, 16))
    for vy in range(ny):
        for vx in range(nx):
            for vz in range(nz):
                tent = 1.0
                for p, v, n in zip(pos, (vy, vx, vz), (ny, nx, nz)):
                    # The vertices below and above a position; the last cell is closed.
                    low = np.minimum(np.floor(p), n - 2)
                    t = p - low
                    tent = tent * np.where(low == v, 1 - t, np.where(low + 1 == v, t, 0.0))
                model += tent[..., None] * coef[vy, vx, vz].astype(np.float64)
    m = model[..., :12].reshape(h, w, 3, 4)
    out = np.einsum("hwcj,hwj->hwc", m[..., :3], rgb) + m[..., 3]
    return np.clip(np.floor(np.clip(out, 0, 255) + 0.5), 0, 255).astype(np.uint8)


def random_grid(ny, nx, nz):
    coef = np.zeros((ny, nx, nz, 16), np.float32)
    a = np.eye(3) + RNG.normal(0, 0.3, (ny, nx, nz, 3, 3))
    coef[..., :12] = np.concatenate([a, RNG.normal(0, 40, (ny, nx, nz, 3, 1))], -1).reshape(
        ny, nx, nz, 12)
    return guided.ColourGrid(coef)


def photo(h, w):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("h, w, grid", [(37, 53, (4, 6, 3)), (8, 300, (2, 9, 8)),
                                        (61, 5, (9, 2, 2))])
def test_kernel_matches_the_float64_definition(h, w, grid):
    g, img = random_grid(*grid), photo(h, w)
    got, want = guided.apply(g, img).astype(int), oracle(g.coef, img).astype(int)
    # float32 against float64: a value within rounding error of .5 may round either way.
    assert np.abs(got - want).max() <= 1
    assert (got == want).mean() > 0.999


@pytest.mark.parametrize("threads", [0, 1])
def test_bands_and_the_whole_image_agree_exactly(threads):
    g, img = random_grid(5, 7, 8), photo(97, 131)
    whole = guided.apply(g, img, threads=threads)
    banded = np.zeros_like(img)
    cuts = [0, 1, 2, 17, 50, 51, 96, 97]
    for begin, end in zip(cuts, cuts[1:]):
        guided.apply(g, img, out=banded, rows=(begin, end), threads=threads)
    assert np.array_equal(banded, whole)
    assert np.array_equal(guided.apply(g, img, threads=1 - threads), whole)


def test_rows_outside_the_band_are_not_touched():
    g, img = random_grid(3, 3, 2), photo(20, 10)
    out = np.full_like(img, 7)
    guided.apply(g, img, out=out, rows=(5, 9))
    assert (out[:5] == 7).all() and (out[9:] == 7).all() and not (out[5:9] == 7).all()


def test_bad_arguments_are_refused_before_the_kernel():
    g, img = random_grid(3, 3, 2), photo(20, 10)
    with pytest.raises(ValueError, match="rows"):
        guided.apply(g, img, rows=(5, 21))
    with pytest.raises(ValueError, match="uint8"):
        guided.apply(g, img.astype(np.float32))
    with pytest.raises(ValueError, match="packed"):
        guided.apply(g, img[:, ::2])
    with pytest.raises(ValueError, match="grid"):
        guided.apply(guided.ColourGrid(g.coef[:1]), img)


def test_a_global_colour_transform_is_reproduced_at_full_resolution():
    """What the grid can represent, it learns: an affine colour change fitted on a small
    image is the same change on the large one."""
    a = np.array([[0.6, 0.2, 0.1], [0.1, 0.7, 0.1], [0.0, 0.3, 0.9]])
    b = np.array([0.05, 0.02, 0.1])
    big = smooth_photo(300, 420)
    small = big[::5, ::5].copy()
    fitted = guided.fit(small, small / 255.0 @ a.T + b)
    got = guided.apply(fitted, big).astype(int)
    want = np.clip(np.floor((big / 255.0 @ a.T + b) * 255 + 0.5), 0, 255)
    assert np.abs(got - want).max() <= 2


def edge_case():
    """A textured dark half and a textured bright half; the 'generator' paints the dark
    half flat red and leaves the bright half as it is. No single affine colour model fits
    both sides, so a window across the edge that mixes them (the guided filter's) blends
    the two changes into a halo along the edge."""
    h, w = 240, 320
    tex = RNG.integers(0, 50, (h, w, 1))
    left = np.arange(w)[None, :, None] < w // 2
    big = np.where(left, 20 + tex, 190 + tex).repeat(3, -1).astype(np.uint8)
    small = big[2::4, 2::4].copy()
    out = np.where(small.mean(-1, keepdims=True) < 128, [0.8, 0.1, 0.1], small / 255.0)
    want = np.where(left, np.array([204, 26, 26]), big)
    return big, small, out, want


def test_a_strong_edge_gets_no_halo():
    big, small, out, want = edge_case()
    err = np.abs(guided.apply(guided.fit(small, out), big).astype(int) - want)
    assert err.max() <= 8  # everywhere, the columns at the edge included


def test_without_luminance_vertices_the_same_edge_has_a_halo(monkeypatch):
    """The test above can fail: with 2 luminance vertices (a model linear in luminance,
    nearly the plain local colour model) both sides share their models and the edge
    shows it."""
    monkeypatch.setattr(guided, "LUMA_VERTICES", 2)
    big, small, out, want = edge_case()
    err = np.abs(guided.apply(guided.fit(small, out), big).astype(int) - want).max(-1)
    assert err[:, 150:170].max() > 15 > err[:, :60].max()


def test_identity_is_the_photo_itself():
    big = smooth_photo(200, 260)
    small = big[::4, ::4].copy()
    got = guided.apply(guided.fit(small, small / 255.0), big)
    assert np.abs(got.astype(int) - big).max() <= 1


def smooth_photo(h, w):
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    base = np.stack([np.sin(6 * xx + 1), np.cos(5 * yy), np.sin(4 * (xx - yy))], -1)
    noise = RNG.normal(0, 5, (h, w, 3))
    return np.clip(127.5 + 110 * base + noise, 0, 255).astype(np.uint8)
