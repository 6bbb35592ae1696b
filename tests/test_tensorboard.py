"""cyclegan-train --tensorboard: scalars and sample grids in RUN/tensorboard, across resumes."""

import builtins

import pytest
from test_train import cfg, make_folder

from cyclegan.errors import TrainError
from cyclegan.train.config import resume_config
from cyclegan.train.loop import train

COMMON = dict(batch_size=2, epochs=1, decay_epochs=1, tensorboard=True)


@pytest.fixture(scope="module")
def data4(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("data4"), 4)


def _events(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_scalars_and_samples_append_across_resume(data4, tmp_path):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    train(cfg(data4, run, steps=3, **COMMON))
    train(resume_config(run, {"steps": 4}))
    acc = _events(run)
    tags = set(acc.Tags()["scalars"])
    assert {"loss/G", "loss/D_A", "loss/cyc_B", "loss/idt_A", "lr", "images_per_s"} <= tags
    assert [e.step for e in acc.Scalars("loss/G")] == [1, 2, 3, 4]
    assert acc.Tags()["images"] == ["samples"]
    assert [e.step for e in acc.Images("samples")] == [2, 3, 4]  # epoch end, stop, stop


def test_without_tensorboard_the_flag_says_what_to_install(data4, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard") or name.startswith("tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(TrainError, match=r'pip install "cyclegan\[tensorboard\]"'):
        train(cfg(data4, tmp_path / "run", steps=1, **COMMON))
