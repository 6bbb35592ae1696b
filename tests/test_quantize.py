"""int8 export: cyclegan-export --int8 --calibrate on a tiny generator, the gate, bad input."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from cyclegan.checkpoint import new_checkpoint, save_checkpoint
from cyclegan.cli.export import main
from cyclegan.contract import read_metadata
from cyclegan.export import int8_gate, quantize
from cyclegan.infer.runtime import OrtGenerator
from cyclegan.models import ModelConfig, ResnetGenerator

from conftest import peak_kib, summer_generator_and_photos, with_peak_rss

CFG = ModelConfig(ngf=8, n_blocks=2)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny one-direction checkpoint and 8 small landscape photos to calibrate on."""
    root = tmp_path_factory.mktemp("quantize")
    ckpt = summer_generator_and_photos(root, CFG, photos=8, size=64, seed=4_000_000)
    photos = root / "photos"
    out = root / "onnx"
    assert main([str(ckpt), "--out", str(out), "--int8", "--calibrate", str(photos),
                 "--quiet"]) == 0
    return {"root": root, "ckpt": ckpt, "photos": photos, "out": out}


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
        (setup["out"] / "G_A2B.onnx").read_bytes(), photos, 32, tuned=False))
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
           "0 of 1 images can calibrate (1 unreadable (e.g. a.jpg: not an image")
    assert not (tmp_path / "o").exists()


def test_model_that_cannot_be_quantized(setup, tmp_path, capsys):
    _fails([setup["out"] / "G_A2B.int8.onnx", "--out", tmp_path / "o", "--int8", "--calibrate",
            setup["photos"]], capsys, "already quantized")
    assert not (tmp_path / "o").exists()


def test_gate_failure_names_the_knobs_and_writes_nothing(setup, tmp_path, capsys,
                                                         monkeypatch):
    monkeypatch.setattr(int8_gate, "GATE_MEDIAN_DB", 200.0)
    err = _fails([setup["out"] / "G_A2B.onnx", "--out", tmp_path / "o", "--int8",
                  "--calibrate", setup["photos"], "--calibrate-images", "4"], capsys,
                 "not written", code=1)
    assert "--calibrate-images" in err and "--calibration-method" in err
    assert "with the upsampling convolutions in float too" in err  # both rungs were tried
    assert not any((tmp_path / "o").iterdir())


def _float_inputs(model) -> set[str]:
    """Names of the convolutions whose input is not dequantized int8, read from the graph."""
    made_by = {o: n.op_type for n in model.graph.node for o in n.output}
    return {n.name for n in model.graph.node
            if n.op_type == "Conv" and made_by.get(n.input[0]) != "DequantizeLinear"}


def test_a_refused_model_is_quantized_again_with_its_upsampling_convolutions_float(
        setup, tmp_path, monkeypatch):
    """The gate planted to refuse the first try: the second keeps the `up` blocks'
    convolutions float (seen in the written graph), records them, and is written."""
    real_gate, calls = quantize.gate, []

    def gate(*args):
        calls.append(1)
        return quantize.GateResult([20.0, 20.0]) if len(calls) == 1 else real_gate(*args)

    monkeypatch.setattr(quantize, "gate", gate)
    fp32 = (setup["out"] / "G_A2B.onnx").read_bytes()
    photos = quantize.load_photos(setup["photos"], 8, log=lambda m: None)
    lines = []
    target = tmp_path / "G_A2B.int8.onnx"
    assert quantize.quantize_model(fp32, photos, target, 64, log=lines.append).ok
    assert len(calls) == 2 and "quantizing again with the upsampling convolutions" in lines[1]
    model = onnx.load(target)
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    up = [c for c in convs if "/up." in c]
    assert len(up) == 2  # the two upsampling blocks of the generator (rewritten deconvs)
    record = json.loads({p.key: p.value for p in model.metadata_props}["quantization"])
    assert record["float_nodes"] == sorted({convs[0], convs[-1], *up})
    assert _float_inputs(model) == set(record["float_nodes"])
    # The first try's graph, as every model gets it: only the first and last are float.
    assert _float_inputs(onnx.load_from_string(quantize.quantize_bytes(
        fp32, photos[:4], 64))) == {convs[0], convs[-1]}


def _shifted(fp32: bytes, shift: float) -> bytes:
    """A known-bad "int8" model: the fp32 graph with `shift` added to its output (0.1 is
    12.75 grey levels, so about 26 dB PSNR against the fp32 output, before clipping)."""
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(fp32)
    graph = model.graph
    out = graph.output[0].name
    for node in graph.node:
        node.output[:] = [f"{o}_raw" if o == out else o for o in node.output]
    graph.initializer.append(numpy_helper.from_array(np.array(shift, np.float32), "shift"))
    graph.node.append(helper.make_node("Add", [f"{out}_raw", "shift"], [out]))
    return model.SerializeToString()


def test_gate_refuses_a_known_bad_model_by_an_independent_psnr(setup):
    import onnxruntime as ort

    fp32 = (setup["out"] / "G_A2B.onnx").read_bytes()
    bad = _shifted(fp32, 0.1)
    held = quantize.load_photos(setup["photos"], 4, log=lambda m: None)
    result = quantize.gate(fp32, bad, held, 64)
    assert not result.ok
    # The gate's numbers, recomputed here with onnxruntime and numpy only.
    sessions = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]) for m in (fp32, bad)]
    for photo, got in zip(held, result.psnr_db):
        with Image.open(photo.path) as img:
            x = np.asarray(img.convert("RGB"), np.float32)  # 64 x 64: no resize, no pad
        x = (x.transpose(2, 0, 1)[None] / 127.5 - 1).astype(np.float32)
        a, b = (np.clip(np.rint((s.run(None, {"input": x})[0][0] + 1) * 127.5), 0, 255)
                .astype(np.float64) for s in sessions)
        want = 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))
        # (a rounding boundary or two may fall differently: float32 input scaled in
        # another order)
        assert got == pytest.approx(want, rel=1e-4)
        assert 25 < want < 28  # the planted shift, seen as planted: above the worst-photo
        # gate (25 dB), so only the median gate (30 dB) refuses it
    # The same model unshifted is not refused: the gate separates the two.
    assert quantize.gate(fp32, _shifted(fp32, 0.0), held, 64).ok


@pytest.mark.parametrize("scores, ok", [([30, 30, 25], True), ([29.9, 40, 25], False),
                                        ([40, 40, 24.9], False), ([31, 31, 31], True)])
def test_gate_rule_is_the_documented_one(scores, ok):
    # docs/inference.md: median at least 30 dB and no photo under 25 dB.
    assert quantize.GateResult(scores).ok is ok


def test_real_photos_pass_the_gate(setup, tmp_path, real_data):
    photos = quantize.load_photos(real_data / "testA", 8, log=lambda m: None)
    target = tmp_path / "G_A2B.int8.onnx"
    result = quantize.quantize_model((setup["out"] / "G_A2B.onnx").read_bytes(), photos,
                                     target, 64, log=lambda m: None)
    assert result.ok and target.is_file()


def test_calibration_chunks_bound_memory_and_divide_the_count():
    # Every calibration input is one size x size window (int8_calibration.windows).
    per_pixel = quantize.CHUNK_BYTES / 8.5 / 256**2  # bytes per pixel: 8 windows of 256^2 fit
    plenty = 64 * quantize.CHUNK_BYTES
    assert quantize.chunk_size(6, 256, per_pixel, plenty) == 6
    assert quantize.chunk_size(9, 256, per_pixel, plenty) == 3  # 8 fit
    assert quantize.chunk_size(18, 256, per_pixel, plenty) == 6  # 9 photos of 4:3
    assert quantize.chunk_size(7, 768, per_pixel, plenty) == 1
    # Half the free memory bounds a chunk too; one window that does not fit is refused.
    assert quantize.chunk_size(8, 256, per_pixel, int(4.5 * 256**2 * per_pixel)) == 2
    with pytest.raises(quantize.QuantizeError, match="smaller --calibrate-size"):
        quantize.chunk_size(2, 3000, per_pixel, 16 << 30)  # 34 GB each
    # Free memory unknown (no /proc/meminfo): chunks keep to CHUNK_BYTES, nothing is refused.
    assert quantize.chunk_size(9, 256, per_pixel, None) == 3


def test_activation_estimate_covers_every_float_tensor(setup):
    proto = onnx.load(setup["out"] / "G_A2B.onnx")
    per_pixel = quantize.activation_bytes_per_pixel(proto)
    # The stem convolution alone writes ngf float32 channels at full resolution, and the
    # network holds tens of tensors: between those bounds.
    assert 4 * CFG.ngf * 3 < per_pixel < 4 * CFG.ngf * 60


def test_from_a_bundled_model_name(setup, tmp_path, monkeypatch):
    from cyclegan.infer import bundled

    monkeypatch.setitem(bundled.MODELS, "demo",
                        bundled.BundledModel(str(setup["out"] / "G_A2B.onnx"), "stand-in"))
    assert main(["demo", "--out", str(tmp_path), "--int8", "--calibrate",
                 str(setup["photos"]), "--calibrate-images", "4", "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["G_A2B.int8.onnx", "G_A2B.onnx"]


# Issue 22: a variant is bound to its fp32 file; calibration streams at the working size;
# bad calibration input is refused in one line, before any work.

@pytest.fixture(scope="module")
def other(setup):
    """The fp32 export of another checkpoint (same architecture, other weights)."""
    torch.manual_seed(1)
    state = new_checkpoint(CFG, {"A": "summer", "B": "winter"})
    state["G_A2B"] = ResnetGenerator(CFG, fused=False).eval().state_dict()
    save_checkpoint(setup["root"] / "other.pt", state)
    out = setup["root"] / "other"
    assert main([str(setup["root"] / "other.pt"), "--out", str(out), "--quiet"]) == 0
    return {"ckpt": setup["root"] / "other.pt", "fp32": out / "G_A2B.onnx"}


def test_export_without_int8_removes_the_stale_variant(setup, other, tmp_path, capsys):
    out = tmp_path / "o"
    shutil.copytree(setup["out"], out)
    assert main([str(other["ckpt"]), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["G_A2B.onnx"]
    assert "G_A2B.int8.onnx" in capsys.readouterr().out  # says what it removed


def test_export_whose_int8_fails_the_gate_removes_the_stale_variant(setup, other, tmp_path,
                                                                  capsys, monkeypatch):
    out = tmp_path / "o"
    shutil.copytree(setup["out"], out)
    monkeypatch.setattr(int8_gate, "GATE_MEDIAN_DB", 200.0)
    _fails([other["ckpt"], "--out", out, "--int8", "--calibrate", setup["photos"],
            "--calibrate-images", "4"], capsys, "not written", code=1)
    assert sorted(p.name for p in out.iterdir()) == ["G_A2B.onnx"]


def test_an_unbound_variant_stays_when_the_fp32_file_stays(setup, tmp_path):
    # A variant from an export older than the binding records no fp32 file: quantizing the
    # fp32 file it sits beside must not delete it (that fp32 file was not replaced), while
    # an export that replaces the fp32 file removes it with the rest of the old export.
    from cyclegan.contract import FP32_DIGEST, set_metadata

    models = tmp_path / "m"
    shutil.copytree(setup["out"], models)
    assert main([str(setup["ckpt"]), "--out", str(tmp_path / "f"), "--fp16", "--quiet"]) == 0
    fp16 = read_metadata(tmp_path / "f" / "G_A2B.fp16.onnx")
    del fp16[FP32_DIGEST]
    unbound = models / "G_A2B.fp16.onnx"
    unbound.write_bytes(set_metadata((tmp_path / "f" / "G_A2B.fp16.onnx").read_bytes(), fp16,
                                     replace=True))
    assert main([str(models / "G_A2B.onnx"), "--out", str(models), "--int8", "--calibrate",
                 str(setup["photos"]), "--calibrate-images", "4", "--quiet"]) == 0
    assert unbound.is_file()
    assert main([str(setup["ckpt"]), "--out", str(models), "--quiet"]) == 0
    assert not unbound.exists()
    assert sorted(p.name for p in models.iterdir()) == ["G_A2B.int8.onnx", "G_A2B.onnx"]


def test_infer_ignores_a_variant_made_from_another_fp32(setup, other, tmp_path, capsys):
    from cyclegan.cli.infer import main as infer

    models = tmp_path / "m"
    shutil.copytree(setup["out"], models)
    shutil.copyfile(other["fp32"], models / "G_A2B.onnx")  # as an older copy step might
    photo = next(setup["photos"].iterdir())
    args = [str(photo), "--model", str(models / "G_A2B.onnx"), "--device", "cpu", "--quiet"]
    assert infer([*args[:1], str(tmp_path / "auto.png"), *args[1:]]) == 0
    captured = capsys.readouterr()
    assert "(summer -> winter, fp32)" in captured.out
    assert "G_A2B.int8.onnx" in captured.err and "warning" in captured.err
    assert infer([*args[:1], str(tmp_path / "fp32.png"), *args[1:], "--precision", "fp32"]) == 0
    assert (tmp_path / "auto.png").read_bytes() == (tmp_path / "fp32.png").read_bytes()
    capsys.readouterr()
    assert infer([*args[:1], str(tmp_path / "int8.png"), *args[1:], "--precision",
                  "int8"]) == 2
    err = capsys.readouterr().err
    assert "G_A2B.int8.onnx" in err and "another G_A2B.onnx" in err
    assert not (tmp_path / "int8.png").exists()


@pytest.mark.parametrize("size", ["-5", "0", "7"])
def test_calibrate_size_is_validated(setup, tmp_path, capsys, size):
    err = _fails([setup["out"] / "G_A2B.onnx", "--out", tmp_path / "o", "--int8", "--calibrate",
                  setup["photos"], "--calibrate-size", size], capsys, "--calibrate-size")
    assert f"got {size}" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_quantizing_an_fp16_variant_is_refused_in_one_line(setup, tmp_path, capsys):
    assert main([str(setup["ckpt"]), "--out", str(tmp_path / "f"), "--fp16", "--quiet"]) == 0
    err = _fails([tmp_path / "f" / "G_A2B.fp16.onnx", "--out", tmp_path / "o", "--int8",
                  "--calibrate", setup["photos"]], capsys, "fp16")
    assert "G_A2B.onnx" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """A folder no file can be created in. We run as root, which writes through chmod
    0o555, so creating a file there fails as it would for a user instead."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real_open = os.open

        def guarded(path, flags, *args, **kwargs):
            if flags & os.O_CREAT and Path(path).parent == folder:
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", guarded)
    return folder


@pytest.mark.parametrize("source", ["onnx", "checkpoint"])
def test_unwritable_out_is_found_before_calibration(setup, read_only, capsys, monkeypatch,
                                                    source):
    def calibrate(*args, **kwargs):
        pytest.fail("calibrated before finding that --out is not writable")

    monkeypatch.setattr(quantize, "quantize_bytes", calibrate)
    model = setup["out"] / "G_A2B.onnx" if source == "onnx" else setup["ckpt"]
    _fails([model, "--out", read_only, "--int8", "--calibrate", setup["photos"]], capsys,
           "not writable")


def test_one_pixel_calibration_photos_get_a_precise_error(setup, tmp_path, capsys):
    photos = tmp_path / "tiny"
    photos.mkdir()
    for i in range(4):
        Image.new("RGB", (1, 1), (i * 60, 90, 30)).save(photos / f"{i}.png")
    err = _fails([setup["out"] / "G_A2B.onnx", "--out", tmp_path / "o", "--int8",
                  "--calibrate", photos], capsys, "1 x 1")
    assert "smaller than" in err and "more calibration photos" not in err
    assert not (tmp_path / "o").exists()


RSS_SCRIPT = with_peak_rss("import sys\nfrom cyclegan.cli.export import main\n"
                           "code = main(sys.argv[1:])")


def test_phone_sized_photos_calibrate_at_the_working_size_in_bounded_memory(setup, tmp_path):
    # Issue 22: 4 photos of 12 MP needed 14 GB (all decoded to float, calibrated at their
    # own size). Here 8 photos of 2 MP with a tiny model: at their own size the activations
    # alone would pass 1 GB; at the working size and streamed, the process stays small.
    photos = tmp_path / "phone"
    photos.mkdir()
    yy, xx = np.mgrid[:1200, :1600]
    for i in range(8):
        arr = np.stack([(xx * (i + 1)) % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
        Image.fromarray(arr).save(photos / f"{i}.jpg", quality=85)
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(setup["out"] / "G_A2B.onnx"),
                        "--out", str(out), "--int8", "--calibrate", str(photos), "--quiet"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rss_mb = peak_kib(r.stderr) / 1024
    assert rss_mb < 700, rss_mb
    record = json.loads(read_metadata(out / "G_A2B.int8.onnx")["quantization"])
    assert record["calibration_size"] == quantize.working_size({})
    assert record["calibration_images"] + record["gate_images"] == 8

