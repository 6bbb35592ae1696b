import builtins
import io
import os
import resource
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan import data
from cyclegan.data import ImageError

from conftest import REAL_DATA, needs_real_data


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
    return np.asarray(data.load_image_rgb(path))


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
    rgb, alpha = data.load_image(path)
    assert rgb.mode == "RGB" and (np.asarray(rgb)[..., 0] == 200).all()
    assert (np.asarray(alpha) == arr[..., 3]).all()
    assert data.load_image_rgb(path).mode == "RGB"


def test_gray_alpha(tmp_path):
    img = Image.new("LA", (2, 2), (90, 30))
    rgb, alpha = data.load_image(_save(img, tmp_path / "la.png"))
    assert np.asarray(rgb).tolist() == [[[90] * 3] * 2] * 2
    assert (np.asarray(alpha) == 30).all()


@pytest.mark.parametrize("ext", ["png", "gif"])
def test_palette_with_transparency(tmp_path, ext):
    img = Image.new("P", (4, 2))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putdata([0, 1, 0, 1, 1, 1, 0, 0])
    img.info["transparency"] = 1
    path = _save(img, tmp_path / f"p.{ext}", transparency=1)
    rgb, alpha = data.load_image(path)
    idx = np.array([0, 1, 0, 1, 1, 1, 0, 0]).reshape(2, 4)
    assert (np.asarray(alpha) == np.where(idx == 1, 0, 255)).all()
    assert (np.asarray(rgb)[idx == 0] == [255, 0, 0]).all()


def test_palette_without_transparency(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([10, 20, 30] + [0] * 765)
    rgb, alpha = data.load_image(_save(img, tmp_path / "p.png"))
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
    out = data.load_image_rgb(path)
    # Orientation 6 = rotate 90 degrees clockwise for display: left half ends up on top.
    assert out.size == (20, 40)
    arr = np.asarray(out).astype(int)
    assert np.abs(arr[5, 10] - [255, 0, 0]).max() < 30
    assert np.abs(arr[35, 10] - [0, 0, 255]).max() < 30


def test_broken_exif_keeps_pixels(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (3, 2), (1, 2, 3)), tmp_path / "e.png")

    def boom(img):
        raise SyntaxError("bad exif")

    monkeypatch.setattr(data.ImageOps, "exif_transpose", boom)
    assert data.load_image_rgb(path).size == (3, 2)


# --- bad input -------------------------------------------------------------------------


def _reason(path, **kw):
    with pytest.raises(ImageError) as info:
        data.load_image_rgb(path, **kw)
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
    assert data.list_images(tmp_path) == []


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
    assert data.load_image_rgb(path, max_pixels=6000).size == (100, 60)


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
    found = data.list_images(tmp_path)
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == ["a b:c.jpg", "b.PNG", "c.tiff", "sub/deeper/z.webp", "sub/ünïcødé 日本.JpEg"]
    assert all(_rgb(p)[0, 0].tolist() == [9, 9, 9] for p in found)


def test_list_images_single_file_and_missing(tmp_path):
    img = _save(Image.new("RGB", (2, 2)), tmp_path / "one.png")
    assert data.list_images(img) == [img]
    with pytest.raises(FileNotFoundError, match="nothere"):
        data.list_images(tmp_path / "nothere")


# --- tensors ---------------------------------------------------------------------------


def test_pil_tensor_round_trip():
    arr = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = data.from_pil(Image.fromarray(arr))
    assert t.shape == (3, 5, 7) and t.dtype == torch.float32
    assert t.min() >= -1 and t.max() <= 1
    assert torch.allclose(t, torch.from_numpy(arr).permute(2, 0, 1) / 127.5 - 1)
    assert (np.asarray(data.to_pil(t)) == arr).all()
    assert np.asarray(data.to_pil(t[None])).shape == (5, 7, 3)
    clipped = data.to_pil(torch.tensor([-5.0, 0.0, 5.0]).view(3, 1, 1))
    assert np.asarray(clipped).tolist() == [[[0, 128, 255]]]
    with pytest.raises(ValueError, match="3 x H x W"):
        data.to_pil(torch.zeros(4, 2, 2))


# --- folder dataset --------------------------------------------------------------------


def _layout(root, sizes=((40, 30), (50, 50), (7, 5)), domains=("trainA", "trainB")):
    rng = np.random.default_rng(0)
    for d in domains:
        (root / d).mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / d / f"img {i}:x.png")
    return root


def test_folder_dataset_shapes_and_range(tmp_path):
    root = _layout(tmp_path)
    for domain in "AB":
        ds = data.make_dataset(root, domain, image_size=16, load_size=20)
        assert len(ds) == 3
        for i in range(3):
            t = ds[i]
            assert t.shape == (3, 16, 16) and t.dtype == torch.float32
            assert t.min() >= -1 and t.max() <= 1


def test_small_image_upscaled(tmp_path):
    root = _layout(tmp_path, sizes=((3, 2),))
    assert data.make_dataset(root, "A", image_size=32, load_size=36)[0].shape == (3, 32, 32)
    assert data.make_dataset(root, "A", image_size=8, augment=False)[0].shape == (3, 8, 8)


def test_no_augment_is_plain_resize(tmp_path):
    root = _layout(tmp_path)
    ds = data.make_dataset(root, "A", image_size=12, load_size=99, augment=False)
    img = Image.open(ds.files[0]).convert("RGB").resize((12, 12), Image.Resampling.BICUBIC)
    assert torch.equal(ds[0], data.from_pil(img))


def test_augment_is_crop_of_resized_maybe_flipped(tmp_path):
    root = _layout(tmp_path)
    ds = data.make_dataset(root, "A", image_size=8, load_size=12)
    big = data.from_pil(
        Image.open(ds.files[1]).convert("RGB").resize((12, 12), Image.Resampling.BICUBIC)
    )
    candidates = [c for top in range(5) for left in range(5)
                  for c in (big[:, top:top + 8, left:left + 8],
                            big[:, top:top + 8, left:left + 8].flip(-1))]
    seen = set()
    torch.manual_seed(0)
    for _ in range(30):
        t = ds[1]
        match = [k for k, c in enumerate(candidates) if torch.equal(t, c)]
        assert match, "augmented item is not a crop of the resized image"
        seen.add(match[0])
    assert len(seen) > 5
    assert any(k % 2 for k in seen) and any(k % 2 == 0 for k in seen)


def test_augment_follows_torch_rng(tmp_path):
    ds = data.make_dataset(_layout(tmp_path), "A", image_size=8, load_size=12)
    torch.manual_seed(3)
    first = [ds[i] for i in range(3)]
    torch.manual_seed(3)
    assert all(torch.equal(a, ds[i]) for i, a in enumerate(first))


def test_corrupt_files_skipped_counted_warned_once(tmp_path):
    root = _layout(tmp_path)
    (root / "trainA" / "bad 1.jpg").write_bytes(b"")
    (root / "trainA" / "bad 2.png").write_text("not an image")
    ds = data.make_dataset(root, "A", image_size=8, load_size=8, augment=False)
    assert len(ds) == 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds)) for _ in range(2)]
    assert all(t.shape == (3, 8, 8) for t in items)
    assert sorted(p.name for p in ds.bad_files) == ["bad 1.jpg", "bad 2.png"]
    ours = [w for w in caught if issubclass(w.category, data.BadImageWarning)]
    assert len(ours) == 1 and "bad 1.jpg" in str(ours[0].message)
    # A bad item is replaced by the next good one (wrapping around).
    good = {i: ds[i] for i in range(len(ds)) if ds.files[i] not in ds.bad_files}
    for i, path in enumerate(ds.files):
        if path in ds.bad_files:
            nxt = next(j % len(ds) for j in range(i + 1, i + 1 + len(ds)) if j % len(ds) in good)
            assert torch.equal(ds[i], good[nxt])


def test_all_files_unreadable(tmp_path):
    (tmp_path / "trainA").mkdir()
    for i in range(3):
        (tmp_path / "trainA" / f"{i}.jpg").write_bytes(b"")
    ds = data.make_dataset(tmp_path, "A", image_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="no readable images .*trainA.*all 3 files"):
            ds[0]


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(ValueError, match="data folder not found.*trainA"):
        data.make_dataset(tmp_path / "absent", "A")
    with pytest.raises(ValueError, match=r"domain folder not found: .*trainB.*expected layout"):
        data.make_dataset(_layout(tmp_path, domains=("trainA",)), "B")
    (tmp_path / "testA").mkdir()
    (tmp_path / "testA" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no images .* in .*testA.*expected layout"):
        data.make_dataset(tmp_path, "A", split="test")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="domain"):
        data.make_dataset("builtin:seasons", "C")
    with pytest.raises(ValueError, match="split"):
        data.make_dataset("builtin:seasons", "A", split="val")
    with pytest.raises(ValueError, match="load_size"):
        data.make_dataset("builtin:seasons", "A", image_size=64, load_size=32)
    with pytest.raises(ValueError, match="builtin:seasons"):
        data.make_dataset("builtin:faces", "A")


def test_domain_names(tmp_path):
    assert data.domain_names("builtin:seasons") == {"A": "summer", "B": "winter"}
    assert data.domain_names(tmp_path / "horse2zebra") == {"A": "horse", "B": "zebra"}
    assert data.domain_names("/x/summer2winter_yosemite") == {"A": "summer", "B": "winter"}
    assert data.domain_names(tmp_path / "facades") == {"A": "A", "B": "B"}


# --- built-in seasons ------------------------------------------------------------------


def test_seasons_pairs_shapes_and_determinism():
    summer, winter = data.seasons_pairs(3, 32, seed=5)
    assert summer.shape == winter.shape == (3, 3, 32, 32)
    assert summer.dtype == torch.float32
    assert summer.min() >= -1 and winter.max() <= 1
    again = data.seasons_pairs(3, 32, seed=5)
    assert torch.equal(summer, again[0]) and torch.equal(winter, again[1])
    assert torch.equal(summer[1:], data.seasons_pairs(2, 32, seed=6)[0])
    assert (summer[0] - summer[1]).abs().mean() > 0.05


def test_builtin_domains_unpaired_train_paired_test():
    a = data.make_dataset("builtin:seasons", "A", image_size=24, augment=False)
    b = data.make_dataset("builtin:seasons", "B", image_size=24, augment=False)
    assert len(a) == len(b) == 1000
    summer, _ = data.seasons_pairs(1, 24, seed=0)
    _, winter = data.seasons_pairs(1, 24, seed=1_000_000)
    assert torch.equal(a[0], summer[0]) and torch.equal(b[0], winter[0])
    ta = data.make_dataset("builtin:seasons", "A", "test", image_size=24, augment=False)
    tb = data.make_dataset("builtin:seasons", "B", "test", image_size=24, augment=False)
    assert len(ta) == 100
    s, w = data.seasons_pairs(2, 24, seed=2_000_000)
    assert torch.equal(ta[1], s[1]) and torch.equal(tb[1], w[1])
    assert len(data.make_dataset("builtin:seasons", "A", length=7)) == 7
    with pytest.raises(IndexError):
        a[1000]


def test_builtin_flip_follows_torch_rng():
    ds = data.make_dataset("builtin:seasons", "A", image_size=16)
    plain = data.seasons_pairs(1, 16, seed=2)[0][0]
    torch.manual_seed(0)
    outs = [ds[2] for _ in range(20)]
    assert all(torch.equal(o, plain) or torch.equal(o, plain.flip(-1)) for o in outs)
    assert any(torch.equal(o, plain) for o in outs) and any(
        torch.equal(o, plain.flip(-1)) for o in outs
    )
    torch.manual_seed(0)
    assert all(torch.equal(o, ds[2]) for o in outs)


# --- real photos -----------------------------------------------------------------------


@needs_real_data
def test_real_photo_folder():
    files = data.list_images(REAL_DATA / "trainA")
    assert len(files) > 0 and any(":" in p.name and " " in p.name for p in files)
    assert data.domain_names(REAL_DATA) == {"A": "summer", "B": "winter"}
    for domain in "AB":
        ds = data.make_dataset(REAL_DATA, domain, "test", image_size=64, load_size=72)
        t = ds[0]
        assert t.shape == (3, 64, 64) and -1 <= t.min() and t.max() <= 1 and t.std() > 0.05
        assert not ds.bad_files
