"""Files written by 0.1.0 (tests/fixtures/v0_1_0) keep working after every restructure."""

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from cyclegan.checkpoint import load_checkpoint, load_generator
from cyclegan.contract import read_metadata
from cyclegan.models import ModelConfig
from cyclegan.train.config import resume_config
from cyclegan.train.loop import train

FIXTURE = Path(__file__).parent / "fixtures" / "v0_1_0"


def test_0_1_0_checkpoint_loads_with_default_architecture():
    state = load_checkpoint(FIXTURE / "run" / "checkpoints" / "latest.pt")
    assert state["version"] == "0.1.0" and "upsample" not in state["model_config"]
    model, meta = load_generator(FIXTURE / "run" / "checkpoints" / "latest.pt", "B2A")
    cfg = ModelConfig.from_dict(meta["config"])
    assert (cfg.arch, cfg.upsample, cfg.ngf, cfg.n_blocks) == ("resnet", "deconv", 4, 1)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)


def test_0_1_0_onnx_matches_the_0_1_0_checkpoint():
    meta = read_metadata(FIXTURE / "G_A2B.onnx")
    assert meta["package_version"] == "0.1.0" and meta["direction"] == "A2B"
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    sess = ort.InferenceSession(str(FIXTURE / "G_A2B.onnx"), providers=["CPUExecutionProvider"])
    model, _ = load_generator(FIXTURE / "run" / "checkpoints" / "latest.pt", "A2B")
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], want, atol=1e-4)


def test_0_1_0_run_resumes(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", run)
    summary = train(resume_config(run, {"steps": 3, "workers": 0, "quiet": True}))
    assert summary["step"] == 3
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 3
