"""Training refuses what cannot fit before building anything, and warns about runs of hours."""

import json
import os
import subprocess
import sys
import time
import warnings

import pytest
import torch

from cyclegan.train import budget
from cyclegan.train.config import TrainConfig

TINY = dict(image_size=32, ngf=8, ndf=8, n_blocks=2)


def estimate(**kw):
    cfg = TrainConfig(**kw).resolved()
    return budget.estimate_bytes(cfg, cfg.model_config())


def test_estimate_grows_with_the_model_and_the_batch():
    base = estimate(**TINY)
    assert estimate(**{**TINY, "ngf": 16}) > base
    assert estimate(**{**TINY, "batch_size": 4}) > base
    assert estimate(**{**TINY, "image_size": 64}) > base
    assert estimate(**{**TINY, "ema": 0.0}) < base
    assert estimate(**{**TINY, "discriminator": "both"}) > base


def test_a_huge_model_is_estimated_in_no_time_and_refused():
    start = time.perf_counter()
    cfg = TrainConfig(ngf=100_000).resolved()
    with pytest.raises(budget.TrainError, match=r"needs about [\d,.]+ GB .*ngf 100000.*--ngf"):
        budget.check_memory(cfg, cfg.model_config(), torch.device("cpu"))
    assert time.perf_counter() - start < 10  # shapes only: nothing is allocated


def test_check_memory_compares_with_what_is_available(monkeypatch):
    cfg = TrainConfig(**TINY).resolved()
    need = budget.estimate_bytes(cfg, cfg.model_config())
    monkeypatch.setattr(budget, "torch_free_bytes", lambda device: need + 1)
    assert budget.check_memory(cfg, cfg.model_config(), torch.device("cpu")) == need
    with pytest.raises(budget.TrainError, match="2 processes"):
        budget.check_memory(cfg, cfg.model_config(), torch.device("cpu"), world_size=2)
    monkeypatch.setattr(budget, "torch_free_bytes", lambda device: need - 1)
    with pytest.raises(budget.TrainError, match="available on cpu"):
        budget.check_memory(cfg, cfg.model_config(), torch.device("cpu"))


@pytest.mark.slow
def test_estimate_covers_a_measured_peak(tmp_path):
    """The estimate against the peak resident memory of a real run (a subprocess, so that
    the peak is its own): above it, and not wildly above."""
    kw = dict(image_size=96, ngf=16, ndf=16, n_blocks=6, batch_size=2)
    code = (
        "import json, resource, sys\n"
        "from cyclegan.train.config import TrainConfig\n"
        "from cyclegan.train.loop import train\n"
        f"train(TrainConfig(data='builtin:seasons', out=sys.argv[1], steps=3, workers=0, "
        f"quiet=True, device='cpu', **{kw!r}))\n"
        "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True,
                       text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    peak = json.loads(r.stdout.strip().splitlines()[-1])
    need = estimate(**kw)
    assert peak < need < 3 * peak, (peak, need)


def test_slow_runs_are_named_once(monkeypatch):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not budget.warn_if_slow(1.0, 3600, torch.device("cpu"))  # 1 hour: fine
        assert budget.warn_if_slow(2.0, 100_000, torch.device("cpu"))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "56 hours" in message and "--preset quick" in message

    clock = iter([0.0, 60.0])  # 20 steps in 60 s: 3 s per step
    monkeypatch.setattr(budget.time, "perf_counter", lambda: next(clock))
    pace = budget.Pace(total_steps=10_000, start_step=0, device=torch.device("cpu"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(1, 40):
            pace.step(step)
    assert len(caught) == 1 and "9,980 steps" in str(caught[0].message)
