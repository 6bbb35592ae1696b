"""cyclegan.infer.storage: local paths, file://, an fsspec filesystem (memory://) and S3
(moto's server standing in) through one interface; the controller's planning of a run over
URIs. No Ray needed."""

import contextlib
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from cyclegan.errors import UsageError
from cyclegan.infer import InferConfig, storage
from cyclegan.infer.planning import plan

from conftest import s3_standin

pytest.importorskip("pyarrow.fs")


@pytest.fixture
def memory_fs():
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    yield fs
    fs.rm("/", recursive=True)


def test_uri_or_path():
    assert storage.is_uri("s3://bucket/a b.jpg") and storage.is_uri("file:///tmp/x")
    assert not storage.is_uri("/tmp/x") and not storage.is_uri("photos/s3:/x")
    assert not storage.is_uri(Path("a/b"))


def test_file_uri_and_path_name_the_same_file(tmp_path):
    (tmp_path / "a b#1?.png").write_bytes(b"x")  # no escaping: only scheme://authority parses
    uri = f"file://{tmp_path}/a b#1?.png"
    assert storage.read_bytes(uri) == storage.read_bytes(tmp_path / "a b#1?.png") == b"x"
    fs, path = storage.resolve(uri)
    assert storage.is_local(fs) and path == f"{tmp_path}/a b#1?.png"
    assert storage.kind(f"file://{tmp_path}") == "folder" and storage.kind(uri) == "file"
    assert storage.kind(f"file://{tmp_path}/nope") == "missing"


def test_local_write_is_atomic_and_lists_relative_names(tmp_path, monkeypatch):
    storage.write_bytes(f"file://{tmp_path}/out/sub/x.png", b"1")
    assert sorted(os.listdir(tmp_path / "out" / "sub")) == ["x.png"]  # no temp left
    assert storage.list_files(f"file://{tmp_path}/out") == ["sub/x.png"]
    assert storage.list_files(f"file://{tmp_path}/none") == []

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        storage.write_bytes(f"file://{tmp_path}/out/sub/x.png", b"22")
    assert sorted(os.listdir(tmp_path / "out" / "sub")) == ["x.png"]
    assert (tmp_path / "out" / "sub" / "x.png").read_bytes() == b"1"


def test_fsspec_filesystem_through_the_same_calls(memory_fs):
    storage.write_bytes("memory://bucket/in/a b.png", b"abc")
    assert memory_fs.cat("/bucket/in/a b.png") == b"abc"
    assert storage.read_bytes("memory://bucket/in/a b.png") == b"abc"
    assert storage.list_files("memory://bucket") == ["in/a b.png"]  # the temp was moved
    assert storage.kind("memory://bucket/in/a b.png") == "file"
    assert storage.modified("memory://bucket/in/missing.png") is None
    storage.remove("memory://bucket/in/a b.png")
    storage.remove("memory://bucket/in/a b.png")  # gone already: no error
    assert storage.list_files("memory://bucket") == []


def test_unknown_scheme_is_a_one_line_error():
    with pytest.raises(storage.StorageError, match="nosuchfs://"):
        storage.kind("nosuchfs://bucket/x")


def _photos(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    for name in ("a.jpg", "a.png", "sub/b.webp", "sub/c.gif"):
        Image.new("RGB", (8, 8)).save(root / name)
    (root / "notes.txt").write_text("not an image")


def _plan(src, out, fmt="keep", overwrite=False):
    cfg = InferConfig(input=src, output=out, format=fmt, overwrite=overwrite)
    with contextlib.ExitStack() as stack:
        p = plan(cfg.checked(), stack)
    return SimpleNamespace(rows=[(j.src, j.dst) for j in p.jobs], skipped=len(p.skipped),
                           failures=p.failures)


def test_plan_maps_names_like_the_local_engine(tmp_path):
    _photos(tmp_path / "in")
    p = _plan(f"file://{tmp_path}/in", f"file://{tmp_path}/out")
    root = f"file://{tmp_path}"
    assert p.rows == [(f"{root}/in/a.jpg", f"{root}/out/a.jpg"),
                      (f"{root}/in/a.png", f"{root}/out/a.png"),
                      (f"{root}/in/sub/b.webp", f"{root}/out/sub/b.webp"),
                      (f"{root}/in/sub/c.gif", f"{root}/out/sub/c.png")]  # gif -> png
    assert p.skipped == 0 and p.failures == []


def test_plan_skips_existing_reports_collisions(tmp_path):
    _photos(tmp_path / "in")
    (tmp_path / "out" / "sub").mkdir(parents=True)
    (tmp_path / "out" / "sub" / "b.png").write_bytes(b"done")
    p = _plan(f"file://{tmp_path}/in", f"file://{tmp_path}/out", fmt="png")
    assert [s.rsplit("/", 1)[1] for s, _ in p.rows] == ["a.jpg", "c.gif"]
    assert p.skipped == 1
    assert len(p.failures) == 1 and p.failures[0][0].endswith("in/a.png")
    assert "would also be written from" in p.failures[0][1]
    assert len(_plan(f"file://{tmp_path}/in", f"file://{tmp_path}/out", "png", True).rows) == 3


def test_plan_refuses_or_avoids_reading_its_own_output(tmp_path):
    _photos(tmp_path / "in")
    with pytest.raises(UsageError, match="is the input folder"):
        _plan(f"file://{tmp_path}/in", f"file://{tmp_path}/in/")
    (tmp_path / "in" / "out").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "out" / "old.png")
    p = _plan(f"file://{tmp_path}/in", f"file://{tmp_path}/in/out")
    assert not any("/out/old" in s for s, _ in p.rows) and len(p.rows) == 4
    with pytest.raises(UsageError, match="input not found"):
        _plan(f"file://{tmp_path}/missing", f"file://{tmp_path}/o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no images found"):
        _plan(f"file://{tmp_path}/empty", f"file://{tmp_path}/o")


def test_plan_single_image_to_a_named_file(tmp_path):
    _photos(tmp_path / "in")
    p = _plan(f"file://{tmp_path}/in/a.jpg", f"file://{tmp_path}/x/winter.png")
    assert p.rows == [(f"file://{tmp_path}/in/a.jpg", f"file://{tmp_path}/x/winter.png")]
    with pytest.raises(UsageError, match="names a png file, but --format is jpg"):
        _plan(f"file://{tmp_path}/in/a.jpg", f"file://{tmp_path}/x/winter.png", "jpg")
    with pytest.raises(UsageError, match="is an input file"):
        _plan(f"file://{tmp_path}/in/a.jpg", f"file://{tmp_path}/in/a.jpg")


@pytest.fixture(scope="module")
def s3():
    with s3_standin(["cg-storage"]) as requests:
        yield requests


def test_s3_names_listing_times_and_removal(s3):
    uri = "s3://cg-storage/out/sub/a b#1?.png"
    assert storage.modified(uri) is None and storage.kind("s3://cg-storage/out") == "missing"
    storage.write_bytes(uri, b"png bytes")
    assert storage.read_bytes(uri) == b"png bytes"
    assert storage.list_files("s3://cg-storage/out") == ["sub/a b#1?.png"]
    assert storage.kind("s3://cg-storage/out") == "folder" and storage.kind(uri) == "file"
    assert storage.modified(uri) > 0
    storage.remove(uri)
    storage.remove(uri)  # already gone: no error
    assert storage.modified(uri) is None


def test_s3_write_is_one_put_of_the_whole_object(s3):
    """Atomic on S3 means one PutObject: a multipart upload (POST ?uploads, then parts)
    is also invisible until complete, but costs three requests for a small file."""
    s3.clear()
    data = os.urandom(3_000_000)
    storage.write_bytes("s3://cg-storage/big/x.bin", data)
    writes = [r for r in s3 if not r.startswith(("GET", "HEAD"))]
    assert writes == ["PUT /cg-storage/big/x.bin"], s3
    assert storage.read_bytes("s3://cg-storage/big/x.bin") == data


def test_s3_plan_marks_nothing_and_refuses_a_missing_bucket(s3, tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    s3.clear()
    p = _plan(str(tmp_path), "s3://cg-storage/planned")
    assert p.rows == [(str(tmp_path / "a.jpg"), "s3://cg-storage/planned/a.jpg")]
    assert not [r for r in s3 if r.startswith("PUT")]  # no folder marker objects
    with pytest.raises(UsageError, match="nobucket"):
        _plan(str(tmp_path), "s3://nobucket/out")
