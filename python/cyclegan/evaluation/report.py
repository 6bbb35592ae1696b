"""Presenting results: cyclegan-eval's summary table, and the files of a `cyclegan-sweep`
report (metrics tables, index.html, the green probe).

The image grids themselves are drawn by cyclegan.grids.labelled_grid.

Everything is written atomically, and index.html uses only relative links, so the folder
can be moved or served as is.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from cyclegan.evaluation.config import RANKED_IMAGES
from cyclegan.fileio import atomic_write_bytes

# How a negative KID is printed. KID is an unbiased estimate of a squared distance (MMD^2):
# when two samples are closer than their sampling noise can resolve, the estimate comes out
# below zero. A negative value is not a distance, and "lower is better" would rank it best,
# so tables print this instead (the JSON keeps the estimate: averaging estimates stays
# unbiased, averaging clipped ones would not).
KID_NOISE = "~0"
KID_NOISE_NOTE = (f"{KID_NOISE}: KID's unbiased estimate came out below zero, which happens "
                  "when outputs and real photos are closer than the sampling noise of this many "
                  "images can resolve; read it as 0 (the estimate itself is in the JSON)")


def write_text(path: Path, text: str) -> None:
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def _smooth(d: np.ndarray, width: float) -> np.ndarray:
    """1 inside (d < 0), 0 outside, a soft edge `width` wide: antialiased shapes."""
    return np.clip(0.5 - d / width, 0.0, 1.0)


def green_probe(size: int = 256) -> Image.Image:
    """A bright green, kiwi-like fruit cut open, on a light table: an out-of-domain test for
    a summer -> winter model (does it turn anything green grey?)."""
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size
    img = np.empty((size, size, 3))
    img[:] = np.array([0.94, 0.94, 0.91]) - 0.06 * yy[..., None]
    aa = 1.5 / size
    cx, cy, r = 0.5, 0.48, 0.32
    shadow = _smooth(np.hypot((xx - cx - 0.03) / 1.05, (yy - cy - 0.06) / 0.9) - r, 0.08)
    img *= 1.0 - 0.25 * shadow[..., None]
    d = np.hypot(xx - cx, yy - cy)
    rim = np.array([0.42, 0.36, 0.18])
    img = img * (1 - _smooth(d - r, aa)[..., None]) + rim * _smooth(d - r, aa)[..., None]
    t = np.clip(d / r, 0, 1)[..., None]
    flesh = np.array([0.62, 0.88, 0.18]) * (1 - t) + np.array([0.30, 0.70, 0.06]) * t
    inner = _smooth(d - 0.93 * r, aa)[..., None]
    img = img * (1 - inner) + flesh * inner
    ang = np.arctan2(yy - cy, xx - cx)
    streak = 0.04 * np.cos(ang * 40)[..., None] * inner
    img = img + streak
    for k in range(28):
        a = 2 * np.pi * k / 28 + 0.07 * math.sin(k * 2.3)
        rr = r * (0.36 + 0.05 * math.cos(k * 1.7))
        sx, sy = cx + rr * math.cos(a), cy + rr * math.sin(a)
        u = (xx - sx) * math.cos(a) + (yy - sy) * math.sin(a)
        v = -(xx - sx) * math.sin(a) + (yy - sy) * math.cos(a)
        seed = _smooth(np.hypot(u / 0.028, v / 0.014) - 1.0, 2.0 * aa / 0.014)[..., None]
        img = img * (1 - seed) + np.array([0.08, 0.07, 0.04]) * seed
    core = _smooth(np.hypot((xx - cx) / 0.9, yy - cy) - 0.25 * r, aa)[..., None]
    img = img * (1 - core) + np.array([0.93, 0.95, 0.76]) * core
    return Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))


# The feature spaces cyclegan-eval measures distances in (evaldata.SPACES, in its order).
SPACE_LABELS = {"clf": "classifier features", "pool": "EfficientNet-Lite pool, 1280-d",
                "s16": "EfficientNet-Lite s16, 112-d",
                "pool_luma": "EfficientNet-Lite pool of luma, colour-blind",
                "s16_luma": "EfficientNet-Lite s16 of luma, colour-blind"}

METRIC_COLUMNS = [
    ("config", "configuration"), ("direction", "direction"),
    ("domain_score", "domain score"), ("input_domain_score", "inputs judged target"),
    ("structure_ssim", "structure SSIM"), ("psnr", "paired PSNR dB"), ("ssim", "paired SSIM"),
    ("l1", "paired L1"), ("fid", "FID"), ("kid", "KID"),
    *((f"kid_{s}", f"KID {s}") for s in SPACE_LABELS),
    ("steps", "train steps"), ("train_time_s", "train time s"),
]


def metric_rows(results: list[dict]) -> list[dict]:
    """One flat row per (configuration, direction) from the sweep's per-config results."""
    rows = []
    for r in results:
        for direction, m in r["metrics"].items():
            paired = m.get("paired") or {}
            rows.append({"config": r["name"], "direction":
                         f"{direction} ({m['source']} -> {m['target']})",
                         "domain_score": m["domain_score"],
                         "input_domain_score": m["input_domain_score"],
                         "structure_ssim": m["structure_ssim"], "psnr": paired.get("psnr"),
                         "ssim": paired.get("ssim"), "l1": paired.get("l1"), "fid": m.get("fid"),
                         "kid": m.get("kid"), "steps": r["run"].get("steps"),
                         "train_time_s": r["run"].get("train_time_s"),
                         **{f"kid_{s}": m.get(f"kid_{s}") for s in SPACE_LABELS}})
    return rows


def _cell(v, key: str = "") -> str:
    if key.startswith("kid") and v is not None and v < 0:
        return KID_NOISE
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _present(rows: list[dict]) -> list[tuple[str, str]]:
    """Columns that hold a value somewhere (no all-empty paired/FID columns)."""
    return [(k, h) for k, h in METRIC_COLUMNS if any(r.get(k) is not None for r in rows)]


def metrics_markdown(rows: list[dict]) -> str:
    cols = _present(rows)
    lines = ["| " + " | ".join(h for _, h in cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_cell(r.get(k), k) for k, _ in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def metrics_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([k for k, _ in METRIC_COLUMNS])
    for r in rows:
        writer.writerow(["" if r.get(k) is None else r[k] for k, _ in METRIC_COLUMNS])
    return buf.getvalue()


def metrics_html(rows: list[dict]) -> str:
    cols = _present(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(k), k))}</td>" for k, _ in cols)
                   + "</tr>\n" for r in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}</table>"


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:80em}"
         "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px;"
         "text-align:right}td:first-child,td:nth-child(2){text-align:left}"
         "img{max-width:100%;image-rendering:pixelated}code{background:#f3f3f3}")


def index_html(summary: dict, rows: list[dict]) -> str:
    """The report page; `summary` holds data, domains, command, classifier, notes, images."""
    e = html.escape
    doms = summary["domains"]
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>cyclegan sweep: "
             f"{e(summary['data'])}</title><style>{STYLE}</style></head><body>",
             f"<h1>CycleGAN sweep on <code>{e(summary['data'])}</code></h1>",
             f"<p>A = {e(doms['A'])}, B = {e(doms['B'])}; {len(summary['configs'])} "
             f"configurations; command: <code>{e(summary['command'])}</code></p>",
             "<h2>Metrics</h2>", metrics_html(rows),
             "<p>Domain score: share of translated test images that a small CNN trained on "
             "real images assigns to the target domain (inputs judged target: the same for the "
             "untranslated inputs). Structure SSIM: grayscale input vs output at 64 px. "
             "FID, KID: Inception features. KID clf, pool, s16, pool_luma, s16_luma: "
             "cyclegan-eval's distances to the real target photos, in the classifier's "
             "features and EfficientNet-Lite0's pooled and stride-16 features of the photos "
             "and of their luma alone (colour-blind); lower is better. "
             f"{e(summary['classifier_note'])}</p>"]
    parts += [f"<p>{e(n)}</p>" for n in summary.get("notes", [])]
    parts.append("<p>Files: <a href='metrics.md'>metrics.md</a>, <a href='metrics.csv'>"
                 "metrics.csv</a>, <a href='metrics.json'>metrics.json</a></p>")
    for title, items in (("Test images", summary["grids"]), ("Probes", summary["probes"])):
        parts.append(f"<h2>{e(title)}</h2>")
        if title == "Probes" and summary.get("probe_names"):
            parts.append(f"<p>Rows: {e(', '.join(summary['probe_names']))}.</p>")
        for direction, file in items.items():
            src, tgt = doms[direction[0]], doms[direction[2]]
            parts.append(f"<h3>{e(direction)}: {e(src)} &rarr; {e(tgt)}</h3>"
                         f"<a href='{e(file)}'><img src='{e(file)}' alt='{e(direction)}'></a>")
    parts.append("<h2>Runs</h2><ul>")
    for c in summary["configs"]:
        parts.append(f"<li><a href='runs/{e(c)}/'>runs/{e(c)}</a></li>")
    parts.append("</ul></body></html>\n")
    return "\n".join(parts)


def write_metrics(out: Path, rows: list[dict], full: dict) -> None:
    write_text(out / "metrics.md", metrics_markdown(rows))
    write_text(out / "metrics.csv", metrics_csv(rows))
    write_text(out / "metrics.json", json.dumps(full, indent=2) + "\n")


def _fmt(v, spec: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def kid_text(v, spec: str = ".2f") -> str:
    """A KID for a table, x 1000; never a negative number (KID_NOISE)."""
    if v is not None and v < 0:
        return KID_NOISE
    return _fmt(None if v is None else v * 1000, spec)


def table_rows(res: dict, classifier_size: int = 64) -> list[tuple[str, str]]:
    """(label, formatted value) for one direction's cyclegan-eval result."""
    if "skipped" in res:
        return [("skipped", res["skipped"])]
    p = res.get("paired") or {}
    rows = [("domain score (outputs judged target)", _fmt(res["domain_score"])),
            ("  inputs judged target (baseline)", _fmt(res["input_domain_score"])),
            (f"structure SSIM (gray {classifier_size}px, in vs out)", _fmt(res["structure_ssim"]))]
    for space, label in SPACE_LABELS.items():
        if res.get(f"fd_{space}") is None:
            continue  # not measured (the judge's extra missing): one line says so below
        rows += [(f"Frechet distance ({label})", _fmt(res.get(f"fd_{space}"), ".2f")),
                 (f"KID x 1000 ({label})", kid_text(res.get(f"kid_{space}")))]
    rows += [("checkerboard energy share (inputs: "
              f"{_fmt(res.get('input_checkerboard'), '.4f')})",
              _fmt(res.get("checkerboard"), ".4f")),
             ("paired PSNR (dB)", _fmt(p.get("psnr"), ".2f")),
             ("paired SSIM", _fmt(p.get("ssim"))),
             ("paired L1 ([0,1] units)", _fmt(p.get("l1"), ".4f")),
             ("FID", _fmt(res.get("fid"), ".2f")),
             ("KID x 1000", kid_text(res.get("kid")))]
    return rows


TABLE_SPACES = 3  # feature spaces side by side in one block of the baseline table


def baseline_table(direction: str, res: dict, ranked: bool = True) -> str:
    """The model against the learning-free baselines, one row each, in every feature space
    measured (blocks of TABLE_SPACES spaces, so a line fits a terminal); each block ends
    with the spread of two halves of the real photos (the noise level); then, when `ranked`
    (enough test images), the model's distance over the best baseline's."""
    spaces = [s for s in SPACE_LABELS if res.get(f"fd_{s}") is not None]
    rows = [("model", res)] + list(res["baselines"].items())
    halves = res.get("real_halves") or {}
    w = max(len(name) for name, _ in rows + [("two real halves", None)])
    lines = [f"{direction} against learning-free baselines (distances to the real "
             f"{res['target']} photos; lower is better; KID x 1000)"]
    for first in range(0, max(len(spaces), 1), TABLE_SPACES):
        block = spaces[first:first + TABLE_SPACES]
        heads = [("domain", 6), ("SSIM", 5)]
        for s in block:
            heads += [(f"FD {s}", max(8, len(s) + 3)), (f"KID {s}", max(8, len(s) + 4))]
        lines.append(" " * w + "".join(f"  {h:>{n}}" for h, n in heads))
        for name, r in rows:
            cells = [_fmt(r["domain_score"]), _fmt(r["structure_ssim"])]
            for s in block:
                cells += [_fmt(r[f"fd_{s}"], ".2f"), kid_text(r[f"kid_{s}"])]
            lines.append(f"{name:{w}}" + "".join(f"  {c:>{n}}"
                                                 for c, (_, n) in zip(cells, heads)))
        if halves:
            cells = ["", ""]
            for s in block:
                cells += [_fmt(halves.get(f"fd_{s}"), ".2f"), ""]
            lines.append(f"{'two real halves':{w}}" + "".join(
                f"  {c:>{n}}" for c, (_, n) in zip(cells, heads)))
    if halves:
        lines.append(f"(two real halves: FD between two random halves of the real "
                     f"{res['target']} photos; differences of about this size are noise)")
    if ranked:
        ratios = [f"{key[3:]} {_fmt(v, '.2f')} ({res['best_baseline'][key]})"
                  for key, v in res["vs_best_baseline"].items()]
        lines.append("model FD / best baseline's FD: " + ", ".join(ratios))
    else:
        lines.append(f"no best baseline named: fewer than {RANKED_IMAGES} test images per "
                     "domain")
    return "\n".join(lines)


def _negative_kid(res: dict) -> bool:
    """Whether a direction's table shows KID_NOISE for the model or a baseline."""
    return any(isinstance(v, float) and k.startswith("kid") and v < 0
               for entry in [res, *res.get("baselines", {}).values()] for k, v in entry.items())


def format_eval(result: dict) -> str:
    """cyclegan-eval's printed summary: one column per direction, then the baselines."""
    dirs = list(result["directions"])
    heads = []
    for d in dirs:
        r = result["directions"][d]
        heads.append(f"{d} ({r['source']} -> {r['target']})" if "source" in r else d)
    size = result["classifier"]["input_size"]
    rows = {d: table_rows(result["directions"][d], size) for d in dirs}
    labels = []
    for d in dirs:
        labels += [lab for lab, _ in rows[d] if lab not in labels]
    cells = [[dict(rows[d]).get(lab, "") for d in dirs] for lab in labels]
    w0 = max([len(lab) for lab in labels] + [6])
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]
    lines = ["  ".join(["metric".ljust(w0)] + [h.ljust(w) for h, w in zip(heads, widths)])]
    lines.append("  ".join(["-" * w0] + ["-" * w for w in widths]))
    for lab, c in zip(labels, cells):
        lines.append("  ".join([lab.ljust(w0)] + [v.ljust(w) for v, w in zip(c, widths)]))
    few = min(result["test_images"].values())
    for d in dirs:
        if result["directions"][d].get("baselines"):
            lines += ["", baseline_table(d, result["directions"][d], few >= RANKED_IMAGES)]
    clf = result["classifier"]
    lines.append("")
    lines.append(f"domain classifier accuracy on real test images: {clf['accuracy']:.3f} "
                 f"(A {clf['accuracy_A']:.3f}, B {clf['accuracy_B']:.3f}; "
                 f"{'cached' if clf['cached'] else 'trained now'}, {clf['steps']} steps)")
    lines.append(f"judge: {result['judge']}" if result["judge"]
                 else f"EfficientNet-Lite distances skipped: {result['judge_skipped']}")
    lines.append(f"paired metrics: {result['pair_note']}")
    if result["fid_kid_skipped"]:
        lines.append(f"FID/KID skipped: {result['fid_kid_skipped']}")
    if any(_negative_kid(r) for r in result["directions"].values()):
        lines.append(KID_NOISE_NOTE)
    if few < RANKED_IMAGES:
        # First, where it is read before any number.
        lines.insert(0, f"caution: {few} test images per domain: distances from fewer than "
                        f"{RANKED_IMAGES} are mostly sampling noise; compare nothing on them "
                        "(--max-images, or a larger test split)")
    return "\n".join(lines)
