"""cyclegan.images: reading any image safely, listing folders, writing, grids."""

import builtins
import io
import os
import resource
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cyclegan import grids, images
from cyclegan.errors import CycleganError
from cyclegan.images import ImageError


def _png(width, height, bit_depth, color_type, rows: bytes | None = None) -> bytes:
    """A PNG written by hand, so the header can claim anything (e.g. a decompression bomb)."""

    def chunk(kind, payload):
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(rows if rows is not None else b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _save(img, path, **kw):
    img.save(path, **kw)
    return path


def _rgb(path):
    return np.asarray(images.load_image_rgb(path))


# --- image kinds -----------------------------------------------------------------------


def test_grayscale_becomes_rgb(tmp_path):
    arr = np.array([[0, 50], [200, 255]], np.uint8)
    out = _rgb(_save(Image.fromarray(arr), tmp_path / "g.png"))
    assert out.shape == (2, 2, 3)
    assert (out == arr[..., None]).all()


def test_bilevel_becomes_rgb(tmp_path):
    img = Image.fromarray(np.array([[0, 255]], np.uint8)).convert("1")
    assert _rgb(_save(img, tmp_path / "b.png")).tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_16bit_gray_png_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 1000, 32896, 65535]], np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "g16.png")
    assert Image.open(path).mode.startswith("I")
    out = _rgb(path)
    expected = np.round(values / 257.0).astype(np.uint8)
    assert (out == expected[..., None]).all(), out[..., 0]


def test_16bit_rgb_png(tmp_path):
    px = [(0, 0, 0), (65535, 32896, 257), (0x8000, 0xFFFF, 0x0100)]
    rows = b"\0" + b"".join(struct.pack(">HHH", *p) for p in px)
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png(3, 1, 16, 2, rows))
    out = _rgb(path).astype(int)
    assert np.abs(out[0] - np.round(np.array(px) / 257.0)).max() <= 1


def test_float_tiff(tmp_path):
    img = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert img.mode == "F"
    assert _rgb(_save(img, tmp_path / "f.tif"))[0, :, 0].tolist() == [0, 128, 255]


def test_rgba_alpha_dropped_or_kept(tmp_path):
    arr = np.zeros((2, 3, 4), np.uint8)
    arr[..., 0], arr[..., 3] = 200, [[0, 128, 255], [255, 255, 0]]
    path = _save(Image.fromarray(arr, "RGBA"), tmp_path / "a.png")
    rgb, alpha = images.load_image(path)
    assert rgb.mode == "RGB" and (np.asarray(rgb)[..., 0] == 200).all()
    assert (np.asarray(alpha) == arr[..., 3]).all()
    assert images.load_image_rgb(path).mode == "RGB"


def test_gray_alpha(tmp_path):
    img = Image.new("LA", (2, 2), (90, 30))
    rgb, alpha = images.load_image(_save(img, tmp_path / "la.png"))
    assert np.asarray(rgb).tolist() == [[[90] * 3] * 2] * 2
    assert (np.asarray(alpha) == 30).all()


@pytest.mark.parametrize("ext", ["png", "gif"])
def test_palette_with_transparency(tmp_path, ext):
    img = Image.new("P", (4, 2))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putdata([0, 1, 0, 1, 1, 1, 0, 0])
    img.info["transparency"] = 1
    path = _save(img, tmp_path / f"p.{ext}", transparency=1)
    rgb, alpha = images.load_image(path)
    idx = np.array([0, 1, 0, 1, 1, 1, 0, 0]).reshape(2, 4)
    assert (np.asarray(alpha) == np.where(idx == 1, 0, 255)).all()
    assert (np.asarray(rgb)[idx == 0] == [255, 0, 0]).all()


def test_palette_without_transparency(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([10, 20, 30] + [0] * 765)
    rgb, alpha = images.load_image(_save(img, tmp_path / "p.png"))
    assert alpha is None and np.asarray(rgb).tolist() == [[[10, 20, 30]] * 2]


@pytest.mark.parametrize("ext", ["jpg", "tif"])
def test_cmyk(tmp_path, ext):
    img = Image.new("CMYK", (8, 8), (0, 255, 255, 0))
    out = _rgb(_save(img, tmp_path / f"c.{ext}")).astype(int)
    assert np.abs(out - [255, 0, 0]).max() <= 8


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(img, tmp_path / "rot.jpg", exif=exif, quality=95)
    out = images.load_image_rgb(path)
    # Orientation 6 = rotate 90 degrees clockwise for display: left half ends up on top.
    assert out.size == (20, 40)
    arr = np.asarray(out).astype(int)
    assert np.abs(arr[5, 10] - [255, 0, 0]).max() < 30
    assert np.abs(arr[35, 10] - [0, 0, 255]).max() < 30


def test_broken_exif_keeps_pixels(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (3, 2), (1, 2, 3)), tmp_path / "e.png")

    def boom(img):
        raise SyntaxError("bad exif")

    monkeypatch.setattr(images.ImageOps, "exif_transpose", boom)
    assert images.load_image_rgb(path).size == (3, 2)


# --- bad input -------------------------------------------------------------------------


def _reason(path, **kw):
    with pytest.raises(ImageError) as info:
        images.load_image_rgb(path, **kw)
    assert info.value.path == path and str(path) in str(info.value)
    return info.value.reason


def test_zero_byte(tmp_path):
    (tmp_path / "z.jpg").write_bytes(b"")
    assert "empty file" in _reason(tmp_path / "z.jpg")


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (tmp_path / "t.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert "truncated" in _reason(tmp_path / "t.jpg")


def test_text_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("these are not pixels\n")
    assert "not an image" in _reason(tmp_path / "notes.jpg")


def test_missing_file(tmp_path):
    assert "not found" in _reason(tmp_path / "nope.png")


def test_directory_named_like_image(tmp_path):
    (tmp_path / "x.jpg").mkdir()
    assert "not a regular file" in _reason(tmp_path / "x.jpg")
    assert images.list_images(tmp_path) == []


@pytest.mark.parametrize("w,h", [(100_000, 100_000), (8_000, 7_500)])
def test_decompression_bomb_refused_without_allocating(tmp_path, w, h):
    # 100000^2 trips Pillow's own bomb check; 8000x7500 (60 MP) passes Pillow's but not ours.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(w, h, 8, 2))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reason = _reason(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert f"image too large ({w} x {h}" in reason
    assert grown_mb < 50


def test_max_pixels_configurable(tmp_path):
    path = _save(Image.new("RGB", (100, 60)), tmp_path / "m.png")
    assert "image too large (100 x 60" in _reason(path, max_pixels=5000)
    assert images.load_image_rgb(path, max_pixels=6000).size == (100, 60)


def test_unreadable_file(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (4, 4)), tmp_path / "locked.png")
    os.chmod(path, 0)
    if os.geteuid() == 0:
        # Root reads through chmod 000, so make the open itself fail as it would for a user.
        real_open = builtins.open

        def guarded(file, *args, **kw):
            if os.fspath(file) == os.fspath(path):
                raise PermissionError(13, "Permission denied", os.fspath(file))
            return real_open(file, *args, **kw)

        monkeypatch.setattr(builtins, "open", guarded)
    assert "permission denied" in _reason(path)


# --- listing ---------------------------------------------------------------------------


def test_list_images_recursive_sorted_odd_names(tmp_path):
    names = ["b.PNG", "a b:c.jpg", "sub/ünïcødé 日本.JpEg", "sub/deeper/z.webp", "c.tiff"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (2, 2), (9, 9, 9)).save(tmp_path / name, format="PNG")
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "noext").write_bytes(b"x")
    found = images.list_images(tmp_path)
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == ["a b:c.jpg", "b.PNG", "c.tiff", "sub/deeper/z.webp", "sub/ünïcødé 日本.JpEg"]
    assert all(_rgb(p)[0, 0].tolist() == [9, 9, 9] for p in found)


def test_list_images_single_file_and_missing(tmp_path):
    img = _save(Image.new("RGB", (2, 2)), tmp_path / "one.png")
    assert images.list_images(img) == [img]
    with pytest.raises(FileNotFoundError, match="nothere"):
        images.list_images(tmp_path / "nothere")


# --- tensors ---------------------------------------------------------------------------


# --- writing ---------------------------------------------------------------------------


def test_image_error_is_a_user_error(tmp_path):
    with pytest.raises(CycleganError) as info:
        images.load_image(tmp_path / "absent.png")
    assert isinstance(info.value, ImageError) and info.value.exit_code == 2
    assert info.value.path == tmp_path / "absent.png" and info.value.reason == "file not found"


def test_every_format_in_the_table_writes_and_reads_back(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    alpha = np.full((6, 10), 77, np.uint8)
    for name, fmt in images.FORMATS.items():
        for ext in fmt.extensions:
            dst = tmp_path / f"{name}{ext}"
            assert images.format_of(dst) == name and images.format_of(dst.with_suffix(ext.upper()))
            assert images.write_image(rgb, alpha, dst, quality=90) == fmt.alpha
            with Image.open(dst) as img:
                assert img.format == fmt.pillow and img.size == (10, 6)
                assert (img.mode == "RGBA") == fmt.alpha, name
            assert ext in images.IMAGE_EXTENSIONS
    assert not list(tmp_path.glob(".*"))  # no temp files left


def test_save_options_come_from_the_table(tmp_path, monkeypatch):
    webp = images.FORMATS["webp"]
    assert images.save_options(webp, 80, with_alpha=True) == {"quality": 80, "exact": True}
    assert images.save_options(webp, 80, with_alpha=False) == {"quality": 80}
    assert images.save_options(images.FORMATS["png"], 80, with_alpha=True) == {}
    # A new entry is all it takes to write a format.
    table = dict(images.FORMATS, pcx=images.OutputFormat((".pcx",), "PCX", alpha=False,
                                                         options={"dpi": (50, 50)}))
    monkeypatch.setattr(images, "FORMATS", table)
    rgb = np.zeros((4, 4, 3), np.uint8)
    assert images.write_image(rgb, np.zeros((4, 4), np.uint8), tmp_path / "a.pcx") is False
    with Image.open(tmp_path / "a.pcx") as img:
        assert img.format == "PCX" and img.mode == "RGB"
    with pytest.raises(ValueError, match="no writer"):
        images.write_image(rgb, None, tmp_path / "a.gif")


def test_write_png_and_grid(tmp_path):
    tile = Image.new("RGB", (16, 16), (255, 0, 0))
    grid = grids.labelled_grid([["input"], ["a=1", "b=2"]], [[tile, tile]] * 3)
    w, h = grid.size
    assert w >= 2 * grids.MIN_TILE and h >= 3 * grids.MIN_TILE
    images.write_png(tmp_path / "g.png", grid)
    with Image.open(tmp_path / "g.png") as img:
        assert img.format == "PNG" and img.size == (w, h)
    with pytest.raises(ValueError):
        grids.labelled_grid([["x"]], [])


def test_contact_sheet(tmp_path):
    Image.new("RGBA", (40, 20), (0, 200, 0, 100)).save(tmp_path / "a.png")
    Image.new("RGB", (20, 40), (0, 0, 200)).save(tmp_path / "b.jpg")
    pairs = [(tmp_path / "a.png", tmp_path / "b.jpg", "a"), (tmp_path / "b.jpg",
                                                           tmp_path / "a.png", "b")]
    out = grids.contact_sheet(pairs, tmp_path / "sheet.png", title="t", height=32)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.height > 2 * 32


def test_labelled_grid_layout():
    tile = Image.new("RGB", (32, 32), (255, 0, 0))
    grid = grids.labelled_grid([["input"], ["a=1", "b=2"]], [[tile, tile]] * 3)
    w, h = grid.size
    assert w >= 2 * grids.MIN_TILE and h >= 3 * grids.MIN_TILE
    arr = np.asarray(grid)
    assert (arr[: grids.PAD + 10] < 128).any()  # some label text drawn in the header
    assert (arr == [255, 0, 0]).all(-1).sum() == 6 * grids.MIN_TILE * grids.MIN_TILE


def test_list_images_follows_symlinked_folders_once(tmp_path):
    # Issue 22: a folder of links to shoots listed nothing under the links, silently.
    shoot = tmp_path / "shoots" / "2026"
    shoot.mkdir(parents=True)
    images.write_png(shoot / "a.png", Image.new("RGB", (4, 4)))
    top = tmp_path / "top"
    top.mkdir()
    (top / "link").symlink_to(shoot)
    (top / "again").symlink_to(shoot)  # the same folder by a second link: listed once
    (shoot / "loop").symlink_to(top)  # a loop back up: must end
    assert images.list_images(top) == [top / "again" / "a.png"]


def test_contact_sheet_says_how_many_it_shows_and_fits_its_title(tmp_path):
    # Issue 22: 24 pairs showed 16 without saying so, and a long title was clipped.
    Image.new("RGB", (20, 20), (0, 0, 200)).save(tmp_path / "a.png")
    pairs = [(tmp_path / "a.png", tmp_path / "a.png", f"p{i}") for i in range(24)]
    title = "input | output    " + "a model with a long description " * 3
    out = grids.contact_sheet(pairs, tmp_path / "sheet.png", title=title, height=20)
    with Image.open(out) as img:
        width, height = img.size
        header = np.asarray(img.convert("L"))[:24]
    assert height < 17 * (20 + 30)  # 16 rows
    full = title + "    (first 16 of 24)"
    font_w = ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(full)
    assert width >= font_w + 8
    inked = np.nonzero((header < 128).any(axis=0))[0]
    assert inked.max() > font_w - 40  # the count's text is drawn at the title's end


# Issue 30, item 10: a 16-bit PNG came back 8-bit without a word. The pipeline stays 8-bit
# (Pillow holds 16-bit colour only as 8-bit); the file's depth is recorded so the loss is
# said (cyclegan-infer's warning, summary and --help: images.DEPTH_NOTE).

def _low_byte_gradient(h=6, w=8, channels=3):
    """High byte constant, the information in the low byte: 8-bit reading flattens it."""
    yy, xx = np.mgrid[:h, :w]
    low = (xx * 31 + yy * 5) % 256
    return np.stack([0x8000 + low + 0x100 * k for k in range(channels)], -1).astype(np.uint16)


def test_a_16_bit_png_is_read_at_8_bits_and_says_its_depth(tmp_path):
    from conftest import write_png16

    arr = _low_byte_gradient()
    rgb, alpha = images.load_image(write_png16(tmp_path / "deep.png", arr))
    assert rgb.info[images.BITS] == 16 and alpha is None  # red without images._bits
    got = np.asarray(rgb)
    assert np.array_equal(got, (arr >> 8).astype(np.uint8))  # the low byte is gone
    assert len(np.unique(got[..., 0])) == 1 < len(np.unique(arr[..., 0]))
    # It survives the resizes of the working scale (Pillow copies .info along).
    assert rgb.resize((4, 3)).info[images.BITS] == 16


@pytest.mark.parametrize("kind", ["rgba-png", "gray-png", "rgb-tiff"])
def test_other_16_bit_files_say_their_depth(tmp_path, kind):
    from conftest import write_png16

    if kind == "rgba-png":
        path = write_png16(tmp_path / "a.png", _low_byte_gradient(channels=4))
    elif kind == "gray-png":
        path = tmp_path / "g.png"
        Image.fromarray(_low_byte_gradient(channels=1)[..., 0]).save(path)
    else:
        tifffile = pytest.importorskip("tifffile")
        path = tmp_path / "t.tif"
        tifffile.imwrite(path, _low_byte_gradient())
    assert images.load_image(path)[0].info[images.BITS] == 16


def test_8_bit_files_record_no_depth(tmp_path):
    path = tmp_path / "p.png"
    Image.new("RGB", (8, 6), (10, 20, 30)).save(path)
    Image.new("RGB", (8, 6), (10, 20, 30)).save(tmp_path / "p.tif")
    assert images.BITS not in images.load_image(path)[0].info
    assert images.BITS not in images.load_image(tmp_path / "p.tif")[0].info
