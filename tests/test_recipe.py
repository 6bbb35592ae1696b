import io
import random

import numpy as np
import pytest
import torch

from cyclegan.models import ModelConfig, PatchDiscriminator, ResnetGenerator, init_weights
from cyclegan.train.recipe import (
    Discriminators,
    Generators,
    ImagePool,
    LossWeights,
    gan_loss,
    get_rng_state,
    l1_loss,
    loss_names,
    lr_factor,
    set_rng_state,
    train_step,
)


def test_lsgan_loss_is_mse_to_one_or_zero():
    p = torch.tensor([[0.2, 1.5], [-0.3, 0.9]])
    assert torch.isclose(gan_loss(p, True), ((p - 1) ** 2).mean())
    assert torch.isclose(gan_loss(p, False), (p**2).mean())
    assert gan_loss(p.bfloat16(), True).dtype == torch.float32
    assert torch.isclose(l1_loss(p, torch.zeros_like(p)), p.abs().mean())


def test_lr_schedule_is_the_official_linear_decay():
    factors = [lr_factor(e, 100, 100) for e in range(200)]
    assert factors[:100] == [1.0] * 100
    assert factors[100] == pytest.approx(100 / 101)
    assert factors[199] == pytest.approx(1 / 101)
    assert all(a > b for a, b in zip(factors[99:], factors[100:]))


def batch(values):
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1)


def test_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(4, seed=0)
    out = pool.query(batch([0, 1, 2]))
    assert out.flatten().tolist() == [0, 1, 2]
    out = pool.query(batch([3, 4]))  # 3 fills the pool, 4 may be swapped
    assert out.flatten().tolist()[0] == 3
    returned_old, n = 0, 400
    for i in range(n):
        v = 100.0 + i
        before = [float(t) for t in pool.images]
        got = float(pool.query(batch([v])))
        after = [float(t) for t in pool.images]
        if got == v:
            assert after == before
        else:
            returned_old += 1
            assert got in before and v in after
            assert sorted(set(before) - set(after)) == [got]
    assert 0.4 < returned_old / n < 0.6


def test_pool_size_zero_passes_through():
    x = torch.randn(3, 3, 4, 4)
    assert ImagePool(0).query(x) is x


def test_pool_state_round_trip_continues_identically():
    pool = ImagePool(3, seed=1)
    for i in range(5):
        pool.query(batch([i, i + 0.5]))
    buf = io.BytesIO()
    torch.save(pool.state_dict(), buf)
    buf.seek(0)
    restored = ImagePool(0, seed=99)
    restored.load_state_dict(torch.load(buf, weights_only=True))
    for i in range(10):
        x = batch([10 + i, 20 + i])
        assert torch.equal(pool.query(x), restored.query(x))


def test_rng_state_round_trip_through_weights_only_load():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.normal()  # leaves a cached gaussian in numpy's state
    buf = io.BytesIO()
    torch.save(get_rng_state(), buf)
    expect = (random.random(), np.random.normal(), np.random.rand(), torch.rand(3))
    buf.seek(0)
    set_rng_state(torch.load(buf, weights_only=True))
    got = (random.random(), np.random.normal(), np.random.rand(), torch.rand(3))
    assert got[:3] == expect[:3]
    assert torch.equal(got[3], expect[3])


def test_generators_batched_identity_equals_separate_calls():
    torch.manual_seed(0)
    cfg = ModelConfig(ngf=4, n_blocks=1)
    a2b, b2a = ResnetGenerator(cfg, fused=False), ResnetGenerator(cfg, fused=False)
    init_weights(a2b)
    init_weights(b2a)
    real_a, real_b = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    fake_a, fake_b, rec_a, rec_b, idt_a, idt_b = Generators(a2b, b2a)(real_a, real_b, True)
    expect = {"fake_b": a2b(real_a), "fake_a": b2a(real_b), "idt_a": b2a(real_a),
              "idt_b": a2b(real_b)}
    expect["rec_a"], expect["rec_b"] = b2a(expect["fake_b"]), a2b(expect["fake_a"])
    got = dict(fake_a=fake_a, fake_b=fake_b, rec_a=rec_a, rec_b=rec_b, idt_a=idt_a,
               idt_b=idt_b)
    for k, v in expect.items():
        torch.testing.assert_close(got[k], v, atol=1e-6, rtol=0, msg=k)
    *_, no_a, no_b = Generators(a2b, b2a)(real_a, real_b, False)
    assert no_a is None and no_b is None


def test_discriminators_judge_real_and_fake_like_separate_calls():
    torch.manual_seed(0)
    cfg = ModelConfig(ndf=4)
    d_a, d_b = PatchDiscriminator(cfg), PatchDiscriminator(cfg)
    ra, fa, rb, fb = (torch.rand(2, 3, 64, 64) for _ in range(4))
    out = Discriminators({"patch": d_a}, {"patch": d_b})(ra, fa, rb, fb)
    (pra, pfa), (prb, pfb) = out["patch"]
    for got, want in ((pra, d_a(ra)), (pfa, d_a(fa)), (prb, d_b(rb)), (pfb, d_b(fb))):
        assert len(got) == 1
        torch.testing.assert_close(got[0], want, atol=1e-6, rtol=0)


class _Scale(torch.nn.Module):
    """x * s (a stub generator with one parameter)."""

    def __init__(self, s):
        super().__init__()
        self.s = torch.nn.Parameter(torch.tensor(float(s)))

    def forward(self, x):
        return x * self.s


class _Shift(torch.nn.Module):
    def __init__(self, t):
        super().__init__()
        self.t = torch.nn.Parameter(torch.tensor(float(t)))

    def forward(self, x):
        return x + self.t


class _MeanD(torch.nn.Module):
    """One logit per image: w * mean(x) + c (a stub discriminator)."""

    def __init__(self, w, c):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(float(w)))
        self.c = torch.nn.Parameter(torch.tensor(float(c)))

    def forward(self, x):
        return (x.mean((1, 2, 3)) * self.w + self.c).view(-1, 1, 1, 1)


@pytest.mark.parametrize("lambda_cyc, lambda_id, d_ratio", [(7.0, 0.3, 3.0), (10.0, 0.0, 1.0)])
def test_loss_terms_equal_a_hand_computation(lambda_cyc, lambda_id, d_ratio):
    """Each named term against the recipe written out in float64 numpy, with stub
    networks whose outputs are known in closed form."""
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 4, 4) * 2 - 1, torch.rand(2, 3, 4, 4) * 2 - 1
    s, t, (wa, ca), (wb, cb) = 0.5, 0.1, (1.5, 0.2), (-0.7, 0.4)
    G = Generators(_Scale(s), _Shift(t))  # A2B: x * s, B2A: x + t
    D = Discriminators({"patch": _MeanD(wa, ca)}, {"patch": _MeanD(wb, cb)})
    opt_G = torch.optim.SGD(G.parameters(), lr=0.1)
    opt_D = torch.optim.SGD(D.trainable, lr=0.1)
    got = train_step(G, D, opt_G, opt_D, (ImagePool(0), ImagePool(0)), a, b,
                     LossWeights(lambda_cyc, lambda_id, d_ratio))

    A, B = a.double().numpy(), b.double().numpy()

    def d_a(x):
        return wa * x.mean(axis=(1, 2, 3)) + ca

    def d_b(x):
        return wb * x.mean(axis=(1, 2, 3)) + cb

    fake_b, fake_a = A * s, B + t
    rec_a, rec_b = fake_b + t, fake_a * s
    want = {
        "G_A2B": np.mean((d_b(fake_b) - 1) ** 2),
        "G_B2A": np.mean((d_a(fake_a) - 1) ** 2),
        "cyc_A": lambda_cyc * np.abs(rec_a - A).mean(),
        "cyc_B": lambda_cyc * np.abs(rec_b - B).mean(),
        "idt_A": lambda_cyc * lambda_id * np.abs((A + t) - A).mean(),
        "idt_B": lambda_cyc * lambda_id * np.abs(B * s - B).mean(),
        "D_A": (np.mean((d_a(A) - 1) ** 2) + np.mean(d_a(fake_a) ** 2)) / d_ratio,
        "D_B": (np.mean((d_b(B) - 1) ** 2) + np.mean(d_b(fake_b) ** 2)) / d_ratio,
    }
    want["G"] = sum(want[k] for k in ("G_A2B", "G_B2A", "cyc_A", "cyc_B", "idt_A", "idt_B"))
    assert set(got) == set(loss_names()) == set(want)
    for name, value in want.items():
        assert got[name].item() == pytest.approx(value, rel=1e-5, abs=1e-7), name
    # The steps were taken: both generators and both discriminators moved.
    assert G.a2b.s.item() != s and G.b2a.t.item() != t
    assert D.a["patch"].w.item() != wa and D.b["patch"].w.item() != wb


def test_loss_weights_come_from_the_config():
    from cyclegan.train.config import TrainConfig

    cfg = TrainConfig(lambda_cyc=3.0, lambda_id=0.25, d_ratio=4.0)
    assert LossWeights.from_config(cfg) == LossWeights(3.0, 0.25, 4.0)
    cfg = TrainConfig(lambda_id=0.25, lambda_id_steps=7)
    assert LossWeights.from_config(cfg).lambda_id_steps == 7


def test_identity_weight_fades_to_zero_and_then_its_passes_stop():
    w = LossWeights(10.0, 0.5, 2.0, lambda_id_steps=4)
    assert [w.at(k).lambda_id for k in range(6)] == [0.5, 0.375, 0.25, 0.125, 0.0, 0.0]
    assert LossWeights(10.0, 0.5, 2.0).at(10**6).lambda_id == 0.5  # no fade asked for
    a, b = torch.rand(1, 3, 4, 4) * 2 - 1, torch.rand(1, 3, 4, 4) * 2 - 1
    calls = []
    for k in (3, 4):
        G = Generators(_Scale(0.5), _Shift(0.1))
        D = Discriminators({"patch": _MeanD(1.0, 0.0)}, {"patch": _MeanD(1.0, 0.0)})
        seen = []  # batch sizes A2B ran on
        G.a2b.register_forward_hook(lambda _, inp, out, seen=seen: seen.append(len(inp[0])))
        got = train_step(G, D, torch.optim.SGD(G.parameters(), lr=0.1),
                         torch.optim.SGD(D.trainable, lr=0.1), (ImagePool(0), ImagePool(0)),
                         a, b, w.at(k))
        calls.append(sum(seen))
        want = 10.0 * 0.125 * (b * 0.5 - b).abs().mean().item() if k == 3 else 0.0
        assert got["idt_B"].item() == pytest.approx(want, rel=1e-5)
    # A2B runs on real A and on fake A (the cycle), plus on real B while identity lasts.
    assert calls == [3, 2]


def test_identity_fade_needs_an_identity_loss():
    from cyclegan.train.config import TrainConfig, TrainError

    with pytest.raises(TrainError, match="--lambda-id is 0"):
        TrainConfig(lambda_id=0.0, lambda_id_steps=100).resolved()
    assert TrainConfig(lambda_id=0.5, lambda_id_steps=100).resolved().lambda_id_steps == 100
