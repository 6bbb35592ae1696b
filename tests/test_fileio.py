import os
import subprocess
import sys

import pytest

from cyclegan import fileio


def test_atomic_write_replaces_the_file(tmp_path):
    target = tmp_path / "sub" / "m.bin"
    fileio.atomic_write_bytes(target, b"old")
    fileio.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["m.bin"]


def test_failed_rename_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        fileio.atomic_write_bytes(tmp_path / "m.onnx", b"data")
    assert list(tmp_path.iterdir()) == []


def test_error_while_writing_keeps_the_old_file(tmp_path):
    target = tmp_path / "ckpt.pt"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError), fileio.atomic_writer(target) as f:
        f.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


@pytest.mark.parametrize("name", ["a" * 251 + ".png", "冬" * 78 + ".jpg", "x" * 236],
                         ids=["255-bytes", "cjk-238-bytes", "236-bytes"])
def test_longest_legal_names_are_written(tmp_path, name):
    # NAME_MAX is 255 bytes; the temp name must not add to a name that is already that long.
    assert len(name.encode()) <= 255
    target = tmp_path / name
    fileio.atomic_write_bytes(target, b"data")
    assert target.read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_temp_names_of_long_files_are_still_found_and_cleaned(tmp_path):
    name = "冬" * 80 + ".png"
    tmp = fileio.temp_path(tmp_path / name)
    assert len(tmp.name.encode()) <= 255 and fileio.is_temp(tmp)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # (one character fewer: room for a longer pid)
    stale = tmp_path / ("." + tmp.name[2:].replace(f".{os.getpid()}-", f".{dead.pid}-"))
    stale.write_bytes(b"x")
    assert fileio.remove_stale_temps(tmp_path) == 1 and not stale.exists()
