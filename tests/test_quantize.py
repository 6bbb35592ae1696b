"""int8 export: cyclegan-export --int8 --calibrate on a tiny generator, the gate, bad input."""

import json

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from cyclegan import quantize
from cyclegan.checkpoint import new_checkpoint, save_checkpoint
from cyclegan.cli.export import main
from cyclegan.data import seasons_pairs, to_pil
from cyclegan.infer.runtime import OrtGenerator
from cyclegan.models import ModelConfig, ResnetGenerator

CFG = ModelConfig(ngf=8, n_blocks=2)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny one-direction checkpoint and 8 small landscape photos to calibrate on."""
    root = tmp_path_factory.mktemp("quantize")
    torch.manual_seed(0)
    state = new_checkpoint(CFG, {"A": "summer", "B": "winter"})
    state["G_A2B"] = ResnetGenerator(CFG, fused=False).eval().state_dict()
    save_checkpoint(root / "tiny.pt", state)
    photos = root / "photos"
    photos.mkdir()
    for i, img in enumerate(seasons_pairs(8, 64, seed=4_000_000)[0]):
        to_pil(img).save(photos / f"p{i}.jpg", quality=90)
    out = root / "onnx"
    assert main([str(root / "tiny.pt"), "--out", str(out), "--int8", "--calibrate",
                 str(photos), "--quiet"]) == 0
    return {"root": root, "ckpt": root / "tiny.pt", "photos": photos, "out": out}


def test_int8_written_beside_fp32_with_metadata(setup):
    path = setup["out"] / "G_A2B.int8.onnx"
    assert sorted(p.name for p in setup["out"].iterdir()) == ["G_A2B.int8.onnx", "G_A2B.onnx"]
    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
    assert "QuantizeLinear" in {n.op_type for n in model.graph.node}
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["precision"] == "int8" and meta["direction"] == "A2B"
    record = json.loads(meta["quantization"])
    assert record["method"] == quantize.DEFAULT_METHOD
    assert record["calibration_images"] + record["gate_images"] == 8
    assert record["psnr_worst_db"] >= quantize.GATE_WORST_DB
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    assert record["float_nodes"] == sorted({convs[0], convs[-1]})  # first and last stay float


def test_int8_graph_is_rewritten_and_cannot_saturate(setup):
    """7-bit weights (no u8 x s8 pair can overflow 16 bits without VNNI), the upsampling
    ConvTranspose quantized as a sub-pixel Conv, the pads moved into uint8."""
    from onnx import numpy_helper

    model = onnx.load(setup["out"] / "G_A2B.int8.onnx")
    record = json.loads({p.key: p.value for p in model.metadata_props}["quantization"])
    assert record["reduce_range"] is True
    assert record["graph_rewrites"] == ["conv_transpose x2", "head"]
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    weights = [inits[n.input[0]] for n in model.graph.node if n.op_type == "DequantizeLinear"
               and inits.get(n.input[0]) is not None and inits[n.input[0]].dtype == np.int8]
    assert len(weights) >= 2 * CFG.n_blocks + 4  # downsampling, trunk and sub-pixel convs
    # 2 * 255 * 64 = 32640 fits in int16; 8-bit weights (127) would not.
    assert max(np.abs(w.astype(np.int32)).max() for w in weights) <= 64
    producer = {o: n.op_type for n in model.graph.node for o in n.output}
    ops = [n.op_type for n in model.graph.node]
    assert "ConvTranspose" not in ops and "DepthToSpace" in ops
    assert not any(n.op_type == "QuantizeLinear" and producer.get(n.input[0]) == "Pad"
                   for n in model.graph.node)


def test_untuned_graph_is_onnxruntimes_plain_qdq(setup):
    """tuned=False (the benchmark's baseline) skips every rewrite: ConvTranspose stays and
    weights use the full 8-bit range."""
    from onnx import numpy_helper

    photos = quantize.load_photos(setup["photos"], 4, log=lambda m: None)
    model = onnx.load_from_string(quantize.quantize_bytes(
        (setup["out"] / "G_A2B.onnx").read_bytes(), photos, tuned=False))
    ops = [n.op_type for n in model.graph.node]
    assert "ConvTranspose" in ops and "DepthToSpace" not in ops
    weights = [numpy_helper.to_array(t) for t in model.graph.initializer
               if t.data_type == onnx.TensorProto.INT8]
    assert max(np.abs(w.astype(np.int32)).max() for w in weights) > 64


def test_int8_output_close_to_fp32(setup):
    x = np.asarray(Image.open(next(setup["photos"].iterdir())), np.float32)
    x = (x.transpose(2, 0, 1)[None] / 127.5 - 1).astype(np.float32)
    want = OrtGenerator(setup["out"] / "G_A2B.onnx", "cpu")(x)
    got = OrtGenerator(setup["out"] / "G_A2B.int8.onnx", "cpu")(x)
    assert got.shape == want.shape and np.abs(got - want).mean() < 0.05


def test_from_onnx_file_writes_the_pair(setup, tmp_path, capsys):
    out = tmp_path / "models"
    assert main([str(setup["out"] / "G_A2B.onnx"), "--out", str(out), "--int8",
                 "--calibrate", str(setup["photos"]), "--calibrate-images", "4"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["G_A2B.int8.onnx", "G_A2B.onnx"]
    printed = capsys.readouterr().out
    assert "median PSNR" in printed and "worst" in printed


def _fails(args, capsys, match, code=2):
    assert main([str(a) for a in args]) == code
    err = capsys.readouterr().err
    assert match in err, err
    return err


def test_int8_without_calibrate(setup, tmp_path, capsys):
    _fails([setup["ckpt"], "--out", tmp_path / "o", "--int8"], capsys, "--int8 needs --calibrate")
    assert not (tmp_path / "o").exists()


def test_calibration_folder_without_images(setup, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a jpeg")
    (bad / "notes.txt").write_text("hi")
    _fails([setup["ckpt"], "--out", tmp_path / "o", "--int8", "--calibrate", bad], capsys,
           "found 0 readable images")
    assert not (tmp_path / "o").exists()


def test_model_that_cannot_be_quantized(setup, tmp_path, capsys):
    _fails([setup["out"] / "G_A2B.int8.onnx", "--out", tmp_path / "o", "--int8", "--calibrate",
            setup["photos"]], capsys, "already quantized")
    assert not any((tmp_path / "o").iterdir())


def test_gate_failure_names_the_knobs_and_writes_nothing(setup, tmp_path, capsys,
                                                         monkeypatch):
    monkeypatch.setattr(quantize, "GATE_MEDIAN_DB", 200.0)
    err = _fails([setup["out"] / "G_A2B.onnx", "--out", tmp_path / "o", "--int8",
                  "--calibrate", setup["photos"], "--calibrate-images", "4"], capsys,
                 "not written", code=1)
    assert "--calibrate-images" in err and "--calibration-method" in err
    assert not any((tmp_path / "o").iterdir())


def test_real_photos_pass_the_gate(setup, tmp_path, real_data):
    photos = quantize.load_photos(real_data / "testA", 8, size=64, log=lambda m: None)
    target = tmp_path / "G_A2B.int8.onnx"
    result = quantize.quantize_model((setup["out"] / "G_A2B.onnx").read_bytes(), photos,
                                     target, log=lambda m: None)
    assert result.ok and target.is_file()


def test_calibration_chunks_bound_memory_and_divide_the_count():
    def photos(n, h, w):
        return [quantize.Decoded(None, np.zeros((3, h, w), np.float32), h, w, None)] * n

    assert quantize.chunk_size(photos(6, 256, 256)) == 6
    assert quantize.chunk_size(photos(9, 256, 256)) == 3  # 8 fit, 3 divides 9
    assert quantize.chunk_size(photos(7, 768, 1024)) == 1


def test_from_a_bundled_model_name(setup, tmp_path, monkeypatch):
    from cyclegan.infer import bundled

    monkeypatch.setitem(bundled.MODELS, "demo",
                        bundled.BundledModel(str(setup["out"] / "G_A2B.onnx"), "stand-in"))
    assert main(["demo", "--out", str(tmp_path), "--int8", "--calibrate",
                 str(setup["photos"]), "--calibrate-images", "4", "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["G_A2B.int8.onnx", "G_A2B.onnx"]
