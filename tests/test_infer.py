import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cyclegan
from cyclegan import contract
from cyclegan.cli.infer import main
from cyclegan.export.to_onnx import export_generator
from cyclegan.fileio import temp_path
from cyclegan.infer import bundled
from cyclegan.infer.io import target_size
from cyclegan.infer.runtime import choose_providers, gpu_present
from cyclegan.models import ModelConfig, ResnetGenerator

from conftest import generator_reference, wait_until

FIXTURE_0_1_0 = Path(__file__).resolve().parent / "fixtures" / "v0_1_0" / "G_A2B.onnx"

RNG = np.random.default_rng(0)


def _export(root: Path, cfg: ModelConfig, seed: int, name: str):
    torch.manual_seed(seed)
    gen = ResnetGenerator(cfg, fused=False).eval()
    data, _ = export_generator(gen, {"domains": {"A": "summer", "B": "winter"},
                                     "config": cfg.to_dict()}, "A2B")
    path = root / name
    path.write_bytes(data)
    return path, gen


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(onnx path, torch generator) of a tiny generator, exported once."""
    return _export(tmp_path_factory.mktemp("model"), ModelConfig(ngf=8, n_blocks=2), 0,
                   "tiny.onnx")


def noise(w, h, mode="RGB"):
    channels = {"RGB": 3, "RGBA": 4}[mode]
    return Image.fromarray(RNG.integers(0, 256, (h, w, channels), dtype=np.uint8), mode)


def smooth(w, h):
    """A smooth picture (compresses well, survives JPEG)."""
    yy, xx = np.mgrid[:h, :w]
    arr = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                    (xx + yy) * 127 // max(w + h - 2, 1)], -1)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def png_claiming(w, h) -> bytes:
    """A small PNG whose header claims w x h pixels (its pixel data is a few zero rows)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(bytes(1024))) + chunk(b"IEND", b""))


def cli(*args) -> int:
    return main([str(a) for a in args])


def bundle(monkeypatch, path: Path, name: str = bundled.DEFAULT_MODEL) -> None:
    """Make `path` the bundled model `name` (missing or a stand-in)."""
    monkeypatch.setitem(bundled.MODELS, name, bundled.BundledModel(str(path), "stand-in"))


def decodes_fully(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except Exception:
        return False


def test_output_matches_reference_and_keeps_sizes(tiny, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    sizes = {"a.png": (37, 51), "b.png": (64, 64), "c.png": (9, 13), "d.png": (255, 130)}
    for name, (w, h) in sizes.items():
        noise(w, h).save(src / name)
    assert cli(src, out, "--model", tiny[0], "--quiet") == 0
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
    assert cli(src, out, "--model", tiny[0], "--quiet") == 0
    for w, h in [(1, 1), (3, 2), (1, 9), (7, 7)]:
        assert Image.open(out / f"{w}x{h}.png").size == (w, h)


def test_batching_does_not_change_results(tiny, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(7):
        noise(24 + 4 * (i % 2), 20).save(src / f"{i}.png")
    assert cli(src, tmp_path / "b1", "--model", tiny[0], "--batch-size", 1, "--quiet") == 0
    assert cli(src, tmp_path / "b8", "--model", tiny[0], "--batch-size", 8, "--quiet") == 0
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
    assert cli(src, tmp_path / "out", "--model", tiny[0], "--quiet") == 0
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
    assert cli(src, out, "--model", tiny[0], "--quiet") == 0
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
    assert cli(src, out, "--model", tiny[0], "--format", "jpg") == 0
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
    assert cli(src, out, "--model", tiny[0], "--quiet") == 0
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
    assert cli(src, out, "--model", tiny[0], "--quiet") == 0
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
        assert cli(src, out, "--model", tiny[0], "--quiet", *args) == 0
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
    assert cli(src, out, "--model", tiny[0], "--contact-sheet") == 0
    err = capsys.readouterr().err
    assert "anim.gif is animated (3 frames): only its first frame is translated" in err
    with Image.open(out / "contact_sheet.png") as translated:
        assert translated.size == (24, 16)  # the input's translation, not the sheet
    assert (out / "contact_sheet-2.png").is_file()
    heic = tmp_path / "heic"
    heic.mkdir()
    (heic / "IMG_0001.HEIC").write_bytes(b"\0" * 64)
    assert cli(heic, tmp_path / "o2", "--model", tiny[0]) == 2
    assert ".jpg" in capsys.readouterr().err.split("no images found")[1]


def test_resize_options(tiny, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    noise(60, 30).save(src / "wide.png")
    assert cli(src, tmp_path / "s", "--model", tiny[0], "--size", 20, "--quiet") == 0
    assert Image.open(tmp_path / "s" / "wide.png").size == (40, 20)
    assert cli(src, tmp_path / "m", "--model", tiny[0], "--max-size", 24, "--quiet") == 0
    assert Image.open(tmp_path / "m" / "wide.png").size == (24, 12)
    assert target_size(100, 50, None, 200) == (100, 50)


def make_bad_folder(src: Path) -> dict[str, str]:
    """Good and bad inputs side by side; returns bad file name -> expected reason text."""
    (src / "sub dir").mkdir(parents=True)
    smooth(24, 16).save(src / "good one.jpg")
    smooth(20, 20).save(src / "sub dir" / "colon: tête à tête ñ.png")
    smooth(1, 1).save(src / "one pixel.png")
    (src / "zero.jpg").write_bytes(b"")
    buf = src / "full.jpg"
    smooth(64, 64).save(buf, quality=90)
    data = buf.read_bytes()
    (src / "truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    buf.unlink()
    (src / "text.jpg").write_text("this is not a picture\n")
    (src / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    (src / "large.png").write_bytes(png_claiming(10_000, 6_000))
    smooth(8, 8).save(src / "locked.png")
    (src / "notes.txt").write_text("ignored: not an image extension")
    (src / "data.bin").write_bytes(os.urandom(64))
    return {"zero.jpg": "empty file", "truncated.jpg": "truncated", "text.jpg": "not an image",
            "bomb.png": "too large", "large.png": "too large", "locked.png": "permission denied"}


@pytest.fixture
def locked(monkeypatch):
    """We run as root, so chmod 000 does not stop reads: make opening locked.png fail the
    way an unreadable file does (PermissionError from open) instead."""
    real_open = Image.open

    def guarded(fp, *args, **kwargs):
        if str(fp).endswith("locked.png"):
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", guarded)


def test_bad_inputs_are_reported_and_skipped(tiny, tmp_path, capsys, locked):
    src, out = tmp_path / "in", tmp_path / "out"
    bad = make_bad_folder(src)
    assert cli(src, out, "--model", tiny[0]) == 1
    report = capsys.readouterr().out
    assert "translated 3, skipped 0 (already done), failed 6" in report
    assert "cyclegan-failures.tsv" in report
    rows = (out / "cyclegan-failures.tsv").read_text().splitlines()
    assert len(rows) == len(bad)
    got = dict(row.split("\t") for row in rows)
    assert set(got) == {str(src / name) for name in bad}
    for name, reason in bad.items():
        assert reason in got[str(src / name)], (name, got[str(src / name)])
    for name in ("good one.jpg", "sub dir/colon: tête à tête ñ.png", "one pixel.png"):
        assert decodes_fully(out / name)
    assert Image.open(out / "one pixel.png").size == (1, 1)
    produced = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert produced == {"good one.jpg", "sub dir/colon: tête à tête ñ.png", "one pixel.png",
                        "cyclegan-failures.tsv"}


def test_failures_file_removed_once_fixed(tiny, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    smooth(12, 12).save(src / "ok.png")
    (src / "broken.png").write_bytes(b"\x89PNG nope")
    assert cli(src, out, "--model", tiny[0], "--quiet") == 1
    assert (out / "cyclegan-failures.tsv").is_file()
    smooth(12, 12).save(src / "broken.png")
    assert cli(src, out, "--model", tiny[0], "--quiet") == 0
    assert not (out / "cyclegan-failures.tsv").exists()
    assert decodes_fully(out / "broken.png")


@pytest.mark.parametrize("case", ["out_is_file", "out_under_file", "missing_input",
                                  "no_images", "missing_model", "bad_model", "bad_shard",
                                  "missing_default_model"])
def test_usage_errors_exit_2_before_any_work(tiny, tmp_path, capsys, monkeypatch, case):
    src, out, model = tmp_path / "in", tmp_path / "out", tiny[0]
    src.mkdir()
    smooth(12, 12).save(src / "a.png")
    extra = []
    if case == "out_is_file":
        out.write_text("a file")
    elif case == "out_under_file":
        (tmp_path / "f").write_text("a file")
        out = tmp_path / "f" / "sub"
    elif case == "missing_input":
        src = tmp_path / "nope"
    elif case == "no_images":
        (src / "a.png").unlink()
        (src / "readme.txt").write_text("x")
    elif case == "missing_model":
        model = tmp_path / "nope.onnx"
    elif case == "bad_model":
        model = tmp_path / "bad.onnx"
        model.write_text("not onnx")
    elif case == "bad_shard":
        extra = ["--shard", "3/3"]
    bundle(monkeypatch, tmp_path / "absent.onnx")
    args = [src, out] + (["--model", model] if case != "missing_default_model" else []) + extra
    assert cli(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith("cyclegan-infer: error:") and "Traceback" not in err
    if case == "missing_default_model":
        assert f"{bundled.DEFAULT_MODEL} model is missing" in err and "--model" in err
    if out.is_dir():
        assert not any(out.rglob("*.png"))


def test_rerun_skips_and_overwrite_redoes(tiny, tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(4):
        smooth(16 + i, 12).save(src / f"{i}.png")
    assert cli(src, out, "--model", tiny[0], "--quiet") == 0
    inodes = {p.name: p.stat().st_ino for p in out.iterdir()}
    capsys.readouterr()
    assert cli(src, out, "--model", tiny[0], "--quiet") == 0
    assert "translated 0, skipped 4" in capsys.readouterr().out
    assert {p.name: p.stat().st_ino for p in out.iterdir()} == inodes
    assert cli(src, out, "--model", tiny[0], "--quiet", "--overwrite") == 0
    assert "translated 4, skipped 0" in capsys.readouterr().out
    assert all(p.stat().st_ino != inodes[p.name] for p in out.iterdir())


def test_shards_partition_the_sorted_inputs(tiny, tmp_path):
    src = tmp_path / "in"
    (src / "d").mkdir(parents=True)
    names = [f"{i:02d}.png" for i in range(5)] + [f"d/{i}.png" for i in range(3)]
    for name in names:
        smooth(8, 8).save(src / name)
    done = []
    for i in range(3):
        out = tmp_path / f"out{i}"
        assert cli(src, out, "--model", tiny[0], "--shard", f"{i}/3", "--quiet") == 0
        mine = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
        assert mine == sorted(sorted(names)[i::3])
        done += mine
    assert sorted(done) == sorted(names)


def test_single_image_input(tiny, tmp_path):
    smooth(10, 6).save(tmp_path / "pic.jpg")
    assert cli(tmp_path / "pic.jpg", tmp_path / "out", "--model", tiny[0], "--quiet") == 0
    assert Image.open(tmp_path / "out" / "pic.jpg").size == (10, 6)
    assert cli(tmp_path / "pic.jpg", tmp_path / "x" / "w.png", "--model", tiny[0],
               "--quiet") == 0
    assert Image.open(tmp_path / "x" / "w.png").format == "PNG"


def test_format_png_name_collision_reported(tiny, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    smooth(8, 8).save(src / "a.jpg")
    smooth(8, 8).save(src / "a.png")
    smooth(8, 8).save(src / "anim.gif")
    assert cli(src, out, "--model", tiny[0], "--format", "png", "--quiet") == 1
    assert "would also be written" in (out / "cyclegan-failures.tsv").read_text()
    assert cli(src, tmp_path / "k", "--model", tiny[0], "--quiet") == 0
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["a.jpg", "a.png", "anim.png"]


def test_output_inside_input_is_not_read_back(tiny, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    smooth(8, 8).save(src / "a.png")
    for _ in range(2):
        assert cli(src, src / "out", "--model", tiny[0], "--quiet") == 0
    assert sorted(p.relative_to(src).as_posix() for p in src.rglob("*.png")) == [
        "a.png", "out/a.png"]


def test_stale_temp_files_cleaned(tiny, tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    smooth(8, 8).save(src / "a.png")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = temp_path(out / "a.png")
    stale = mine.with_name(mine.name.replace(f".{os.getpid()}-", f".{dead.pid}-"))
    live = mine.with_name(mine.name.replace(f".{os.getpid()}-", f".{os.getppid()}-"))
    stale.write_bytes(b"partial")
    live.write_bytes(b"partial")  # another run, still writing: never touched
    assert stale.name.startswith(".a.png.") and stale.name.endswith(".tmp")
    assert cli(src, out, "--model", tiny[0]) == 0
    assert "removed 1 temp files of an interrupted run" in capsys.readouterr().err
    assert not stale.exists() and live.exists()


def test_checkpoint_model_runs_through_onnx(tiny, tmp_path):
    from cyclegan.checkpoint import new_checkpoint, save_checkpoint

    state = new_checkpoint(tiny[1].config, {"A": "summer", "B": "winter"})
    state["G_A2B"] = tiny[1].state_dict()
    save_checkpoint(tmp_path / "c.pt", state)
    src = tmp_path / "in"
    src.mkdir()
    noise(20, 12).save(src / "a.png")
    assert cli(src, tmp_path / "o1", "--model", tmp_path / "c.pt", "--quiet") == 0
    assert cli(src, tmp_path / "o2", "--model", tiny[0], "--quiet") == 0
    a, b = (np.asarray(Image.open(tmp_path / o / "a.png")).astype(int) for o in ("o1", "o2"))
    assert np.abs(a - b).max() <= 1
    assert cli(src, tmp_path / "o3", "--model", tmp_path / "c.pt", "--direction", "B2A") == 2


def test_device_choice(monkeypatch, tiny, tmp_path, capsys):
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not gpu_present()
    assert choose_providers("auto") == ["CPUExecutionProvider"]
    smooth(8, 8).save(tmp_path / "a.png")
    assert cli(tmp_path / "a.png", tmp_path / "o", "--model", tiny[0], "--device", "cuda") == 2
    assert "--device cuda" in capsys.readouterr().err


def test_cuda_provider_matches_cpu(tiny, tmp_path):
    if not gpu_present() or len(choose_providers("auto")) < 2:
        pytest.skip("no GPU with onnxruntime's CUDA provider here")
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        noise(40 + 4 * i, 36).save(src / f"{i}.png")
    assert cli(src, tmp_path / "cpu", "--model", tiny[0], "--device", "cpu", "--quiet") == 0
    assert cli(src, tmp_path / "gpu", "--model", tiny[0], "--device", "cuda", "--quiet") == 0
    for i in range(5):
        a, b = (np.asarray(Image.open(tmp_path / d / f"{i}.png")).astype(int)
                for d in ("cpu", "gpu"))
        assert np.abs(a - b).max() <= 2


def test_default_run_with_stand_in_model(tiny, tmp_path, monkeypatch, capsys):
    """The no-argument run end to end, with the tiny model standing in for the demo one."""
    bundle(monkeypatch, tiny[0], bundled.DEMO_MODEL)
    monkeypatch.chdir(tmp_path)
    assert cli() == 0
    out = tmp_path / "cyclegan-output"
    samples = sorted(p.name for p in bundled.SAMPLES.iterdir())
    assert 6 <= len(samples) <= 10
    assert sorted(p.name for p in out.iterdir()) == sorted(samples + ["contact_sheet.png"])
    for name in samples:
        assert Image.open(out / name).size == Image.open(bundled.SAMPLES / name).size
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.format == "PNG" and sheet.width > 300 and sheet.height > 160 * len(samples)
    text = capsys.readouterr().out
    assert "cyclegan-output" in text and "contact_sheet.png" in text
    assert "bundled generators" in text and all(f"{n} " in text for n in bundled.MODELS)


def test_input_without_model_uses_the_real_photo_generator(tiny, tmp_path, monkeypatch,
                                                            capsys):
    bundle(monkeypatch, tiny[0])
    smooth(16, 12).save(tmp_path / "a.png")
    assert cli(tmp_path / "a.png", tmp_path / "o") == 0
    assert f"model: {tiny[0].name}" in capsys.readouterr().out
    assert bundled.DEFAULT_MODEL == "summer2winter"


def test_real_photos_keep_names_and_sizes(tiny, tmp_path, real_data):
    src = real_data / "testA"
    out = tmp_path / "out"
    assert cli(src, out, "--model", tiny[0], "--shard", "0/10", "--quiet") == 0
    inputs = sorted(p for p in src.iterdir() if p.suffix.lower() == ".jpg")[0::10]
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in inputs]
    for p in inputs:
        assert Image.open(out / p.name).size == Image.open(p).size


def test_bundled_samples_are_small_and_varied():
    files = sorted(bundled.SAMPLES.iterdir())
    assert sum(p.stat().st_size for p in files) < 300_000
    sizes = {Image.open(p).size for p in files}
    modes = {Image.open(p).mode for p in files}
    assert (256, 256) in sizes and any(w != h for w, h in sizes) and "RGBA" in modes


def test_default_run_with_bundled_demo_model(tmp_path, monkeypatch):
    demo = bundled.MODELS[bundled.DEMO_MODEL].path
    if not demo.is_file():
        pytest.skip(f"demo model not yet bundled at {demo}")
    monkeypatch.chdir(tmp_path)
    assert cli("--quiet") == 0
    assert (tmp_path / "cyclegan-output" / "contact_sheet.png").is_file()


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--model", "--device", "--batch-size", "--format", "--quality", "--size",
                 "--max-size", "--overwrite", "--shard", "exported to ONNX in memory",
                 "default: 8", "exit status"):
        assert flag in text, flag
    with pytest.raises(SystemExit):
        main(["--version"])
    assert cyclegan.__version__ in capsys.readouterr().out


# Interrupted runs: a real process, a model slow enough to be caught mid-way.


@pytest.fixture(scope="module")
def slow_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("slow")
    model, _ = _export(root, ModelConfig(ngf=16, n_blocks=3), 1, "slow.onnx")
    src = root / "in"
    src.mkdir()
    for i in range(40):
        smooth(192, 160).save(src / f"img {i:03d}.jpg", quality=80)
    return model, src


def _start(model, src, out):
    env = dict(os.environ)
    if not os.environ.get("CYCLEGAN_TEST_INSTALLED"):
        pkg_root = str(Path(cyclegan.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_root, env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "cyclegan.cli.infer", str(src), str(out), "--model",
           str(model), "--workers", "1", "--threads", "1", "--batch-size", "1"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_outputs(proc, out: Path, n: int) -> None:
    wait_until(lambda: out.is_dir() and len(list(out.glob("*.jpg"))) >= n, proc,
               f"{n} outputs were written")


def _check_outputs(out: Path) -> list[Path]:
    outputs = sorted(out.glob("*.jpg"))
    assert all(decodes_fully(p) for p in outputs)
    return outputs


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupted_run_then_rerun_completes(slow_job, tmp_path, sig, capsys):
    model, src = slow_job
    out = tmp_path / "out"
    proc = _start(model, src, out)
    _wait_for_outputs(proc, out, 3)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    done = _check_outputs(out)
    assert 3 <= len(done) < 40
    if sig != signal.SIGKILL:
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], stderr
        assert f"interrupted by {sig.name}" in stdout and "run the same command again" in stdout
        assert "Traceback" not in stderr, stderr
        assert not list(out.glob(".*"))  # in-flight writes finished or discarded
    else:
        assert proc.returncode == -signal.SIGKILL
    assert cli(src, out, "--model", model, "--quiet") == 0
    assert f"translated {40 - len(done)}, skipped {len(done)}" in capsys.readouterr().out
    assert len(_check_outputs(out)) == 40
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in src.iterdir())


def test_a_second_ctrl_c_aborts_at_once_with_one_line(slow_job, tmp_path, monkeypatch,
                                                      capsys):
    """The first Ctrl-C asks the pipeline to wind down (it finishes the writes in flight);
    a second one stops the command at once: 130 and one line, no summary, no traceback."""
    from cyclegan.infer import plan as plan_mod

    model, src = slow_job
    seen = {}

    def translate(model, jobs, opts, on_result):
        os.kill(os.getpid(), signal.SIGINT)
        seen["stop after the first"] = opts.stop.is_set()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the second Ctrl-C raises here
        seen["not aborted"] = True

    monkeypatch.setattr(plan_mod, "translate", translate)
    assert cli(src, tmp_path / "out", "--model", model) == 130
    assert seen == {"stop after the first": True}
    out, err = capsys.readouterr()
    assert "stopping; finishing writes in progress" in err
    assert [line for line in err.splitlines() if line.startswith("cyclegan-infer:")] == [
        "cyclegan-infer: SIGINT: aborted; run the same command again to finish"], err
    assert "Traceback" not in err and "interrupted by" not in out  # no summary


# The ONNX path is torch-free; files written by 0.1.0 still work.

TORCH_FREE = """
import sys
from cyclegan.cli.{cli} import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exc:
    rc = exc.code
torch = [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
print("TORCH-IMPORTED" if torch else "TORCH-FREE", file=sys.stderr)
sys.exit(rc)
"""


def run_torch_free(cli_name: str, *args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if not os.environ.get("CYCLEGAN_TEST_INSTALLED"):
        pkg_root = str(Path(cyclegan.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_root, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", TORCH_FREE.format(cli=cli_name),
                           *map(str, args)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_onnx_model_run_never_imports_torch(tiny, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    smooth(20, 12).save(src / "a.png")
    noise(9, 7, "RGBA").save(src / "b.png")
    done = run_torch_free("infer", src, tmp_path / "out", "--model", tiny[0], "--quiet")
    assert done.returncode == 0, done.stderr
    assert "TORCH-FREE" in done.stderr and "translated 2" in done.stdout
    assert Image.open(tmp_path / "out" / "b.png").size == (9, 7)


@pytest.mark.parametrize("args", [["--help"], ["--list-models"], ["--version"]])
def test_infer_help_never_imports_torch(args):
    done = run_torch_free("infer", *args)
    assert done.returncode == 0, done.stderr
    assert "TORCH-FREE" in done.stderr


def test_usage_error_without_torch(tmp_path):
    done = run_torch_free("infer", tmp_path / "absent", tmp_path / "out", "--model",
                          FIXTURE_0_1_0)
    assert done.returncode == 2 and "input not found" in done.stderr
    assert "TORCH-FREE" in done.stderr


def test_onnx_file_from_0_1_0_still_translates(tmp_path):
    meta = contract.read_metadata(FIXTURE_0_1_0)
    assert meta["format"] == contract.FORMAT and meta["package_version"] == "0.1.0"
    src = tmp_path / "in"
    src.mkdir()
    smooth(37, 29).save(src / "photo.jpg", quality=95)
    assert cli(src, tmp_path / "out", "--model", FIXTURE_0_1_0, "--quiet") == 0
    out = Image.open(tmp_path / "out" / "photo.jpg")
    assert out.format == "JPEG" and out.size == (37, 29)
    assert np.abs(np.asarray(out).astype(int) - np.asarray(Image.open(src / "photo.jpg"))).max() > 0


def test_bundled_model_by_name_and_list(tiny, tmp_path, capsys, monkeypatch):
    bundle(monkeypatch, tiny[0])
    smooth(8, 8).save(tmp_path / "a.png")
    assert cli(tmp_path / "a.png", tmp_path / "o", "--model", bundled.DEFAULT_MODEL,
               "--quiet") == 0
    assert (tmp_path / "o" / "a.png").is_file()
    capsys.readouterr()
    assert cli(tmp_path / "a.png", tmp_path / "o2", "--model", "summer2autumn") == 2
    err = capsys.readouterr().err
    assert err.startswith("cyclegan-infer: error: unknown model 'summer2autumn'")
    assert all(name in err for name in bundled.MODELS)
    assert cli("--list-models") == 0
    listing = capsys.readouterr().out
    assert all(f"{name} " in listing for name in bundled.MODELS) and "(default)" in listing
