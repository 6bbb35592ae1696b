"""When the fused kernels cannot run, training says so in one warning and runs on the plain
layers (layers.fused_unavailable_reason, train/loop.py's _configure_backends).

The faults are planted where they arise, below the code under test: the compiled kernel
entry point raising what the C++ raises for a driver older than the CUDA runtime it links
(cuda/launch.cuh), and the compiled module failing to import (a wheel for another
platform, a broken install). The probe and the training loop are the real ones.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

import cyclegan
from cyclegan import _C
from cyclegan.layers import fused_unavailable_reason
from cyclegan.train.config import TrainConfig
from cyclegan.train.loop import train

from conftest import needs_cuda

DRIVER_ERROR = (
    "norm_act_pad_fwd_kernel launch failed: CUDA driver version is insufficient for CUDA "
    "runtime version (cyclegan links the CUDA 13.0 runtime statically: it needs an NVIDIA "
    "driver for CUDA 13.0 or newer; update the driver or use the plain layers, "
    "fused=False / --no-fused)"
)
WARNING = r"fused ops unavailable on {device} \({reason}\); training with the plain layers"


def tiny_run(tmp_path, device: str) -> TrainConfig:
    return TrainConfig(data="builtin:seasons", out=str(tmp_path / "run"), image_size=32, ngf=8,
                       ndf=8, n_blocks=2, batch_size=2, steps=2, workers=0, device=device,
                       quiet=True, log_every=1, fused=True)


def trained_plainly(run_cfg: TrainConfig, device: str, reason: str) -> None:
    """Trains `run_cfg` and checks the one warning, the steps and the recorded choice."""
    with pytest.warns(UserWarning, match=WARNING.format(device=device, reason=reason)) as seen:
        summary = train(run_cfg)
    assert sum("fused ops unavailable" in str(w.message) for w in seen) == 1
    assert summary["fused"] is False and summary["step"] == 2
    run = Path(run_cfg.out)
    assert json.loads((run / "config.json").read_text())["fused_active"] is False
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(math.isfinite(v) for r in records for k, v in r.items() if k.startswith("loss_"))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_driver_error_trains_with_the_plain_layers(device, monkeypatch, tmp_path):
    if device == "cuda" and not _C.has_cuda:
        pytest.skip("this build has no CUDA kernels")
    calls = []

    def launch_fails(args):
        calls.append(args)
        raise RuntimeError(DRIVER_ERROR)

    # Every fused forward goes through this entry point: the probe, and training itself
    # were it to use the fused layers.
    monkeypatch.setattr(_C, f"{device}_norm_act_pad_fwd", launch_fails)
    assert fused_unavailable_reason(device) == f"RuntimeError: {DRIVER_ERROR}"
    calls.clear()
    trained_plainly(tiny_run(tmp_path, device), device, r"RuntimeError: .*driver version.*")
    assert len(calls) == 1  # the probe; the steps never reached the kernels


def test_missing_compiled_module_trains_with_the_plain_layers(monkeypatch, tmp_path):
    # As after a broken install: importing cyclegan._C fails, so cyclegan.ops does too.
    monkeypatch.setitem(sys.modules, "cyclegan._C", None)
    monkeypatch.delitem(sys.modules, "cyclegan.ops", raising=False)
    monkeypatch.delattr(cyclegan, "_C")
    monkeypatch.delattr(cyclegan, "ops", raising=False)
    reason = fused_unavailable_reason("cpu")
    assert reason == "ModuleNotFoundError: import of cyclegan._C halted; None in sys.modules"
    trained_plainly(tiny_run(tmp_path, "cpu"), "cpu", r"ModuleNotFoundError: .*cyclegan\._C.*")


def test_working_kernels_are_used(tmp_path):
    # The counterpart: with nothing planted the probe passes and training runs fused.
    assert fused_unavailable_reason("cpu") is None
    summary = train(tiny_run(tmp_path, "cpu"))
    assert summary["fused"] is True
    assert json.loads((tmp_path / "run" / "config.json").read_text())["fused_active"] is True
