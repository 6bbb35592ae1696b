"""cyclegan-infer, what a translation keeps: pixels against the torch reference, sizes,
batches, alpha, colour modes, EXIF orientation, ICC profiles, output formats, resizing."""


import numpy as np
import pytest
from PIL import Image

from cyclegan.infer.io import target_size

from conftest import generator_reference, noise, run_cli, smooth

RNG = np.random.default_rng(0)


def test_output_matches_reference_and_keeps_sizes(tiny, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    sizes = {"a.png": (37, 51), "b.png": (64, 64), "c.png": (9, 13), "d.png": (255, 130)}
    for name, (w, h) in sizes.items():
        noise(w, h).save(src / name)
    assert run_cli("infer", src, out, "--model", tiny[0], "--quiet") == 0
    for name, (w, h) in sizes.items():
        got = np.asarray(Image.open(out / name))
        assert got.shape == (h, w, 3)
        want = generator_reference(tiny[1], np.asarray(Image.open(src / name)))
        assert np.abs(got.astype(int) - want).max() <= 1


def test_tiny_images_keep_their_size(tiny, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for w, h in [(1, 1), (3, 2), (1, 9), (7, 7)]:
        noise(w, h).save(src / f"{w}x{h}.png")
    assert run_cli("infer", src, out, "--model", tiny[0], "--quiet") == 0
    for w, h in [(1, 1), (3, 2), (1, 9), (7, 7)]:
        assert Image.open(out / f"{w}x{h}.png").size == (w, h)


def test_batching_does_not_change_results(tiny, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(7):
        noise(24 + 4 * (i % 2), 20).save(src / f"{i}.png")
    assert run_cli("infer", src, tmp_path / "b1", "--model", tiny[0], "--batch-size", 1,
                   "--quiet") == 0
    assert run_cli("infer", src, tmp_path / "b8", "--model", tiny[0], "--batch-size", 8,
                   "--quiet") == 0
    for i in range(7):
        a = np.asarray(Image.open(tmp_path / "b1" / f"{i}.png")).astype(int)
        b = np.asarray(Image.open(tmp_path / "b8" / f"{i}.png")).astype(int)
        assert np.abs(a - b).max() <= 1


@pytest.mark.parametrize("device, batch", [("cpu", 1), ("cuda", 8)])
def test_default_batch_follows_the_device(tiny, tmp_path, monkeypatch, device, batch):
    """Without --batch-size: one image per call on the CPU (batching measured slower
    there), batches of 8 on CUDA."""
    from cyclegan.infer.runtime import OrtGenerator

    seen = []
    init, call = OrtGenerator.__init__, OrtGenerator.__call__

    def init_on(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.device = device  # what the batch choice reads; the session stays on the CPU

    def spy(self, x):
        seen.append(len(x))
        return call(self, x)

    monkeypatch.setattr(OrtGenerator, "__init__", init_on)
    monkeypatch.setattr(OrtGenerator, "__call__", spy)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(10):
        noise(24, 20).save(src / f"{i}.png")
    assert run_cli("infer", src, tmp_path / "out", "--model", tiny[0], "--quiet") == 0
    assert max(seen) == batch and sum(seen) == 10


def test_alpha_carried_through_bit_exact(tiny, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noise(33, 21, "RGBA").save(src / "rgba.png")
    Image.merge("LA", [noise(20, 12).getchannel(0), noise(20, 12).getchannel(1)]).save(
        src / "la.png")
    pal = Image.fromarray(RNG.integers(0, 4, (10, 14), dtype=np.uint8), "P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    pal.save(src / "palette.png", transparency=2)
    noise(16, 16, "RGBA").save(src / "rgba.webp", lossless=True)
    assert run_cli("infer", src, out, "--model", tiny[0], "--quiet") == 0
    for name in ("rgba.png", "la.png", "palette.png", "rgba.webp"):
        want = Image.open(src / name).convert("RGBA").getchannel("A")
        got = Image.open(out / name)
        assert got.mode == "RGBA", name
        assert np.array_equal(np.asarray(got.getchannel("A")), np.asarray(want)), name


def test_jpg_output_drops_alpha_with_one_warning(tiny, tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        noise(16, 12, "RGBA").save(src / f"{i}.png")
    assert run_cli("infer", src, out, "--model", tiny[0], "--format", "jpg") == 0
    assert capsys.readouterr().err.count("transparency is dropped") == 1
    for i in range(3):
        img = Image.open(out / f"{i}.jpg")
        assert img.format == "JPEG" and img.mode == "RGB" and img.size == (16, 12)


def test_modes_grayscale_palette_cmyk_16bit(tiny, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    gray8 = RNG.integers(0, 256, (18, 22), dtype=np.uint8)
    Image.fromarray(gray8, "L").save(src / "gray.png")
    Image.fromarray(gray8.astype(np.uint16) * 257).save(src / "gray16.png")
    noise(22, 18).convert("P", palette=Image.Palette.ADAPTIVE).save(src / "palette.png")
    Image.new("CMYK", (22, 18), (10, 200, 30, 5)).save(src / "cmyk.jpg")
    Image.fromarray(gray8 > 128).save(src / "bilevel.png")
    assert Image.open(src / "gray16.png").mode.startswith("I")
    assert run_cli("infer", src, out, "--model", tiny[0], "--quiet") == 0
    for name in ("gray.png", "gray16.png", "palette.png", "cmyk.jpg", "bilevel.png"):
        img = Image.open(out / name)
        assert img.size == (22, 18) and img.mode == "RGB", name
    # 16-bit input scaled onto 8 bits gives exactly the 8-bit result.
    assert np.array_equal(np.asarray(Image.open(out / "gray.png")),
                          np.asarray(Image.open(out / "gray16.png")))


def test_exif_orientation_applied(tiny, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    base = noise(40, 24)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    base.save(src / "rotated.png", exif=exif)
    base.transpose(Image.Transpose.ROTATE_270).save(src / "upright.png")
    assert run_cli("infer", src, out, "--model", tiny[0], "--quiet") == 0
    rotated, upright = (np.asarray(Image.open(out / n)) for n in ("rotated.png", "upright.png"))
    assert rotated.shape == (40, 24, 3)
    assert np.array_equal(rotated, upright)


def test_icc_profile_and_exif_are_kept_with_the_orientation_reset(tiny, tmp_path):
    """Issue 22: outputs dropped the ICC profile (a Display-P3 phone photo shifted colour in
    viewers) and EXIF. An RGB profile and the EXIF tags are kept, the orientation reset (1 or
    absent: the pixels are stored upright, and 6 would turn the output twice); a CMYK profile,
    which does not describe the RGB written, is not. Both paths: at the photo's own size
    and at a working scale below it (the guided step)."""
    from PIL import ImageCms

    src = tmp_path / "in"
    src.mkdir()
    rgb_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert rgb_icc[16:20] == b"RGB "
    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x0110] = 6, "Acme", "Phone 9"
    smooth(64, 48).save(src / "phone.jpg", icc_profile=rgb_icc, exif=exif, quality=95)
    smooth(64, 48).save(src / "phone.png", icc_profile=rgb_icc, exif=exif)
    cmyk_icc = bytearray(rgb_icc)
    cmyk_icc[16:20] = b"CMYK"
    smooth(40, 40).convert("CMYK").save(src / "print.jpg", icc_profile=bytes(cmyk_icc))
    for args in ((), ("--work-size", 32)):
        out = tmp_path / f"out{len(args)}"
        assert run_cli("infer", src, out, "--model", tiny[0], "--quiet", *args) == 0
        for name in ("phone.jpg", "phone.png"):
            with Image.open(out / name) as im:
                assert im.size == (48, 64), name  # upright
                assert im.info.get("icc_profile") == rgb_icc, name
                tags = dict(im.getexif())
                assert tags.get(0x0112, 1) == 1 and tags[0x010F] == "Acme", (name, tags)
                assert tags[0x0110] == "Phone 9"
        with Image.open(out / "print.jpg") as im:
            assert im.mode == "RGB" and "icc_profile" not in im.info


def test_animated_input_heic_folder_and_an_input_named_like_the_sheet(tiny, tmp_path,
                                                                        capsys):
    # Issue 22: an animated GIF became its first frame without a word; a folder of .heic
    # said "no images" without naming what is read; an input named contact_sheet.png had
    # its translation replaced by the sheet.
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    frames = [Image.new("RGB", (24, 16), (40 * i, 90, 30)) for i in range(3)]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    smooth(24, 16).save(src / "contact_sheet.png")
    assert run_cli("infer", src, out, "--model", tiny[0], "--contact-sheet") == 0
    err = capsys.readouterr().err
    assert "anim.gif is animated (3 frames): only its first frame is translated" in err
    with Image.open(out / "contact_sheet.png") as translated:
        assert translated.size == (24, 16)  # the input's translation, not the sheet
    assert (out / "contact_sheet-2.png").is_file()
    heic = tmp_path / "heic"
    heic.mkdir()
    (heic / "IMG_0001.HEIC").write_bytes(b"\0" * 64)
    assert run_cli("infer", heic, tmp_path / "o2", "--model", tiny[0]) == 2
    assert ".jpg" in capsys.readouterr().err.split("no images found")[1]


def test_resize_options(tiny, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    noise(60, 30).save(src / "wide.png")
    assert run_cli("infer", src, tmp_path / "s", "--model", tiny[0], "--size", 20, "--quiet") == 0
    assert Image.open(tmp_path / "s" / "wide.png").size == (40, 20)
    assert run_cli("infer", src, tmp_path / "m", "--model", tiny[0], "--max-size", 24,
                   "--quiet") == 0
    assert Image.open(tmp_path / "m" / "wide.png").size == (24, 12)
    assert target_size(100, 50, None, 200) == (100, 50)
