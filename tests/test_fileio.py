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
