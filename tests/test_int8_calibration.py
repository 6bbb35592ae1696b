"""int8 calibration input: mixed sizes and orientations on a fixed square canvas (issue 30)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclegan.cli.export import main
from cyclegan.contract import DEFAULT_GEOMETRY, read_metadata
from cyclegan.export import int8_calibration as calib
from cyclegan.infer.io import Job, decode
from cyclegan.models import ModelConfig

from conftest import summer_generator_and_photos

CFG = ModelConfig(ngf=8, n_blocks=2)
# (width, height) in sorted name order; every HELD_BACK-th (4th, 8th) is held back for the
# gate, so the gate judges a portrait and a 4:3 photo at their own shapes.
SIZES = [(64, 64), (96, 64), (64, 64), (64, 96), (64, 64), (80, 64), (64, 64), (64, 48)]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A tiny fp32 export and a calibration folder mixing squares, landscape, portrait and
    4:3 photos (rendered landscapes resized to each size)."""
    root = tmp_path_factory.mktemp("mixed")
    ckpt = summer_generator_and_photos(root, CFG, photos=len(SIZES), size=96, seed=4_100_000)
    for (w, h), path in zip(SIZES, sorted((root / "photos").iterdir())):
        Image.open(path).convert("RGB").resize((w, h), Image.Resampling.LANCZOS).save(path)
    assert main([str(ckpt), "--out", str(root / "fp32"), "--quiet"]) == 0
    return root


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_mixed_orientations_calibrate_with_every_method(mixed, tmp_path, method, capsys):
    # Issue 30: rc 2, "inhomogeneous shape" as soon as a chunk held two shapes; red, with
    # that message for all three methods, on the code before windows (whole photos).
    out = tmp_path / "o"
    assert main([str(mixed / "fp32" / "G_A2B.onnx"), "--out", str(out), "--int8",
                 "--calibrate", str(mixed / "photos"), "--calibrate-size", "32",
                 "--calibration-method", method]) == 0, capsys.readouterr().err
    assert "median PSNR" in capsys.readouterr().out  # the gate ran and judged it
    record = json.loads(read_metadata(out / "G_A2B.int8.onnx")["quantization"])
    assert record["method"] == method
    assert (record["calibration_images"], record["gate_images"]) == (6, 2)
    # 4 squares and 2 landscapes (48 x 32 and 40 x 32 at size 32: 2 windows each)
    assert record["calibration_windows"] == 4 * 1 + 2 * 2
    assert record["psnr_worst_db"] >= 25.0


def test_windows_cover_the_photo_at_one_shape():
    rgb = np.arange(32 * 75 * 3, dtype=np.int32).reshape(32, 75, 3)
    wins = calib.windows(rgb)
    assert [w.shape for w in wins] == [(32, 32, 3)] * 3
    starts = calib.window_starts(75, 32)
    assert starts == [0, 22, 43] and starts[-1] + 32 == 75
    covered = np.zeros(75, bool)
    for s, w in zip(starts, wins):
        assert np.array_equal(w, rgb[:, s:s + 32])
        covered[s:s + 32] = True
    assert covered.all()
    tall = calib.windows(rgb.transpose(1, 0, 2))
    assert [w.shape for w in tall] == [(32, 32, 3)] * 3


def test_a_panorama_gives_at_most_max_windows_spread_to_both_ends():
    assert len(calib.window_starts(4 * 32, 32)) == calib.MAX_WINDOWS == 4  # covered whole
    starts = calib.window_starts(12 * 32, 32)  # 12:1 would be 12 windows without the cap
    assert starts == [0, 117, 235, 352] and starts[-1] + 32 == 12 * 32
    rgb = np.zeros((32, 1000 * 32, 3), np.uint8)
    assert len(calib.windows(rgb)) == len(calib.windows(rgb.transpose(1, 0, 2))) == 4
    assert calib.Photo(Path("strip.png"), 20_000, 20).window_count(32) == 4


def test_a_square_photo_calibrates_on_what_it_did_before(tmp_path):
    """The bundled int8 files were calibrated on square photos: their one window is the
    whole photo, so their calibration input (and recipe) is unchanged."""
    path = tmp_path / "sq.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (90, 90, 3), np.uint8)).save(path)
    photo = calib.Photo(path, 90, 90)
    [x] = photo.inputs(36, DEFAULT_GEOMETRY)
    before = decode(Job(path, path), size=36, geometry=DEFAULT_GEOMETRY).x
    assert np.array_equal(x, before)
    assert photo.window_count(36) == 1


def test_reader_yields_one_shape_and_decodes_each_photo_once(tmp_path, monkeypatch):
    photos = []
    for i, (w, h) in enumerate([(64, 48), (48, 64), (40, 40)]):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (w, h), (i * 50, 80, 20)).save(path)
        photos.append(calib.Photo(path, w, h))
    decoded = []
    inputs = calib.Photo.inputs
    monkeypatch.setattr(calib.Photo, "inputs",
                        lambda self, *a: decoded.append(self.path.name) or inputs(self, *a))
    reader = calib.Reader("x", photos, 16, DEFAULT_GEOMETRY)
    assert len(reader) == 2 + 2 + 1
    shapes = []
    while (batch := reader.get_next()) is not None:
        shapes.append(batch["x"].shape)
    assert shapes == [(1, 3, 16, 16)] * 5 and decoded == ["0.png", "1.png", "2.png"]
    reader.set_range(1, 3)  # a chunk starting inside a photo's windows
    assert [reader.get_next()["x"].shape for _ in range(2)] == [(1, 3, 16, 16)] * 2
    assert reader.get_next() is None
