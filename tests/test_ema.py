"""The generators' moving average: its update rule, its default, and what it is for."""

import numpy as np
import pytest
import torch
from torch import nn

from cyclegan.train.config import TrainConfig
from cyclegan.train.ema import EMA, decay_at


def test_decay_warms_up_then_caps():
    assert decay_at(1, 0.999) == pytest.approx(2 / 11)
    assert decay_at(90, 0.999) == pytest.approx(91 / 100)
    assert decay_at(100_000, 0.999) == 0.999
    assert decay_at(5, 0.5) == pytest.approx(6 / 15) and decay_at(50, 0.5) == 0.5


def test_update_matches_a_float64_recomputation():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1))
    ema = EMA({"G": net}, decay=0.9)
    expect = [p.detach().double().clone() for p in net.parameters()]
    for step in range(1, 40):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        ema.update(step)
        d = min(0.9, (1 + step) / (10 + step))
        expect = [d * e + (1 - d) * p.detach().double() for e, p in zip(expect,
                                                                            net.parameters())]
    for got, want in zip(ema.modules["G"].parameters(), expect):
        np.testing.assert_allclose(got.double().numpy(), want.numpy(), rtol=0, atol=1e-5)
    assert not any(p.requires_grad for p in ema.modules["G"].parameters())


def test_state_round_trip_and_reset():
    net = nn.Linear(3, 3)
    ema = EMA({"G": net}, decay=0.99)
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(100)
    other = EMA({"G": nn.Linear(3, 3)}, decay=0.99)
    other.load_state_dict(ema.state_dict())
    assert torch.equal(other.modules["G"].weight, ema.modules["G"].weight)
    ema.reset()
    assert torch.equal(ema.modules["G"].weight, net.weight)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_bad_decay_is_refused(decay):
    with pytest.raises(ValueError, match="decay"):
        EMA({"G": nn.Linear(1, 1)}, decay)


def test_the_default_decay_damps_noise_in_the_weights():
    """What the default is for: weights that jitter around a solution from step to step
    (an oscillating GAN) are averaged to within a small fraction of that jitter."""
    default = TrainConfig().ema
    assert default == 0.999
    torch.manual_seed(1)
    target = torch.randn(1000)
    net = nn.Linear(1000, 1, bias=False)
    ema = EMA({"G": net}, default)
    for step in range(1, 5001):
        with torch.no_grad():
            net.weight.copy_(target + torch.randn(1000))  # noise of std 1 around the target
        ema.update(step)
    raw_error = (net.weight[0] - target).pow(2).mean().sqrt().item()
    ema_error = (ema.modules["G"].weight[0] - target).pow(2).mean().sqrt().item()
    # sqrt((1 - d) / (1 + d)) = 0.022 for d = 0.999 once the warm-up is forgotten.
    assert raw_error > 0.9 and ema_error < 0.05, (raw_error, ema_error)
