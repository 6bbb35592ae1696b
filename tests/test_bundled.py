"""The generators shipped in the package: present, small, self-describing, and working."""

import json

import numpy as np
import pytest
from PIL import Image

from cyclegan.contract import read_metadata, work_size_of
from cyclegan.infer import bundled
from cyclegan.infer.variants import available

REAL_PHOTO_MODELS = {"summer2winter": ("A2B", "summer", "winter"),
                     "winter2summer": ("B2A", "winter", "summer")}
MAX_BYTES = 12_000_000


@pytest.mark.parametrize("name", REAL_PHOTO_MODELS)
def test_real_photo_generators_ship_small_and_self_describing(name):
    path = bundled.MODELS[name].path
    assert path.is_file(), f"{path} is not in the package"
    assert path.stat().st_size <= MAX_BYTES
    meta = read_metadata(path)
    direction, source, target = REAL_PHOTO_MODELS[name]
    assert (meta["direction"], meta["source_domain"], meta["target_domain"]) == (
        direction, source, target)
    assert json.loads(meta["model_config"])["upsample"] == "resize"
    assert "int8" in available(path)
    int8 = path.with_name(path.name.replace(".onnx", ".int8.onnx"))
    assert read_metadata(int8)["precision"] == "int8"


# What each bundled model was trained at (benchmarks/bundled_models.sh: --load-size 256 on
# the photos; the demo on builtin:seasons rendered at --image-size 128).
WORK_SIZES = {"summer2winter": 256, "winter2summer": 256, "demo": 128}


@pytest.mark.parametrize("name", WORK_SIZES)
def test_bundled_models_record_their_working_scale_in_every_variant(name):
    path = bundled.MODELS[name].path
    for precision in available(path):
        variant = path if precision == "fp32" else path.with_name(
            path.name.replace(".onnx", f".{precision}.onnx"))
        meta = read_metadata(variant)
        assert work_size_of(meta) == WORK_SIZES[name], variant
        assert json.loads(meta["model_config"])["work_size"] == WORK_SIZES[name]


def test_default_model_is_the_real_photo_one():
    assert bundled.DEFAULT_MODEL == "summer2winter" and bundled.DEMO_MODEL == "demo"
    assert bundled.resolve_model(None) == bundled.MODELS["summer2winter"].path


@pytest.mark.parametrize("name, folder", [("summer2winter", "testA"),
                                          ("winter2summer", "testB")])
def test_real_photo_generators_translate_real_photos(name, folder, real_data, tmp_path):
    from cyclegan.cli.infer import main

    src = sorted((real_data / folder).iterdir())[0]
    out = tmp_path / "out.jpg"
    assert main([str(src), str(out), "--model", name, "--precision", "fp32", "--quiet"]) == 0
    a = np.asarray(Image.open(src).convert("RGB"), dtype=float)
    b = np.asarray(Image.open(out), dtype=float)
    assert a.shape == b.shape
    assert 3 < np.abs(a - b).mean() < 100
