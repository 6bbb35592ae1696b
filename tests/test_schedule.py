"""Training budgets (cyclegan.train.schedule): the learning rate against a hand-written
linear decay over the whole budget, in steps and in (stubbed) minutes, across a resume."""

import json
import types

import pytest
import torch

import cyclegan.train.loop as loop_mod
from cyclegan.checkpoint import load_checkpoint
from cyclegan.data import seasons_pairs, to_pil
from cyclegan.errors import TrainError
from cyclegan.train.config import TrainConfig, resume_config
from cyclegan.train.loop import train
from cyclegan.train.schedule import Budget

TINY = dict(image_size=32, ngf=8, ndf=8, n_blocks=2, workers=0, device="cpu", quiet=True,
            log_every=1, batch_size=2, deterministic=True, pool_size=2)
LR = 2e-4


@pytest.fixture(scope="module")
def data5(tmp_path_factory):
    """5 images per domain: 3 steps per epoch at batch 2, so budgets cross epoch ends."""
    root = tmp_path_factory.mktemp("data5")
    summer, winter = seasons_pairs(10, 40, seed=5)
    for domain, imgs in (("trainA", summer[:5]), ("trainB", winter[5:])):
        (root / domain).mkdir()
        for i, t in enumerate(imgs):
            to_pil(t).save(root / domain / f"img {i}.png")
    return root


def cfg(data, out, **kw):
    return TrainConfig(data=str(data), out=str(out), **{**TINY, **kw})


def log(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def latest(run):
    return load_checkpoint(run / "checkpoints" / "latest.pt")


def assert_same_weights(a, b):
    for net in ("G_A2B", "G_B2A", "D_A", "D_B"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k} differs"


def test_budget_factors_by_hand():
    steps = Budget(steps=4)
    assert [steps.lr_factor(k, 0.0) for k in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert not steps.spent(3, 1e9) and steps.spent(4, 0.0) and not steps.timed
    minutes = Budget(minutes=10)
    assert minutes.timed
    assert minutes.lr_factor(10**6, 150.0) == pytest.approx(0.75)  # steps do not count
    assert minutes.lr_factor(0, 450.0) == pytest.approx(0.25)
    assert not minutes.spent(0, 599.9) and minutes.spent(0, 600.0)
    assert Budget.from_config(TrainConfig()) is None
    assert Budget.from_config(TrainConfig(budget_minutes=2.5)) == Budget(None, 2.5)


def test_a_steps_budget_decays_over_all_of_it_across_epochs(data5, tmp_path):
    run = tmp_path / "run"
    # epochs=1, decay_epochs=0 would stop after 3 steps at a flat rate: the budget replaces them.
    summary = train(cfg(data5, run, budget_steps=5, epochs=1, decay_epochs=0))
    assert summary["finished"] and summary["step"] == 5 and summary["epoch"] == 1
    # Step k (1-based) runs at LR * (1 - (k - 1) / 5), the epoch end after step 3 included.
    assert [r["lr"] for r in log(run)] == pytest.approx([LR, 0.8 * LR, 0.6 * LR, 0.4 * LR,
                                                         0.2 * LR])
    ckpt = latest(run)
    assert ckpt["finished"] and ckpt["step"] == 5
    assert ckpt["optim_D"]["param_groups"][0]["lr"] == pytest.approx(0.2 * LR)
    # A finished budget does nothing more on resume; a larger one continues it.
    assert train(resume_config(run, {}))["step"] == 5
    summary = train(resume_config(run, {"budget_steps": 10}))
    assert summary["finished"] and summary["step"] == 10
    assert log(run)[5]["lr"] == pytest.approx(0.5 * LR)


def test_a_steps_budget_resumes_exactly(data5, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(cfg(data5, whole, budget_steps=7))
    train(cfg(data5, parts, budget_steps=7, steps=2))
    assert not latest(parts)["finished"]
    train(resume_config(parts, {"steps": 4}))
    train(resume_config(parts, {"steps": None}))
    a, b = latest(whole), latest(parts)
    assert a["step"] == b["step"] == 7 and b["finished"]
    assert_same_weights(a, b)
    assert [r["lr"] for r in log(whole)] == [r["lr"] for r in log(parts)]


@pytest.fixture
def stub_clock(monkeypatch):
    """The loop's clock advances exactly 30 s per training step, whatever the machine does."""
    now = [1000.0]
    fake = types.SimpleNamespace(monotonic=lambda: now[0], perf_counter=lambda: now[0],
                                 process_time=lambda: 0.0, time=lambda: now[0])
    real_step = loop_mod.train_step

    def step(*args, **kwargs):
        now[0] += 30.0
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop_mod, "time", fake)
    monkeypatch.setattr(loop_mod, "train_step", step)
    return now


def test_a_minutes_budget_decays_with_the_time_spent_and_survives_a_resume(
        data5, tmp_path, stub_clock):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    summary = train(cfg(data5, whole, budget_minutes=2.0))  # 120 s: four 30 s steps
    assert summary["finished"] and summary["step"] == 4
    records = log(whole)
    assert [r["lr"] for r in records] == pytest.approx([LR, 0.75 * LR, 0.5 * LR, 0.25 * LR])
    assert [r["train_s"] for r in records] == pytest.approx([30, 60, 90, 120])
    assert latest(whole)["spent_s"] == pytest.approx(120.0)
    # Off the log steps, the steps before the budget ran out still get their line.
    sparse = tmp_path / "sparse"
    train(cfg(data5, sparse, budget_minutes=2.0, log_every=3))
    assert [r["step"] for r in log(sparse)] == [3, 4]

    train(cfg(data5, parts, budget_minutes=2.0, steps=2))
    assert latest(parts)["spent_s"] == pytest.approx(60.0)
    stub_clock[0] += 3600.0  # an hour passes before the resume: it does not count
    summary = train(resume_config(parts, {"steps": None}))
    assert summary["finished"] and summary["step"] == 4
    assert [r["lr"] for r in log(parts)] == [r["lr"] for r in records]
    assert_same_weights(latest(whole), latest(parts))


@pytest.mark.parametrize("kw, message", [
    (dict(budget_steps=10, budget_minutes=1.0), "give one"),
    (dict(budget_minutes=0.0), "--budget-minutes must be > 0"),
    (dict(budget_steps=0), "--budget-steps must be >= 1"),
])
def test_bad_budgets_are_refused(kw, message):
    with pytest.raises(TrainError, match=message):
        TrainConfig(**kw).resolved()
