"""cyclegan-infer, the run: bad inputs reported and skipped, the failures file, usage errors
before any work, re-runs and --overwrite, shards, single files, name collisions, temp files."""

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from cyclegan.fileio import temp_path
from cyclegan.infer import bundled

from conftest import bundle, decodes_fully, run_cli, smooth


def png_claiming(w, h) -> bytes:
    """A small PNG whose header claims w x h pixels (its pixel data is a few zero rows)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(bytes(1024))) + chunk(b"IEND", b""))


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
    assert run_cli("infer", src, out, "--model", tiny[0]) == 1
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
    assert run_cli("infer", src, out, "--model", tiny[0], "--quiet") == 1
    assert (out / "cyclegan-failures.tsv").is_file()
    smooth(12, 12).save(src / "broken.png")
    assert run_cli("infer", src, out, "--model", tiny[0], "--quiet") == 0
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
    assert run_cli("infer", *args) == 2
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
    assert run_cli("infer", src, out, "--model", tiny[0], "--quiet") == 0
    inodes = {p.name: p.stat().st_ino for p in out.iterdir()}
    capsys.readouterr()
    assert run_cli("infer", src, out, "--model", tiny[0], "--quiet") == 0
    assert "translated 0, skipped 4" in capsys.readouterr().out
    assert {p.name: p.stat().st_ino for p in out.iterdir()} == inodes
    assert run_cli("infer", src, out, "--model", tiny[0], "--quiet", "--overwrite") == 0
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
        assert run_cli("infer", src, out, "--model", tiny[0], "--shard", f"{i}/3", "--quiet") == 0
        mine = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
        assert mine == sorted(sorted(names)[i::3])
        done += mine
    assert sorted(done) == sorted(names)


def test_single_image_input(tiny, tmp_path):
    smooth(10, 6).save(tmp_path / "pic.jpg")
    assert run_cli("infer", tmp_path / "pic.jpg", tmp_path / "out", "--model", tiny[0],
                   "--quiet") == 0
    assert Image.open(tmp_path / "out" / "pic.jpg").size == (10, 6)
    assert run_cli("infer", tmp_path / "pic.jpg", tmp_path / "x" / "w.png", "--model", tiny[0],
               "--quiet") == 0
    assert Image.open(tmp_path / "x" / "w.png").format == "PNG"


def test_format_png_name_collision_reported(tiny, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    smooth(8, 8).save(src / "a.jpg")
    smooth(8, 8).save(src / "a.png")
    smooth(8, 8).save(src / "anim.gif")
    assert run_cli("infer", src, out, "--model", tiny[0], "--format", "png", "--quiet") == 1
    assert "would also be written" in (out / "cyclegan-failures.tsv").read_text()
    assert run_cli("infer", src, tmp_path / "k", "--model", tiny[0], "--quiet") == 0
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["a.jpg", "a.png", "anim.png"]


def test_output_inside_input_is_not_read_back(tiny, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    smooth(8, 8).save(src / "a.png")
    for _ in range(2):
        assert run_cli("infer", src, src / "out", "--model", tiny[0], "--quiet") == 0
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
    assert run_cli("infer", src, out, "--model", tiny[0]) == 0
    assert "removed 1 temp files of an interrupted run" in capsys.readouterr().err
    assert not stale.exists() and live.exists()
