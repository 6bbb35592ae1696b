import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import cyclegan
from cyclegan import contract
from cyclegan.checkpoint import new_checkpoint, save_checkpoint
from cyclegan.cli.export import main
from cyclegan.export import to_onnx
from cyclegan.models import ModelConfig, ResnetGenerator, build_generator

CFG = ModelConfig(ngf=8, n_blocks=2)
DOMAINS = {"A": "summer", "B": "winter"}


def _generators(seed=0):
    torch.manual_seed(seed)
    return {d: ResnetGenerator(CFG, fused=False).eval() for d in ("A2B", "B2A")}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny two-direction checkpoint, exported once (fp32 + fp16) for the module."""
    root = tmp_path_factory.mktemp("export")
    gens = _generators()
    state = new_checkpoint(CFG, DOMAINS)
    for d, g in gens.items():
        state[f"G_{d}"] = g.state_dict()
    ckpt = root / "tiny.pt"
    save_checkpoint(ckpt, state)
    out = root / "onnx"
    assert main([str(ckpt), "--out", str(out), "--fp16", "--quiet"]) == 0
    return {"ckpt": ckpt, "out": out, "gens": gens, "root": root}


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(path, x):
    return _session(path).run(None, {"input": x})[0]


def _torch(g, x):
    with torch.no_grad():
        return g(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("direction", ["A2B", "B2A"])
@pytest.mark.parametrize("shape", [(3, 3, 36, 52), (1, 3, 8, 8), (2, 3, 64, 48)])
def test_onnx_matches_torch_with_dynamic_shapes(tiny, direction, shape):
    x = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
    got = _run(tiny["out"] / f"G_{direction}.onnx", x)
    assert got.shape == shape
    np.testing.assert_allclose(got, _torch(tiny["gens"][direction], x), atol=1e-4, rtol=0)


def test_each_file_holds_its_own_direction(tiny):
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)
    a2b, b2a = (_run(tiny["out"] / f"G_{d}.onnx", x) for d in ("A2B", "B2A"))
    assert np.abs(a2b - b2a).max() > 1e-2


def test_metadata_and_graph(tiny):
    model = onnx.load(str(tiny["out"] / "G_B2A.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["format"] == contract.FORMAT
    assert meta["direction"] == "B2A"
    assert json.loads(meta["domains"]) == DOMAINS
    assert (meta["source_domain"], meta["target_domain"]) == ("winter", "summer")
    assert "x / 127.5 - 1" in meta["normalization"] and "(y + 1) * 127.5" in meta["normalization"]
    assert ModelConfig.from_dict(json.loads(meta["model_config"])) == CFG
    assert meta["package_version"] == cyclegan.__version__
    assert meta["precision"] == "fp32" and meta["io_dtype"] == "float32"
    assert (meta["size_multiple"], meta["min_size"]) == (str(CFG.geometry.multiple),
                                                         str(CFG.geometry.min_size))
    assert contract.read_metadata(tiny["out"] / "G_B2A.onnx") == meta
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
    assert "InstanceNormalization" in {n.op_type for n in model.graph.node}
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "", "height", "width"]
        assert dims[1].dim_value == 3
    onnx.checker.check_model(model)


def test_size_rule_in_the_metadata_is_the_architectures(monkeypatch):
    monkeypatch.setattr(ModelConfig, "geometry",
                        property(lambda self: contract.Geometry(multiple=16, min_size=48)))
    meta = to_onnx.build_metadata({"config": CFG.to_dict()}, "A2B", "fp32")
    assert (meta["size_multiple"], meta["min_size"]) == ("16", "48")


def test_working_scale_written_from_the_checkpoint_or_left_out(tiny, tmp_path):
    from cyclegan.infer.runtime import OrtGenerator

    # The tiny checkpoint records none (like those written before 0.2): no entry, and
    # readers fall back to the documented default.
    meta = contract.read_metadata(tiny["out"] / "G_A2B.onnx")
    assert "work_size" not in meta
    assert OrtGenerator(tiny["out"] / "G_A2B.onnx", "cpu").work_size == contract.DEFAULT_WORK_SIZE
    cfg = ModelConfig(ngf=8, n_blocks=2, work_size=300)
    state = new_checkpoint(cfg, DOMAINS)
    state["G_A2B"] = ResnetGenerator(cfg, fused=False).state_dict()
    save_checkpoint(tmp_path / "scaled.pt", state)
    assert main([str(tmp_path / "scaled.pt"), "--out", str(tmp_path / "o"), "--fp16",
                 "--quiet"]) == 0
    for name in ("G_A2B.onnx", "G_A2B.fp16.onnx"):
        meta = contract.read_metadata(tmp_path / "o" / name)
        assert meta["work_size"] == "300"
        assert json.loads(meta["model_config"])["work_size"] == 300
    assert OrtGenerator(tmp_path / "o" / "G_A2B.onnx", "cpu").work_size == 300


def test_working_scale_of_an_older_checkpoint_comes_from_its_training_flags(tmp_path):
    # Checkpoints written before the model config recorded it still record the flags it
    # follows from (folder data: --load-size), which cyclegan-eval already read: an export
    # said 256 for a generator trained at 128.
    state = new_checkpoint(CFG, DOMAINS)
    state["G_A2B"] = _generators()["A2B"].state_dict()
    state["train_config"] = {"data": "photos/s2w", "image_size": 112, "load_size": 128}
    save_checkpoint(tmp_path / "old.pt", state)
    assert main([str(tmp_path / "old.pt"), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert contract.read_metadata(tmp_path / "o" / "G_A2B.onnx")["work_size"] == "128"
    state["train_config"] = {"data": "builtin:seasons", "image_size": 64, "load_size": 72}
    save_checkpoint(tmp_path / "builtin.pt", state)
    assert main([str(tmp_path / "builtin.pt"), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert contract.read_metadata(tmp_path / "b" / "G_A2B.onnx")["work_size"] == "64"


def test_fp16_variant(tiny):
    path = tiny["out"] / "G_A2B.fp16.onnx"
    model = onnx.load(str(path))
    assert contract.read_metadata(path)["precision"] == "fp16"
    floats = [t for t in model.graph.initializer if t.data_type in (1, 10)]
    assert floats and all(t.data_type == onnx.TensorProto.FLOAT16 for t in floats)
    sess = _session(path)
    assert sess.get_inputs()[0].type == sess.get_outputs()[0].type == "tensor(float)"
    x = to_onnx.photo_like((2, 3, 40, 56), seed=3)
    got = sess.run(None, {"input": x})[0]
    diff = np.abs(got - _torch(tiny["gens"]["A2B"], x)).max()
    assert 0 < diff <= 2e-2
    assert path.stat().st_size < 0.7 * (tiny["out"] / "G_A2B.onnx").stat().st_size


def test_only_verified_files_and_no_temp_files(tiny):
    names = sorted(p.name for p in tiny["out"].iterdir())
    assert names == ["G_A2B.fp16.onnx", "G_A2B.onnx", "G_B2A.fp16.onnx", "G_B2A.onnx"]


def test_failing_model_is_not_written(tiny, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "G_A2B.onnx").write_bytes(b"previous good file")
    real_trace = to_onnx.trace_to_onnx

    def broken_trace(reference, precision="fp32", opset=17):
        # A graph whose weights differ from the model being checked: what a broken
        # exporter (e.g. a dropped custom op) would produce.
        wrong = to_onnx.reference_copy(reference)
        with torch.no_grad():
            wrong.head.bias.add_(0.05)
        return real_trace(wrong, precision, opset)

    monkeypatch.setattr(to_onnx, "trace_to_onnx", broken_trace)
    code = main([str(tiny["ckpt"]), "--out", str(out), "--direction", "A2B"])
    err = capsys.readouterr().err
    assert code == 1
    assert "not written" in err and "FAIL" in err and "max abs diff" in err
    assert (out / "G_A2B.onnx").read_bytes() == b"previous good file"
    assert sorted(p.name for p in out.iterdir()) == ["G_A2B.onnx"]


def test_verify_reports_each_check(tiny):
    g = tiny["gens"]["A2B"]
    data, checks = to_onnx.export_generator(g, {"domains": DOMAINS, "config": CFG.to_dict()},
                                           "A2B")
    assert [c.kind for c in checks] == ["random", "photo", "photo"]
    assert (1, 3, 256, 256) in [c.shape for c in checks]
    assert any(c.shape[2] != c.shape[3] for c in checks)
    assert all(c.ok and c.max_abs_diff <= 1e-4 for c in checks)
    bad = to_onnx.verify(data, g, atol=-1.0)
    assert not any(c.ok for c in bad) and "FAIL" in str(bad[0])


def test_fused_model_exports_reference_path(tiny):
    pytest.importorskip("cyclegan.ops", reason="compiled fused ops not built")
    fused = ResnetGenerator(CFG, fused=True).eval()
    fused.load_state_dict(tiny["gens"]["A2B"].state_dict())
    data, _ = to_onnx.export_generator(fused, {"domains": DOMAINS}, "A2B")
    model = onnx.load_from_string(data)
    assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
    x = np.random.default_rng(4).uniform(-1, 1, (2, 3, 20, 28)).astype(np.float32)
    got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"input": x})
    np.testing.assert_allclose(got[0], _torch(tiny["gens"]["A2B"], x), atol=1e-4)


def test_single_direction_checkpoint(tiny, tmp_path, capsys):
    state = new_checkpoint(CFG, DOMAINS)
    state["G_A2B"] = tiny["gens"]["A2B"].state_dict()
    ckpt = tmp_path / "one.pt"
    save_checkpoint(ckpt, state)
    assert main([str(ckpt), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["G_A2B.onnx"]
    assert main([str(ckpt), "--out", str(tmp_path / "o2"), "--direction", "B2A"]) == 2
    assert "no B2A generator" in capsys.readouterr().err


def test_run_folder_uses_latest_checkpoint(tiny, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "latest.pt").write_bytes(tiny["ckpt"].read_bytes())
    assert main([str(run), "--out", str(tmp_path / "o"), "--direction", "B2A", "--quiet"]) == 0
    x = np.random.default_rng(5).uniform(-1, 1, (1, 3, 8, 12)).astype(np.float32)
    np.testing.assert_allclose(_run(tmp_path / "o" / "G_B2A.onnx", x),
                               _torch(tiny["gens"]["B2A"], x), atol=1e-4)


@pytest.mark.parametrize("case", ["missing", "not_a_checkpoint", "out_is_file", "empty_run"])
def test_usage_errors(tiny, tmp_path, capsys, case):
    ckpt, out = tiny["ckpt"], tmp_path / "out"
    if case == "missing":
        ckpt = tmp_path / "nope.pt"
    elif case == "not_a_checkpoint":
        ckpt = tmp_path / "text.pt"
        ckpt.write_text("not a checkpoint")
    elif case == "out_is_file":
        out.write_text("a file")
    else:
        ckpt = tmp_path / "run"
        ckpt.mkdir()
    assert main([str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cyclegan-export: error:") and "Traceback" not in err


def test_bad_opset_and_precision():
    g = ResnetGenerator(CFG, fused=False)
    with pytest.raises(to_onnx.ExportError, match="opset"):
        to_onnx.trace_to_onnx(g, opset=13)
    with pytest.raises(to_onnx.ExportError, match="precision"):
        to_onnx.trace_to_onnx(g, precision="int8")


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--out", "--direction", "--fp16", "--opset", "default: 17", "not written",
                 "exit status"):
        assert flag in text
    with pytest.raises(SystemExit):
        main(["--version"])
    assert cyclegan.__version__ in capsys.readouterr().out


def test_resize_upsampling_exports_as_standard_resize(tmp_path):
    cfg = ModelConfig(ngf=8, n_blocks=1, upsample="resize")
    torch.manual_seed(0)
    g = build_generator(cfg, fused=False).eval()
    state = new_checkpoint(cfg, DOMAINS)
    state["G_A2B"] = g.state_dict()
    save_checkpoint(tmp_path / "r.pt", state)
    assert main([str(tmp_path / "r.pt"), "--out", str(tmp_path / "onnx"), "--quiet"]) == 0
    path = tmp_path / "onnx" / "G_A2B.onnx"
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "Resize" in ops and "ConvTranspose" not in ops
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 40, 36)).astype(np.float32)
    np.testing.assert_allclose(_run(path, x), _torch(g, x), atol=1e-4, rtol=0)


def test_write_error_is_a_usage_error(tmp_path, monkeypatch, capsys):
    torch.manual_seed(0)
    state = new_checkpoint(CFG, DOMAINS)
    state["G_A2B"] = ResnetGenerator(CFG, fused=False).state_dict()
    save_checkpoint(tmp_path / "c.pt", state)

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(to_onnx, "atomic_write_bytes", full)
    assert main([str(tmp_path / "c.pt"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cyclegan-export: error: cannot write to {tmp_path / 'o'}")
    assert "No space left" in err and "Traceback" not in err


def test_help_never_imports_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom cyclegan.cli.export import main\ntry:\n    main(['--help'])\n"
            "except SystemExit as exc:\n    assert exc.code == 0\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "exit status" in done.stdout


def test_domains_flag_names_the_domains_in_the_metadata(tiny, tmp_path, capsys):
    out = tmp_path / "named"
    assert main([str(tiny["ckpt"]), "--out", str(out), "--domains", "day, night",
                 "--quiet"]) == 0
    meta = contract.read_metadata(out / "G_B2A.onnx")
    assert (meta["source_domain"], meta["target_domain"]) == ("night", "day")
    assert main([str(tiny["ckpt"]), "--out", str(out), "--domains", "one"]) == 2
    assert "two names" in capsys.readouterr().err
