"""Pictures of pictures: labelled grids (training samples, sweep reports, docs figures) and
the contact sheet `cyclegan-infer --contact-sheet` writes. Torch-free; reads through
cyclegan.images.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from cyclegan.images import load_image, write_png

MIN_TILE = 128
PAD = 4
FONT_SIZE = 12


def _font():
    try:
        return ImageFont.load_default(size=FONT_SIZE)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def labelled_grid(labels: list[list[str]], rows: list[list[Image.Image]]) -> Image.Image:
    """Columns headed by labels (one list of text lines per column), rows of equally sized
    tiles. Small tiles are enlarged (nearest neighbour, so pixels stay honest) to MIN_TILE."""
    if not rows or not rows[0]:
        raise ValueError("a grid needs at least one image")
    w, h = rows[0][0].size
    scale = max(1, math.ceil(MIN_TILE / max(w, h)))
    tw, th = w * scale, h * scale
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = max(probe.textbbox((0, 0), "Ag", font=font)[3], FONT_SIZE) + 2
    col_w = [max([tw] + [probe.textbbox((0, 0), t, font=font)[2] + 2 * PAD for t in lab])
             for lab in labels]
    head = max(len(lab) for lab in labels) * line_h + 2 * PAD
    width = sum(col_w) + PAD * (len(col_w) + 1)
    height = head + len(rows) * (th + PAD) + PAD
    grid = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    x = PAD
    for c, lab in enumerate(labels):
        for i, text in enumerate(lab):
            tx = x + (col_w[c] - probe.textbbox((0, 0), text, font=font)[2]) // 2
            draw.text((tx, PAD + i * line_h), text, fill=(0, 0, 0), font=font)
        for r, row in enumerate(rows):
            if c < len(row):
                tile = row[c].convert("RGB")
                if scale > 1:
                    tile = tile.resize((tw, th), Image.Resampling.NEAREST)
                grid.paste(tile, (x + (col_w[c] - tw) // 2, head + r * (th + PAD)))
        x += col_w[c] + PAD
    return grid


def _sheet_tile(path: Path, height: int) -> Image.Image:
    """An image scaled to `height`, transparency shown over grey."""
    rgb, alpha = load_image(path)
    tile = rgb.convert("RGBA")
    if alpha is not None:
        tile.putalpha(alpha)
    tile.thumbnail((height * 4, height), Image.Resampling.LANCZOS)
    backdrop = Image.new("RGBA", tile.size, (128, 128, 128, 255))
    return Image.alpha_composite(backdrop, tile).convert("RGB")


def contact_sheet(pairs: list[tuple[Path, Path, str]], dst: Path, title: str = "",
                  height: int = 160, max_pairs: int = 16) -> Path:
    """A PNG, one labelled row per (input, output, label): input | output; the first
    `max_pairs`, the title saying so when there are more. Wide enough for the title."""
    rows = [([_sheet_tile(src, height), _sheet_tile(out, height)], label)
            for src, out, label in pairs[:max_pairs]]
    if len(pairs) > max_pairs:
        title = f"{title}    (first {max_pairs} of {len(pairs)})".strip()
    pad, text_h = 8, 14
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(max(sum(t.width for t in tiles) + 3 * pad for tiles, _ in rows),
                *(int(measure.textlength(text)) + 2 * pad for text in
                  [title, *(label for _, label in rows)]))
    top = pad + (text_h + pad if title else 0)
    sheet = Image.new("RGB", (width, top + len(rows) * (height + text_h + 2 * pad)),
                      (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, pad), title, fill=(0, 0, 0))
    y = top
    for tiles, label in rows:
        draw.text((pad, y), label, fill=(0, 0, 0))
        x = pad
        for tile in tiles:
            sheet.paste(tile, (x, y + text_h + (height - tile.height) // 2))
            x += tile.width + pad
        y += height + text_h + 2 * pad
    write_png(dst, sheet)
    return dst
