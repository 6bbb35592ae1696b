"""cyclegan.infer.runtime: providers chosen safely, model errors, lazy torch."""

import numpy as np
import pytest

from cyclegan.errors import UsageError
from cyclegan.infer import binding, runtime, variants

from conftest import tiny_onnx


def test_cpu_and_hidden_gpu(monkeypatch):
    assert runtime.choose_providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not runtime.gpu_present()
    assert runtime.choose_providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(runtime.ModelError, match="--device must be one of"):
        runtime.choose_providers("tpu")


def test_model_errors_are_usage_errors(tmp_path):
    assert issubclass(runtime.ModelError, UsageError)
    with pytest.raises(runtime.ModelError, match="model not found"):
        runtime.load_model(tmp_path / "absent.onnx")
    (tmp_path / "bad.onnx").write_text("not onnx")
    with pytest.raises(runtime.ModelError, match="cannot load .* as an ONNX model"):
        runtime.load_model(tmp_path / "bad.onnx", device="cpu")
    (tmp_path / "bad.pt").write_text("not a checkpoint")
    with pytest.raises(runtime.ModelError, match="cannot use .* as a model"):
        runtime.load_model(tmp_path / "bad.pt", device="cpu", log=lambda m: None)


def _files(folder, *names):
    for name in names:
        # Choosing goes by name; a variant that cannot be read is not judged stale (loading
        # it says what is wrong), so empty files stand in for models here.
        (folder / name).write_bytes(b"")
    return folder / "G.onnx"


def test_precision_auto_prefers_the_fast_variant_beside_the_model(tmp_path):
    model = _files(tmp_path, "G.onnx", "G.int8.onnx", "G.fp16.onnx")
    assert variants.choose(model, "auto", "cpu").name == "G.int8.onnx"
    assert variants.choose(model, "auto", "cuda").name == "G.fp16.onnx"
    assert variants.choose(model, "fp32", "cpu") == model
    assert variants.choose(tmp_path / "G.int8.onnx", "fp32", "cpu") == model
    assert variants.choose(tmp_path / "G.fp16.onnx", "auto", "cpu").name == "G.fp16.onnx"
    assert variants.available(model) == ["fp32", "fp16", "int8"]
    assert [variants.precision_of(tmp_path / n) for n in ("G.onnx", "G.int8.onnx")] == [
        "fp32", "int8"]


def test_precision_missing_variant(tmp_path):
    model = _files(tmp_path, "G.onnx")
    assert variants.choose(model, "auto", "cpu") == model
    with pytest.raises(variants.PrecisionError, match="G.int8.onnx not found .* --int8"):
        variants.choose(model, "int8", "cpu")
    with pytest.raises(variants.PrecisionError, match="--precision must be one of"):
        variants.choose(model, "int4", "cpu")
    assert issubclass(variants.PrecisionError, UsageError)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("rt") / "G_A2B.onnx", meta={})[0]


def test_io_binding_on_the_cpu_provider_matches_session_run(tiny_model, monkeypatch):
    monkeypatch.setattr(binding, "MAX_SHAPES", 2)  # the third shape runs unbound-to-a-slot
    model = runtime.OrtGenerator(tiny_model, "cpu", threads=1)
    rng = np.random.default_rng(0)
    shapes = [(2, 3, 16, 24), (1, 3, 8, 8), (2, 3, 16, 24), (3, 3, 12, 20)]
    first = None
    for shape in shapes:
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        want = model.session.run(None, {"input": x})[0]
        got = model(x)
        np.testing.assert_array_equal(got, want)
        if first is None:
            first, first_copy = got, got.copy()
    # The fixed output buffer of a shape is reused: what a caller holds must not change.
    np.testing.assert_array_equal(first, first_copy)
    assert len(model._run.slots) == 2


def test_infer_runs_the_int8_variant_and_says_so(tiny_model, tmp_path, capsys):
    from PIL import Image

    from cyclegan.cli.infer import main
    from cyclegan.export import quantize

    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(
            tmp_path / f"c{i}.png")
    photos = quantize.load_photos(tmp_path, log=lambda m: None)
    fp32 = tiny_model.read_bytes()
    int8 = quantize.with_int8_metadata(quantize.quantize_bytes(fp32, photos, 16), fp32, {})
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / "G_A2B.onnx").write_bytes(tiny_model.read_bytes())
    (model_dir / "G_A2B.int8.onnx").write_bytes(int8)
    Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    args = [str(tmp_path / "a.png"), str(tmp_path / "o"), "--model",
            str(model_dir / "G_A2B.onnx"), "--quiet", "--device", "cpu"]
    assert main(args) == 0
    assert "model: G_A2B.int8.onnx (A -> B, int8) on cpu" in capsys.readouterr().out
    assert main([*args, "--precision", "fp32", "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert "model: G_A2B.onnx (A -> B, fp32) on cpu" in out
    assert main([*args, "--precision", "fp16"]) == 2
    assert "G_A2B.fp16.onnx not found" in capsys.readouterr().err


def _with_metadata(path, out, **props):
    """A copy of ONNX file `path` at `out` with metadata entries replaced (weights kept)."""
    import onnx

    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    meta.update(props)
    del model.metadata_props[:]
    for key, value in meta.items():
        if value is not None:
            model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(out))
    return out


def test_the_size_rule_is_read_from_the_model_file(tiny_model, tmp_path):
    from cyclegan.contract import Geometry

    assert runtime.OrtGenerator(tiny_model, "cpu").geometry == Geometry(4, 8)
    wide = _with_metadata(tiny_model, tmp_path / "g8.onnx", size_multiple="8", min_size="24")
    assert runtime.OrtGenerator(wide, "cpu").geometry == Geometry(8, 24)
    # A file without the entries (written before they existed) gets the constants.
    bare = _with_metadata(tiny_model, tmp_path / "bare.onnx", size_multiple=None, min_size=None)
    assert runtime.OrtGenerator(bare, "cpu").geometry == Geometry()
    bad = _with_metadata(tiny_model, tmp_path / "bad.onnx", size_multiple="x")
    with pytest.raises(runtime.ModelError, match="bad.onnx: damaged metadata size_multiple"):
        runtime.OrtGenerator(bad, "cpu")
