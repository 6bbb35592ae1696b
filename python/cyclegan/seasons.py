"""Procedural landscapes rendered in summer and in winter from one integer seed.

Every random choice is drawn from the seed before any season is painted and no draw depends
on the image size, so one seed gives the same scene (same ridges, lake, trees) in both seasons
and at every size. That is what makes the built-in dataset useful for tests: the winter
render of a seed is the ground truth for translating its summer render.
"""

from __future__ import annotations

import numpy as np

SEASONS = ("summer", "winter")

_PALETTES = {
    "summer": {
        "sky_top": (0.20, 0.40, 0.80), "sky_bottom": (0.66, 0.80, 0.95),
        "cloud": (0.98, 0.98, 0.98), "cloud_shade": (0.78, 0.80, 0.85), "cloud_alpha": 0.9,
        "sun": (1.00, 0.97, 0.85), "sun_glow": 0.35,
        "rock_dark": (0.30, 0.28, 0.27), "rock_light": (0.62, 0.58, 0.52),
        "slope_dark": (0.12, 0.25, 0.10), "slope_light": (0.28, 0.45, 0.18),
        "forest_dark": (0.06, 0.16, 0.07), "forest_light": (0.16, 0.33, 0.12),
        "ground_dark": (0.20, 0.42, 0.12), "ground_light": (0.50, 0.66, 0.24),
        "water_deep": (0.10, 0.25, 0.42), "water_light": (0.45, 0.62, 0.80),
        "conifer_dark": (0.05, 0.18, 0.08), "conifer_light": (0.14, 0.36, 0.14),
        "leaf_dark": (0.13, 0.34, 0.09), "leaf_light": (0.38, 0.62, 0.18),
        "trunk": (0.28, 0.19, 0.11), "shadow": (0.10, 0.22, 0.06), "shadow_alpha": 0.45,
    },
    "winter": {
        "sky_top": (0.55, 0.62, 0.73), "sky_bottom": (0.86, 0.88, 0.91),
        "cloud": (0.90, 0.91, 0.93), "cloud_shade": (0.70, 0.72, 0.76), "cloud_alpha": 0.8,
        "sun": (0.95, 0.95, 0.95), "sun_glow": 0.10,
        "rock_dark": (0.20, 0.20, 0.22), "rock_light": (0.42, 0.41, 0.42),
        "snow_shadow": (0.68, 0.75, 0.88), "snow_lit": (0.96, 0.97, 1.00),
        "forest_dark": (0.05, 0.12, 0.08), "forest_light": (0.12, 0.20, 0.15),
        "ground_dark": (0.78, 0.83, 0.93), "ground_light": (0.97, 0.98, 1.00),
        "water_deep": (0.62, 0.70, 0.78), "water_light": (0.83, 0.88, 0.92),
        "conifer_dark": (0.04, 0.13, 0.08), "conifer_light": (0.10, 0.24, 0.14),
        "leaf_dark": (0.22, 0.18, 0.16), "leaf_light": (0.40, 0.35, 0.31),
        "trunk": (0.22, 0.16, 0.11), "shadow": (0.45, 0.55, 0.75), "shadow_alpha": 0.45,
    },
}


def _fade(t):
    return t * t * (3.0 - 2.0 * t)


class _Fbm1D:
    """Fractal value noise on [0, 1] with values in [0, 1]."""

    def __init__(self, rng: np.random.Generator, base: int, octaves: int, gain: float = 0.5):
        self.tables = [rng.random(base * 2**o + 2) for o in range(octaves)]
        self.gain = gain

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(x, 0.0, 1.0)
        total = np.zeros(np.shape(x))
        amp, norm = 1.0, 0.0
        for tab in self.tables:
            cells = len(tab) - 2
            p = x * cells
            i = np.minimum(p.astype(np.int64), cells)
            t = _fade(p - i)
            total += amp * (tab[i] + (tab[i + 1] - tab[i]) * t)
            norm += amp
            amp *= self.gain
        return total / norm


class _Fbm2D:
    """2-D fractal value noise, evaluated on a broadcast grid x (1, W), y (H, 1)."""

    def __init__(self, rng: np.random.Generator, base: int, octaves: int, gain: float = 0.5):
        self.tables = [rng.random((base * 2**o + 2,) * 2) for o in range(octaves)]
        self.gain = gain

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        total = 0.0
        amp, norm = 1.0, 0.0
        for tab in self.tables:
            cells = len(tab) - 2
            px, py = np.clip(x, 0.0, 1.0) * cells, np.clip(y, 0.0, 1.0) * cells
            ix, iy = np.minimum(px.astype(np.int64), cells), np.minimum(py.astype(np.int64), cells)
            tx, ty = _fade(px - ix), _fade(py - iy)
            top = tab[iy, ix] + (tab[iy, ix + 1] - tab[iy, ix]) * tx
            bottom = tab[iy + 1, ix] + (tab[iy + 1, ix + 1] - tab[iy + 1, ix]) * tx
            total = total + amp * (top + (bottom - top) * ty)
            norm += amp
            amp *= self.gain
        return total / norm


def _lerp(a, b, t):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a + (b - a) * np.asarray(t, np.float32)[..., None]


def _over(img: np.ndarray, alpha: np.ndarray, color, rows=slice(None), cols=slice(None)) -> None:
    """Composite `color` with coverage `alpha` onto img[rows, cols] in place."""
    region = img[rows, cols]
    region += (np.asarray(color, np.float32) - region) * alpha[..., None].astype(np.float32)


class _Scene:
    """Geometry and texture fields of one landscape; paint() colours it for a season."""

    def __init__(self, seed: int, size: int):
        rng = np.random.default_rng(seed)
        self.size = size
        self.px = 1.0 / size
        coords = ((np.arange(size) + 0.5) / size).astype(np.float32)
        self.x, self.y = coords[None, :], coords[:, None]

        self.horizon = rng.uniform(0.52, 0.64)
        self.sun = (rng.uniform(0.1, 0.9), rng.uniform(0.08, 0.28))
        self.sun_side = 1.0 if self.sun[0] > 0.5 else -1.0
        self.clouds = []
        for _ in range(rng.integers(0, 5)):
            cx, cy, scale = rng.uniform(-0.1, 1.1), rng.uniform(0.05, 0.3), rng.uniform(0.5, 1.3)
            blobs = [(cx + rng.uniform(-0.12, 0.12) * scale, cy + rng.uniform(-0.02, 0.02),
                      rng.uniform(0.05, 0.1) * scale, rng.uniform(0.025, 0.045) * scale)
                     for _ in range(rng.integers(3, 7))]
            self.clouds.append(blobs)

        n_ridges = int(rng.integers(1, 4))
        self.ridges = []
        for k in range(n_ridges):
            far = (n_ridges - 1 - k) / (n_ridges - 1) if n_ridges > 1 else 0.0
            base = self.horizon + 0.01 - 0.03 * far
            amp = rng.uniform(0.18, 0.38) * (0.8 + 0.4 * far)
            shape, ridged = _Fbm1D(rng, int(rng.integers(2, 5)), 6), _Fbm1D(rng, 3, 5)
            mix, cover = rng.uniform(0.3, 0.7), rng.uniform(0.25, 0.5)
            x = self.x[0]
            profile = (1 - mix) * np.clip((shape(x) - 0.5) * 2.2 + 0.5, 0, 1)
            profile += mix * (1.0 - np.abs(2.0 * ridged(x) - 1.0))
            self.ridges.append((far, amp, cover, (base - amp * profile).astype(np.float32)))

        self.forest = _Fbm1D(rng, 8, 4) if rng.random() < 0.7 else None
        self.forest_height = rng.uniform(0.02, 0.06)
        self.ground = _Fbm1D(rng, 2, 3)
        self.lake = None
        if rng.random() < 0.45:
            rx = rng.uniform(0.18, 0.4)
            self.lake = (rng.uniform(0.2, 0.8), rng.uniform(self.horizon + 0.1, 0.85),
                         rx, rx * rng.uniform(0.12, 0.22))

        conifer_share = rng.uniform(0.2, 1.0)
        trees = []
        for _ in range(rng.integers(3, 16)):
            tx, ty = rng.uniform(-0.05, 1.05), rng.uniform(self.horizon + 0.04, 1.05)
            conifer = rng.random() < conifer_share
            height = (0.55 * (ty - self.horizon) + 0.04) * rng.uniform(0.7, 1.3)
            width = height * (rng.uniform(0.35, 0.5) if conifer else rng.uniform(0.55, 0.85))
            branches = [(rng.uniform(0.3, 0.55), rng.uniform(-1.1, 1.1), rng.uniform(0.25, 0.45))
                        for _ in range(rng.integers(4, 8))]
            if not self._in_lake(tx, ty, margin=0.03):
                trees.append((ty, tx, conifer, height, width, int(rng.integers(3, 6)), branches))
        self.trees = sorted(trees, key=lambda t: t[0])

        self.tex_lo = _Fbm2D(rng, 4, 4)(self.x, self.y).astype(np.float32)
        self.tex_hi = _Fbm2D(rng, 24, 2)(self.x, self.y).astype(np.float32)
        # Stretched vertically so rock relief reads as gullies running down the slopes.
        gully = _Fbm2D(rng, 8, 3)(self.x, self.y * 0.3 + 0.2)
        self.relief = np.tanh(0.25 * np.gradient(gully, self.px, axis=1)).astype(np.float32)
        self.ripple = _Fbm1D(rng, 40, 2)(self.y).astype(np.float32)

    def _in_lake(self, x: float, y: float, margin: float = 0.0) -> bool:
        if self.lake is None:
            return False
        cx, cy, rx, ry = self.lake
        return ((x - cx) / (rx + margin)) ** 2 + ((y - cy) / (ry + margin)) ** 2 < 1.0

    def _edge(self, dist):
        """Anti-aliased coverage of a signed distance (positive inside), one pixel wide."""
        return np.clip(dist / self.px + 0.5, 0.0, 1.0)

    def _row(self, y: float) -> int:
        return min(max(int(y * self.size) - 1, 0), self.size)

    def paint(self, season: str) -> np.ndarray:
        if season not in _PALETTES:
            raise ValueError(f"unknown season {season!r}; expected one of {SEASONS}")
        p = _PALETTES[season]
        winter = season == "winter"
        x, y = self.x, self.y

        t = np.clip(y / self.horizon, 0.0, 1.0) ** 0.8
        img = np.broadcast_to(_lerp(p["sky_top"], p["sky_bottom"], t), (self.size, self.size, 3))
        img = img.copy()
        rows = slice(0, self._row(self.horizon))
        d2 = (x - self.sun[0]) ** 2 + (y[rows] - self.sun[1]) ** 2
        glow = p["sun_glow"] * np.exp(-d2 / 0.03)
        if not winter:
            glow = np.maximum(glow, self._edge(0.025 - np.sqrt(d2)))
        _over(img, glow, p["sun"], rows)
        self._paint_clouds(img, p)
        for ridge in self.ridges:
            self._paint_ridge(img, p, ridge, winter)

        ground_top = self.horizon + 0.03 * (self.ground(x) - 0.5)
        if self.forest is not None:
            top = ground_top - self.forest_height * (0.4 + 0.6 * self.forest(x))
            rows = slice(self._row(top.min()), self._row(ground_top.max()) + 2)
            hi = self.tex_hi[rows]
            shade = _lerp(p["forest_dark"], p["forest_light"], hi)
            if winter:
                shade = _lerp(shade, p["snow_lit"], np.clip((hi - 0.55) * 6, 0, 0.9))
            _over(img, self._edge(y[rows] - top), shade, rows)

        rows = slice(self._row(ground_top.min()), None)
        lo, hi = self.tex_lo[rows], self.tex_hi[rows]
        ground = _lerp(p["ground_dark"], p["ground_light"], np.clip(lo * 1.6 - 0.3, 0, 1))
        if not winter:
            ground *= (0.9 + 0.2 * hi)[..., None]
        _over(img, self._edge(y[rows] - ground_top), ground, rows)
        if self.lake is not None:
            self._paint_lake(img, p, winter)
        for tree in self.trees:
            self._paint_tree(img, p, tree, winter)
        return np.clip(img, 0.0, 1.0)

    def _paint_clouds(self, img, p) -> None:
        for blobs in self.clouds:
            top = min(b[1] - b[3] for b in blobs)
            base = max(b[1] + b[3] for b in blobs)
            rows = slice(self._row(top), self._row(base) + 2)
            x, y = self.x, self.y[rows]
            cover = np.zeros((rows.stop - rows.start, self.size), np.float32)
            for cx, cy, rx, ry in blobs:
                q = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
                cover = np.maximum(cover, np.clip((1.0 - q) * 3.0, 0.0, 1.0))
            shade = np.clip((y - (base - 0.06)) / 0.06, 0.0, 1.0)
            color = _lerp(p["cloud"], p["cloud_shade"], shade)
            _over(img, cover * p["cloud_alpha"], color, rows)

    def _paint_ridge(self, img, p, ridge, winter: bool) -> None:
        far, amp, cover, top = ridge
        rows = slice(self._row(top.min()), None)
        y, lo, hi, relief = self.y[rows], self.tex_lo[rows], self.tex_hi[rows], self.relief[rows]
        slope = np.gradient(top, self.px)
        depth = y - top[None, :]
        crest = np.tanh(0.8 * slope * self.sun_side)[None, :] * np.exp(-depth / 0.08)
        light = np.clip(crest + relief * self.sun_side + 0.5 * (lo - 0.5), -1, 1)
        lit = 0.5 + 0.5 * light
        rock = _lerp(p["rock_dark"], p["rock_light"], lit) * (0.85 + 0.3 * hi)[..., None]
        if winter:
            snow = np.clip((cover + 0.3 - 1.4 * depth - 0.6 * np.abs(relief)
                            + 0.3 * (hi - 0.5) + 0.6 * (lo - 0.5)) * 4, 0, 1)
            color = _lerp(rock, _lerp(p["snow_shadow"], p["snow_lit"], lit), snow)
        else:
            veg = np.clip((depth - amp * cover + 0.15 * (lo - 0.5)) * 12, 0, 1)
            green = _lerp(p["slope_dark"], p["slope_light"], lit) * (0.85 + 0.3 * hi)[..., None]
            color = _lerp(rock, green, veg)
        color = _lerp(color, p["sky_bottom"], 0.08 + 0.4 * far)
        _over(img, self._edge(depth), color, rows)

    def _paint_lake(self, img, p, winter: bool) -> None:
        cx, cy, rx, ry = self.lake
        rows = slice(self._row(cy - 1.2 * ry), self._row(cy + 1.2 * ry) + 2)
        x, y, lo = self.x, self.y[rows], self.tex_lo[rows]
        wobble = 0.15 * (lo - 0.5)
        dist = (1.0 + wobble - np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)) * ry
        depth = np.clip((y - (cy - ry)) / (2 * ry), 0, 1)
        if winter:
            color = _lerp(p["water_light"], p["water_deep"], 0.6 * lo + 0.2 * depth)
        else:
            color = _lerp(p["water_light"], p["water_deep"], 0.3 + 0.5 * depth + 0 * x)
            color *= (0.85 + 0.3 * self.ripple[rows])[..., None]
        _over(img, self._edge(dist), color, rows)

    def _paint_tree(self, img, p, tree, winter: bool) -> None:
        ty, tx, conifer, height, width, tiers, branches = tree
        n = self.size
        r0, r1 = int((ty - height) * n) - 1, int((ty + 0.03 * height) * n) + 2
        c0, c1 = int((tx - width) * n) - 1, int((tx + width) * n) + 2
        r0, r1, c0, c1 = max(r0, 0), min(r1, n), max(c0, 0), min(c1, n)
        if r0 >= r1 or c0 >= c1:
            return
        rows, cols = slice(r0, r1), slice(c0, c1)
        x, y = self.x[:, cols], self.y[rows]
        hi, lo = self.tex_hi[rows, cols], self.tex_lo[rows, cols]

        sx = tx - self.sun_side * 0.25 * width
        shadow = ((x - sx) / (0.6 * width)) ** 2 + ((y - ty) / (0.06 * height)) ** 2
        _over(img, np.clip((1.0 - shadow) * 2, 0, 1) * p["shadow_alpha"], p["shadow"], rows, cols)

        side = np.clip((x - tx) / (0.5 * width) * self.sun_side, -1, 1)
        if conifer:
            trunk = self._edge(np.minimum(0.06 * width - np.abs(x - tx), ty - y))
            _over(img, trunk * (y > ty - 0.15 * height), p["trunk"], rows, cols)
            top, crown_h = ty - height, 0.88 * height
            t = (y - top) / crown_h
            tier = np.mod(t * tiers, 1.0)
            half = 0.5 * width * t * (0.6 + 0.4 * tier)
            crown = self._edge(half - np.abs(x - tx)) * self._edge(np.minimum(t, 1 - t) * crown_h)
            color = _lerp(p["conifer_dark"], p["conifer_light"], 0.5 + 0.4 * side + 0.2 * hi)
            if winter:
                snow = np.clip((0.4 - tier) * 4 + (hi - 0.5) * 2, 0, 1) * (t > 0.03)
                color = _lerp(color, p["snow_lit"], snow)
            _over(img, crown, color, rows, cols)
            return

        wood = np.zeros(np.broadcast_shapes(x.shape, y.shape), np.float32)
        base_w = 0.07 * width
        for start, angle, length in [(0.0, 0.0, 0.8)] + branches:
            ax, ay = tx, ty - start * height
            bx, by = ax + np.sin(angle) * length * height, ay - np.cos(angle) * length * height
            vx, vy = bx - ax, by - ay
            u = np.clip(((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy), 0, 1)
            dist = np.sqrt((x - ax - u * vx) ** 2 + (y - ay - u * vy) ** 2)
            thick = base_w * (1.0 - 0.8 * u) * (0.5 if start else 1.0)
            wood = np.maximum(wood, self._edge(thick - dist) * (y <= ty))
        cy, rx, ry = ty - 0.62 * height, 0.5 * width, 0.38 * height
        q = np.sqrt(((x - tx) / rx) ** 2 + ((y - cy) / ry) ** 2)
        crown = self._edge((1.0 - q + 0.35 * (lo - 0.5)) * ry)
        if winter:
            _over(img, crown * np.clip((hi - 0.3) * 0.8, 0, 0.3), p["leaf_dark"], rows, cols)
            _over(img, wood, p["trunk"], rows, cols)
            snow = wood * np.clip((hi - 0.55) * 4, 0, 1) * (y < ty - 0.45 * height)
            _over(img, snow, p["snow_lit"], rows, cols)
        else:
            _over(img, wood, p["trunk"], rows, cols)
            lit = 0.45 + 0.3 * side - 0.3 * (y - cy) / ry + 0.3 * (hi - 0.5)
            color = _lerp(p["leaf_dark"], p["leaf_light"], np.clip(lit, 0, 1))
            _over(img, crown, color, rows, cols)


def render(seed: int, size: int, season: str) -> np.ndarray:
    """One landscape as a float32 size x size x 3 array in [0, 1]."""
    return _Scene(_check_seed(seed), _check_size(size)).paint(season)


def render_pair(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The same landscape in summer and in winter (geometry built once)."""
    scene = _Scene(_check_seed(seed), _check_size(size))
    return scene.paint("summer"), scene.paint("winter")


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 4:
        raise ValueError(f"size must be an integer >= 4, got {size!r}")
    return int(size)
