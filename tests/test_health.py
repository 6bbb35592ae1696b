"""Classic failures flagged while training (train/health.py): each one made to happen, on
synthetic batches and in tiny training runs whose generators are forced into it, must be
named with its remedy, logged and graphed; healthy translations must pass unflagged."""

import json
import warnings

import pytest
import torch
from test_train import cfg, make_folder

from cyclegan import data
from cyclegan.evaluation import baselines
from cyclegan.train import health, loop
from cyclegan.train.health import HealthWarning


def identity(x):
    return x.clone()


def inverted(x):
    return -x  # 1 - x on the [0, 1] scale


def constant(x):
    return torch.tensor([0.3, -0.2, 0.1], device=x.device).view(1, 3, 1, 1).expand_as(x).clone()


def winter_look(x):
    return baselines.winter_look(x)


FORCED = {"copy": identity, "inversion": inverted, "collapse": constant}


@pytest.fixture(scope="module")
def seasons():
    return data.seasons_pairs(3, 64, seed=11)


@pytest.mark.parametrize("kind", sorted(FORCED))
def test_each_failure_is_found_alone(seasons, kind):
    summer, _ = seasons
    assert health.failures(health.measure(summer, FORCED[kind](summer))) == [kind]


def test_healthy_translations_pass(seasons):
    summer, winter = seasons
    stats = baselines.channel_stats(winter)
    # The true winter of each landscape (snow: luminance moves most), recolourings that
    # keep structure, and grayscale (the smallest change a translation makes, 0.06).
    for out in (winter, baselines.winter_look(summer), baselines.color_transfer(summer, stats),
                baselines.grayscale(summer)):
        assert health.failures(health.measure(summer, out)) == []


def test_thresholds_sit_between_failure_and_health(seasons):
    summer, winter = seasons
    m = health.measure(summer, (summer + 0.004).clamp(-1, 1))  # half a grey level brighter
    assert "copy" in health.failures(m)
    gray = health.measure(summer, baselines.grayscale(summer))
    assert gray["copy_l1"] > 3 * health.COPY_L1
    m = health.measure(summer, -0.6 * summer)  # inverted and flattened
    assert m["luma_corr"] == pytest.approx(-1.0, abs=1e-6) and "inversion" in health.failures(m)
    # Outputs that keep a fifth of the inputs' differences are not collapsed; a tenth is.
    mean = summer.mean(0, keepdim=True)
    assert health.measure(summer, mean + 0.3 * (summer - mean))["spread"] > 0.25
    assert "collapse" in health.failures(health.measure(summer, mean + 0.1 * (summer - mean)))
    one = health.measure(summer[:1], constant(summer[:1]))
    assert one["spread"] is None and "collapse" not in health.failures(one)


@pytest.fixture(scope="module")
def data4(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("data4"), 4)


class Forced(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def run_forced(data4, run, monkeypatch, a2b, b2a, **kw):
    """A tiny training run whose sample generators are replaced by a2b and b2a; returns the
    records of health.jsonl and the HealthWarnings raised."""
    real = loop.Generators
    monkeypatch.setattr(loop, "Generators", lambda g1, g2: real(Forced(a2b), Forced(b2a)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loop.train(cfg(data4, run, batch_size=2, epochs=1, decay_epochs=0, **kw))
    records = [json.loads(line) for line in (run / "health.jsonl").read_text().splitlines()]
    assert all("health" not in json.loads(line)
               for line in (run / "log.jsonl").read_text().splitlines())
    return (records,
            [str(w.message) for w in caught if issubclass(w.category, HealthWarning)])


def test_copy_and_inversion_in_a_training_run_are_logged_and_warned(data4, tmp_path,
                                                                    monkeypatch):
    found, warned = run_forced(data4, tmp_path / "run", monkeypatch, identity, inverted)
    assert [r["step"] for r in found] == [2]  # the end of the one epoch: 4 photos, batch 2
    assert found[0]["health"]["A2B"]["failures"] == ["copy"]
    assert found[0]["health"]["B2A"]["failures"] == ["inversion"]
    assert len(warned) == 2
    copy, inversion = sorted(warned, key=lambda w: "inverts" in w)
    assert copy.startswith("step 2: the A2B generator returns its input") and \
        "--lambda-id" in copy
    assert inversion.startswith("step 2: the B2A generator inverts") and "--lr" in inversion


def test_collapse_in_a_training_run_is_warned_and_graphed(data4, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from test_tensorboard import _events

    run = tmp_path / "run"
    found, warned = run_forced(data4, run, monkeypatch, constant, winter_look,
                               tensorboard=True)
    assert found[0]["health"]["A2B"]["failures"] == ["collapse"]
    assert found[0]["health"]["B2A"]["failures"] == []
    assert len(warned) == 1 and "A2B outputs all look alike" in warned[0]
    assert "more data or augmentation" in warned[0] and "--lr" in warned[0]
    acc = _events(run)
    assert [e.value for e in acc.Scalars("health/A2B/collapse")] == [1.0]
    assert [e.value for e in acc.Scalars("health/B2A/collapse")] == [0.0]
    assert [e.value for e in acc.Scalars("health/A2B/copy")] == [0.0]
    assert acc.Scalars("health/A2B/spread")[0].value == pytest.approx(0.0, abs=1e-6)


def test_a_healthy_run_is_logged_without_warnings(data4, tmp_path, monkeypatch):
    found, warned = run_forced(data4, tmp_path / "run", monkeypatch, winter_look, winter_look)
    assert warned == []
    assert found and all(m["failures"] == [] for m in found[0]["health"].values())
    assert found[0]["health"]["A2B"]["luma_corr"] > 0.9
