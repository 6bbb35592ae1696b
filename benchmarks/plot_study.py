"""Distance to the real target photos against training CPU minutes, one line per recipe,
from `cyclegan-eval --json` files of run snapshots: an SVG for docs/experiments.md.

    python benchmarks/plot_study.py OUT.svg patch=runs/patch_ema:evals/patch_ema_*.json \
        projected=runs/proj_ema:evals/proj_ema_*.json

Each RECIPE=RUN:GLOB names a run folder (its log.jsonl maps steps to process CPU seconds,
or with --clock wall to `train_s`, the wall seconds of training) and the eval files of its
snapshots (their "step" places them). The best learning-free baseline of the first file is
drawn as a dashed line per panel. --table also prints each snapshot's numbers as a Markdown
table for docs/experiments.md. Plain SVG, no plotting library: the docs need one small
figure, not a dependency.
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

METRICS = (("kid_pool", 1000.0, "KID x 1000, pooled"), ("fd_pool", 1.0, "FD, pooled"),
           ("kid_s16", 1000.0, "KID x 1000, stride 16"))
DIRECTIONS = ("A2B", "B2A")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
W, H, PAD = 300, 210, 44


# The log.jsonl field each clock reads, and its axis label.
CLOCKS = {"cpu": ("process_cpu_s", "training CPU minutes"),
          "wall": ("train_s", "training wall minutes")}


def minutes(run: Path, clock: str = "cpu") -> dict[int, float]:
    key = CLOCKS[clock][0]
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r[key] / 60 for r in rows if key in r}


def at_step(table: dict[int, float], step: int) -> float:
    """CPU minutes at `step`, linear between the logged steps around it."""
    steps = sorted(table)
    lo = max([s for s in steps if s <= step], default=steps[0])
    hi = min([s for s in steps if s >= step], default=steps[-1])
    if hi == lo:
        return table[lo]
    return table[lo] + (table[hi] - table[lo]) * (step - lo) / (hi - lo)


def load(spec: str, clock: str = "cpu") -> tuple[str, list[tuple[float, dict]]]:
    name, rest = spec.split("=", 1)
    run, pattern = rest.split(":", 1)
    table = minutes(Path(run), clock)
    by_step: dict[int, dict] = {}  # one file per direction (change_study.sh) or both in one
    for f in sorted(glob.glob(pattern)):
        result = json.loads(Path(f).read_text())
        scored = {d: r for d, r in result["directions"].items() if "skipped" not in r}
        by_step.setdefault(result["step"], {"step": result["step"]}).update(scored)
    points = sorted(((at_step(table, step), d) for step, d in by_step.items()
                     if all(k in d for k in DIRECTIONS)), key=lambda p: p[0])
    if not points:
        raise SystemExit(f"{spec}: no snapshot with both directions scored in {pattern}")
    return name, points


def panel(x0: float, y0: float, title: str, series, baseline: tuple[str, float],
          xlabel: str = CLOCKS["cpu"][1]) -> list[str]:
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts] + [baseline[1]]
    xmax, ymax = max(xs) * 1.05, max(ys) * 1.1

    def px(x: float) -> float:
        return x0 + PAD + (W - PAD - 8) * x / xmax

    def py(y: float) -> float:
        return y0 + H - 24 - (H - 48) * y / ymax

    out = [f'<text x="{x0 + W / 2}" y="{y0 + 14}" text-anchor="middle" font-size="12">'
           f'{title}</text>',
           f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(xmax)}" y2="{py(0)}" stroke="#000"/>',
           f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(0)}" y2="{py(ymax)}" stroke="#000"/>']
    for i in range(5):
        xv, yv = xmax * i / 4, ymax * i / 4
        out.append(f'<text x="{px(xv)}" y="{py(0) + 12}" text-anchor="middle" '
                   f'font-size="9">{xv:.0f}</text>')
        out.append(f'<text x="{px(0) - 3}" y="{py(yv) + 3}" text-anchor="end" '
                   f'font-size="9">{yv:.3g}</text>')
    out.append(f'<line x1="{px(0)}" y1="{py(baseline[1])}" x2="{px(xmax)}" '
               f'y2="{py(baseline[1])}" stroke="#777" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{px(xmax) - 2}" y="{py(baseline[1]) - 3}" text-anchor="end" '
               f'font-size="9" fill="#555">{baseline[0]}</text>')
    for (_, pts), colour in zip(series, COLOURS):
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}"/>'
                for x, y in pts]
    out.append(f'<text x="{x0 + W / 2}" y="{y0 + H - 2}" text-anchor="middle" '
               f'font-size="9">{xlabel}</text>')
    return out


def table(recipes, xlabel: str) -> str:
    """One Markdown row per snapshot: minutes, step, then per direction KID x 1000 pooled and
    at stride 16, and SSIM to the input."""
    head = [xlabel.removeprefix("training "), "step"] + [f"{d} {m}" for d in DIRECTIONS
                                       for m in ("KID pooled", "KID s16", "SSIM")]
    lines = ["| recipe | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for name, pts in recipes:
        for x, d in pts:
            cells = [f"{x:.1f}", str(d["step"])]
            for direction in DIRECTIONS:
                r = d[direction]
                cells += [f"{r['kid_pool'] * 1000:.1f}", f"{r['kid_s16'] * 1000:.1f}",
                          f"{r['structure_ssim']:.2f}"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("recipes", nargs="+", metavar="RECIPE=RUN:GLOB")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                   help="x axis: process CPU minutes (default) or wall minutes of training")
    p.add_argument("--table", action="store_true", help="also print a Markdown table")
    args = p.parse_args()
    if len(args.recipes) > len(COLOURS):
        p.error(f"at most {len(COLOURS)} recipes fit one plot")
    recipes = [load(s, args.clock) for s in args.recipes]
    xlabel = CLOCKS[args.clock][1]
    body = []
    for row, (key, scale, label) in enumerate(METRICS):
        for col, direction in enumerate(DIRECTIONS):
            series = [(name, [(x, d[direction][key] * scale) for x, d in pts])
                      for name, pts in recipes]
            first = recipes[0][1][0][1][direction]
            best = min(first["baselines"], key=lambda b: first["baselines"][b][key])
            baseline = (f"best baseline: {best}", first["baselines"][best][key] * scale)
            body += panel(col * W, row * H, f"{direction} {label}", series, baseline,
                          xlabel)
    legend_y = len(METRICS) * H + 14
    for i, (name, _) in enumerate(recipes):
        body.append(f'<rect x="{60 + i * 100}" y="{legend_y - 8}" width="10" height="10" '
                    f'fill="{COLOURS[i]}"/><text x="{74 + i * 100}" y="{legend_y + 1}" '
                    f'font-size="11">{name}</text>')
    width, height = 2 * W, legend_y + 10
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>'
           + "".join(body) + "</svg>\n")
    args.out.write_text(svg)
    print(f"wrote {args.out}")
    if args.table:
        print(table(recipes, xlabel))


if __name__ == "__main__":
    main()
