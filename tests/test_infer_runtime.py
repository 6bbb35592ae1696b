"""cyclegan.infer.runtime: providers chosen safely, model errors, lazy torch."""

import pytest

from cyclegan.errors import UsageError
from cyclegan.infer import runtime


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
