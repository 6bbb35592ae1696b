"""Guided upsampling: the change a generator makes at its working scale, at full resolution.

The generator sees the photo downscaled (`small`) and returns `out`. We fit how colours
change, locally, as a bilateral grid of affine colour models (Chen, Adams, Wadhwa and
Hasinoff 2016, "Bilateral Guided Upsampling", in its fast form: local fits blurred in grid
space), and apply the grid to the full-size photo with the photo itself as the guide. The
photo's edges and texture stay as sharp as they are; the generator's own small-scale speckle
is not magnified.

Why a grid over luminance too, not only over x and y: a plain local colour model (the
guided filter, He, Sun and Tang 2010; its fast subsampled form, He and Sun 2015) fits one
affine model per window, and a window across a strong edge (a dark tree on bright grass)
mixes both sides' colour changes: a halo follows the edge at full resolution. With vertices
along luminance as well, pixels on the two sides of such an edge fall in different bins and
get their own models (docs/inference.md shows both).

The fit (here, numpy) took 38 ms on a 128 x 228 frame and 203 ms on 256 x 455 on two shared
cores (benchmarks/bench_guided_fit.py, docs/inference.md); the full-resolution apply runs in
the compiled core (csrc/cpu/guided_upsample.cpp, its layout documented in
csrc/guided_upsample.h), in rows, writing straight into the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Spatial cell of the grid in working-scale pixels, vertices along luminance, and the
# regularization of each affine fit (added to the colour covariance, colours in [0, 1]):
# chosen by the pictures and the downscale check in docs/inference.md.
CELL = 8
LUMA_VERTICES = 8
EPS = 1e-3
# Pseudo-counts (in pixels) pulling thinly covered vertices towards the model of their
# luminance over the whole image, and that towards the image's global affine model.
VERTEX_PRIOR = 4.0
LUMA_PRIOR = 256.0
LUMA_WEIGHTS = (77, 150, 29)  # integer BT.601 luma, / 256: the C++ kernel's guide
VEC = 16  # floats per vertex in the kernel's layout: 3 x 4 model, 4 zeros
STATS = 25  # per vertex: weight, sum x (3), x x^T (9), y (3), x y^T (9); _solve reads them


@dataclass(frozen=True)
class ColourGrid:
    """ny x nx x nz x 16 float32 in the kernel's layout (csrc/guided_upsample.h)."""

    coef: np.ndarray


def luma(rgb: np.ndarray) -> np.ndarray:
    """The guide: integer luma 0..255 of ... x 3 uint8 pixels, as the kernel computes it."""
    return (rgb.astype(np.int32) @ np.array(LUMA_WEIGHTS, np.int32) + 128) >> 8


def grid_shape(height: int, width: int) -> tuple[int, int, int]:
    """Vertices (ny, nx, nz) of the grid fitted on a height x width image."""
    return -(-height // CELL) + 1, -(-width // CELL) + 1, LUMA_VERTICES


def _axis(count: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex below and weight of the one above for positions (i + 0.5) / count * (n - 1)."""
    g = (np.arange(count) + 0.5) / count * (n - 1)
    i = np.minimum(g.astype(np.int64), n - 2)
    return i, g - i


def fit(small: np.ndarray, out: np.ndarray) -> ColourGrid:
    """The grid mapping `small` (h x w x 3 uint8, what the generator saw) to `out`
    (h x w x 3 float in [0, 1], what it returned)."""
    sums = splat(small, out)
    nz = sums.shape[2]
    for axis in range(3):  # smoothness: one [1 2 1] / 4 pass along each grid axis
        sums = _blur(sums, axis)
    # Each vertex leans on the model of its luminance over the whole image, which leans
    # on the global one, in proportion to how few pixels it saw.
    glob = _solve(sums.sum((0, 1, 2))[None], np.zeros((1, 3, 4)), 0.0)
    per_luma = _solve(sums.sum((0, 1)), np.broadcast_to(glob, (nz, 3, 4)), LUMA_PRIOR)
    models = _solve(sums.reshape(-1, sums.shape[-1]),
                    np.broadcast_to(per_luma, (*sums.shape[:3], 3, 4)).reshape(-1, 3, 4),
                    VERTEX_PRIOR)
    coef = np.zeros((len(models), 3, 4), np.float32)
    coef[:, :, :3] = models[:, :, :3]
    coef[:, :, 3] = models[:, :, 3] * 255.0  # offsets in pixel units, as the kernel's
    return ColourGrid(np.concatenate([coef.reshape(-1, 12), np.zeros((len(coef), 4),
                                                                     np.float32)], 1)
                      .reshape(*sums.shape[:3], VEC))


def splat(small: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The fit's statistics per vertex (ny x nx x nz x STATS): per pixel 1, x, x x^T, y,
    x y^T (x from `small` in [0, 1], y from `out`), summed into the vertices around it with
    trilinear weights (the same tents the kernel interpolates with)."""
    h, w, _ = small.shape
    ny, nx, nz = shape = grid_shape(h, w)
    # One contiguous row per statistic: a column of a pixels x STATS array is a strided
    # read of every cache line, which made weighting the statistics cost more than summing.
    n = h * w
    x = np.ascontiguousarray(small.reshape(n, 3).T) / 255.0
    y = np.ascontiguousarray(out.reshape(n, 3).T, np.float64)
    stats = np.empty((STATS, n))
    stats[0] = 1.0
    stats[1:4] = x
    stats[4:13] = (x[:, None] * x[None]).reshape(9, n)
    stats[13:16] = y
    stats[16:25] = (x[:, None] * y[None]).reshape(9, n)
    iy, fy = _axis(h, ny)
    ix, fx = _axis(w, nx)
    guide = luma(small).reshape(-1)
    iz = np.minimum(guide * (nz - 1) // 255, nz - 2)
    fz = guide * (nz - 1) / 255 - iz
    iy, fy = np.repeat(iy, w), np.repeat(fy, w)
    ix, fx = np.tile(ix, h), np.tile(fx, h)
    sums = np.zeros((STATS, ny * nx * nz))
    weighted = np.empty_like(stats)  # reused: a fresh array per corner costs page faults
    for dy in (0, 1):
        for dx in (0, 1):
            for dz in (0, 1):
                weight = ((fy if dy else 1 - fy) * (fx if dx else 1 - fx)
                          * (fz if dz else 1 - fz))
                index = ((iy + dy) * nx + ix + dx) * nz + iz + dz
                np.multiply(stats, weight, out=weighted)
                for k in range(STATS):
                    sums[k] += np.bincount(index, weighted[k], sums.shape[1])
    return sums.T.reshape(*shape, STATS)


def _blur(a: np.ndarray, axis: int) -> np.ndarray:
    n = a.shape[axis]
    p = np.concatenate([a.take([0], axis), a, a.take([n - 1], axis)], axis)
    return 0.25 * p.take(range(n), axis) + 0.5 * a + 0.25 * p.take(range(2, n + 2), axis)


def _solve(sums: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Affine models (n x 3 x 4: y = A x + b) from n rows of splatted sums: the guided
    filter's regularized fit A^T = (cov(x) + EPS I)^-1 (cov(x, y) + EPS prior_A^T), then
    blended with `prior` by pixel weight W as W / (W + strength)."""
    weight = sums[:, :1]
    inv = 1.0 / np.maximum(weight, 1e-12)
    mx, my = sums[:, 1:4] * inv, sums[:, 13:16] * inv
    cxx = sums[:, 4:13].reshape(-1, 3, 3) * inv[:, :, None] - mx[:, :, None] * mx[:, None]
    cxy = sums[:, 16:25].reshape(-1, 3, 3) * inv[:, :, None] - mx[:, :, None] * my[:, None]
    prior_a = prior[:, :, :3] if strength else np.broadcast_to(np.eye(3), cxx.shape)
    a = np.linalg.solve(cxx + EPS * np.eye(3), cxy + EPS * prior_a.transpose(0, 2, 1))
    a = a.transpose(0, 2, 1)
    b = my - np.einsum("nij,nj->ni", a, mx)
    model = np.concatenate([a, b[:, :, None]], 2)
    if not strength:
        return model
    t = (weight / (weight + strength))[:, :, None]
    return t * model + (1 - t) * prior


def _image_view(a: np.ndarray):
    """An H x W x 3 uint8 array (packed pixels, checked by apply) as common.h's View: the
    N = 1 case, strides in elements, which are bytes for uint8."""
    from cyclegan import _C

    return _C.View(data=a.ctypes.data, strides=(0, 1, a.strides[0], 3))


def apply(grid: ColourGrid, photo: np.ndarray, out: np.ndarray | None = None,
          rows: tuple[int, int] | None = None, threads: int = 0) -> np.ndarray:
    """The grid applied to `photo` (H x W x 3 uint8, rows contiguous) into `out` (same
    shape, allocated when None), rows [begin, end) only when `rows` is given (bands agree
    exactly with the whole image). threads: 0 the compiled module's pool, 1 this thread."""
    from cyclegan import _C

    coef = np.ascontiguousarray(grid.coef, np.float32)
    if coef.ndim != 4 or coef.shape[3] != VEC or min(coef.shape[:3]) < 2:
        raise ValueError(f"grid must be ny x nx x nz x {VEC} with each >= 2, got {coef.shape}")
    for name, a in (("photo", photo), ("out", out)):
        if a is None:
            continue
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"{name} must be H x W x 3 uint8, got {a.shape} {a.dtype}")
        if a.strides[1:] != (3, 1):
            raise ValueError(f"{name}'s rows must hold packed RGB pixels")
    height, width = photo.shape[:2]
    if out is None:
        out = np.empty_like(photo)
    elif out.shape != photo.shape:
        raise ValueError(f"out has shape {out.shape}, the photo {photo.shape}")
    begin, end = rows if rows is not None else (0, height)
    if not 0 <= begin <= end <= height:
        raise ValueError(f"rows must lie in 0..{height}, got {rows}")
    ny, nx, nz = coef.shape[:3]
    _C.cpu_guided_apply(_C.GuidedApply(
        src=_image_view(photo), dst=_image_view(out), grid=_C.View(data=coef.ctypes.data),
        height=height, width=width, row_begin=begin, row_end=end, ny=ny, nx=nx, nz=nz,
        threads=threads))
    return out
