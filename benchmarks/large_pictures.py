"""The pictures of docs/inference.md, "Large photos": from our own renders, no dataset photo.

    python benchmarks/large_pictures.py [OUT_DIR]   (default docs/inference)

large_photo.jpg  a 2048 x 1536 rendered landscape through the bundled summer2winter
                 generator: at its own size (--work-size native), and at the working scale
                 (the model's, 128 px) finished by --detail resize and by --detail guided; whole
                 pictures above, 1:1 crops below.
guided_halo.jpg  the guided step against a plain local colour model (the fast guided
                 filter, He and Sun 2015: one affine colour model per window, fitted at the
                 working scale and its coefficients enlarged bilinearly), crops at strong
                 edges shown at 2x.
detail_modes.jpg a 768 x 576 render through the bundled demo generator (working scale 64
                 px; it draws snow-laden conifers where the summer trees stand), finished by
                 each --detail: whole pictures above, a 1:1 crop below.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cyclegan import seasons
from cyclegan.grids import labelled_grid
from cyclegan.infer import bundled, detail, io
from cyclegan.infer.runtime import load_model

SIZE = (2048, 1536)
CROPS = [(250, 880, 762, 1264), (860, 100, 1372, 484)]  # 512 x 384, as the whole views
HALO_CROPS = [(520, 1090, 776, 1282), (250, 930, 506, 1122)]  # 256 x 192, shown 2x


def render(size=SIZE, seed=11) -> Image.Image:
    full = (seasons.render(seed, size[0], "summer") * 255).round().astype(np.uint8)
    top = (size[0] - size[1]) // 2
    return Image.fromarray(full[top:top + size[1]])


def box_mean(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over (2r + 1)^2 windows (edges clamped) along the first two axes."""
    k = 2 * r + 1
    p = np.pad(a, ((r + 1, r), (r + 1, r)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    c = p.cumsum(0).cumsum(1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / k**2


def plain_local_model(small: np.ndarray, out: np.ndarray, photo: np.ndarray,
                      r: int = 8, eps: float = 1e-3) -> np.ndarray:
    """The comparison: one affine colour model per (2r + 1)^2 window at the working scale
    (the guided filter with a colour guide), coefficients averaged, enlarged bilinearly."""
    x = small / 255.0
    mx, my = box_mean(x, r), box_mean(out, r)
    cxx = box_mean(x[..., :, None] * x[..., None, :], r) - mx[..., :, None] * mx[..., None, :]
    cxy = box_mean(x[..., :, None] * out[..., None, :], r) - mx[..., :, None] * my[..., None, :]
    a = np.linalg.solve(cxx + eps * np.eye(3), cxy)
    b = my - np.einsum("hwij,hwi->hwj", a, mx)
    a, b = box_mean(a, r), box_mean(b, r)
    H, W = photo.shape[:2]

    def enlarge(c):
        return np.stack([np.asarray(Image.fromarray(c[..., k].astype(np.float32)).resize(
            (W, H), Image.Resampling.BILINEAR)) for k in range(c.shape[-1])], -1)

    a_big = enlarge(a.reshape(*a.shape[:2], 9)).reshape(H, W, 3, 3)
    res = np.einsum("hwij,hwi->hwj", a_big, photo / 255.0) + enlarge(b)
    return np.clip(np.rint(res * 255), 0, 255).astype(np.uint8)


def main() -> int:
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/inference")
    out_dir.mkdir(parents=True, exist_ok=True)
    model = load_model(bundled.resolve_model("summer2winter"), device="cpu", log=lambda m: None)
    photo = render()
    job = io.Job(Path("render.png"), Path("out.png"), "png")
    item = io.prepare(job, photo, None, model.geometry, model.work_size)
    y = model(item.x[None])[0]
    guided = f"{model.work_size} px + guided (default)"
    shown = {"input (2048 x 1536)": np.asarray(photo),
             "native: run at 2048 x 1536": None,
             f"{model.work_size} px + resize": detail.finish(item, y, "resize"),
             guided: detail.finish(item, y, "guided")}
    native = io.prepare(job, photo, None, model.geometry, None)
    shown["native: run at 2048 x 1536"] = detail.finish(native, model(native.x[None])[0])
    names = list(shown)
    whole = [Image.fromarray(a).resize((512, 384), Image.Resampling.LANCZOS) for a in
             shown.values()]
    for tile in whole[:1]:
        draw = ImageDraw.Draw(tile)
        for x0, y0, x1, y1 in CROPS:
            draw.rectangle([v // 4 for v in (x0, y0, x1, y1)], outline=(255, 0, 0), width=2)
    rows = [whole] + [[Image.fromarray(a).crop(c) for a in shown.values()] for c in CROPS]
    grid = labelled_grid([[n] for n in names], rows)
    grid.convert("RGB").save(out_dir / "large_photo.jpg", quality=88)

    h, w = item.small.shape[:2]
    out = np.clip((y[:, :h, :w].transpose(1, 2, 0) + 1) / 2, 0, 1)
    plain = plain_local_model(item.small, out, np.asarray(photo))
    halo = {"input": np.asarray(photo), "plain local colour model": plain,
            "guided (bilateral grid)": shown[guided]}
    rows = [[Image.fromarray(a).crop(c).resize((512, 384), Image.Resampling.NEAREST)
             for a in halo.values()] for c in HALO_CROPS]
    labelled_grid([[n] for n in halo], rows).convert("RGB").save(out_dir / "guided_halo.jpg",
                                                                   quality=88)
    detail_modes(out_dir / "detail_modes.jpg")
    print(f"wrote {out_dir / 'large_photo.jpg'}, {out_dir / 'guided_halo.jpg'} and "
          f"{out_dir / 'detail_modes.jpg'}")
    return 0


def detail_modes(path: Path, crop=(240, 280, 624, 568)) -> None:
    model = load_model(bundled.resolve_model("demo"), device="cpu", log=lambda m: None)
    photo = render((768, 576), seed=3)
    item = io.prepare(io.Job(Path("render.png"), Path("out.png"), "png"), photo, None,
                      model.geometry, model.work_size)
    y = model(item.x[None])[0]
    shown = {"input (768 x 576)": np.asarray(photo),
             **{f"{model.work_size} px + {mode}": detail.finish(item, y, mode)
                for mode in detail.DETAILS}}
    rows = [[Image.fromarray(a).resize((384, 288), Image.Resampling.LANCZOS)
             for a in shown.values()],
            [Image.fromarray(a).crop(crop) for a in shown.values()]]
    labelled_grid([[n] for n in shown], rows).convert("RGB").save(path, quality=88)


if __name__ == "__main__":
    raise SystemExit(main())
