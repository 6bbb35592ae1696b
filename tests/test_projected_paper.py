"""The projected discriminator as Projected GANs run it: inputs below the backbone's scale
resized up to it, the hinge loss, the blur warm-up; each against a hand reference."""

import json

import numpy as np
import pytest
import torch

import cyclegan.projected as projected
from cyclegan import backbone
from cyclegan.checkpoint import load_checkpoint
from cyclegan.data import seasons_pairs, to_pil
from cyclegan.errors import TrainError
from cyclegan.train.config import TrainConfig
from cyclegan.train.loop import train
from cyclegan.train.recipe import (
    Discriminators,
    Generators,
    ImagePool,
    LossWeights,
    hinge_loss,
    train_step,
)

from conftest import needs_backbone


class StubBackbone:
    """Records what the frozen backbone is given; returns zero maps of the real shapes."""

    def __init__(self):
        self.inputs = []

    def __call__(self, x, levels):
        self.inputs.append(x.detach().clone())
        n, _, h, w = x.shape
        return {lv: x.new_zeros(n, backbone.CHANNELS[lv], -(-h // int(lv[1:])),
                                -(-w // int(lv[1:]))) for lv in levels}


@pytest.fixture
def stub(monkeypatch):
    net = StubBackbone()
    monkeypatch.setattr(backbone, "load", lambda device="cpu": net)
    return net


@pytest.mark.parametrize("image_size, input_size, seen", [
    (64, 224, 224), (112, 224, 224), (64, 0, 64), (256, 224, 256)])
def test_inputs_below_the_backbone_scale_are_resized_up_to_it(stub, image_size, input_size,
                                                               seen):
    d = projected.ProjectedDiscriminator(image_size, input_size=input_size, augmentation=False)
    x = torch.rand(2, 3, image_size, image_size) * 2 - 1
    logits = d(x)
    assert stub.inputs[-1].shape == (2, 3, seen, seen)
    if seen != image_size:  # the reference's bilinear resize, corners not aligned
        want = torch.nn.functional.interpolate(x, size=seen, mode="bilinear",
                                               align_corners=False)
        torch.testing.assert_close(stub.inputs[-1], want)
    # The heads are built for what the backbone sees: each halves its map to 4 x 4 or less.
    for lv, out in zip(projected.LEVELS, logits):
        end = -(-seen // int(lv[1:]))
        while end > 4:
            end //= 2
        assert out.shape[-1] == end


def test_the_blur_is_the_references_filter():
    sigma = 1.0
    # floor(3 sigma) = 3 taps each side, 2^-(k / sigma)^2, normalised; zero padding.
    taps = np.array([2.0 ** -((k / sigma) ** 2) for k in range(-3, 4)])
    taps /= taps.sum()
    x = torch.zeros(1, 3, 11, 11, dtype=torch.float64)
    x[0, :, 5, 5] = 1.0
    x[0, 1, 0, 0] = 2.0  # a corner pixel: what falls off the edge is lost (zero padding)
    out = projected.blur(x, sigma)[0].numpy()
    np.testing.assert_allclose(out[0, 2:9, 2:9], np.outer(taps, taps), atol=1e-12)
    np.testing.assert_allclose(out[1, 0:4, 0:4], np.outer(taps, taps)[3:, 3:] * 2
                               + out[0, 0:4, 0:4], atol=1e-12)
    assert projected.blur(x, 0.3) is x  # floor(0.9) = 0: no taps to spread over


def test_the_blur_fades_linearly_to_none():
    assert [projected.blur_sigma(s, 2.0, 4) for s in range(6)] == [2.0, 1.5, 1.0, 0.5, 0, 0]
    assert projected.blur_sigma(0, 2.0, 0) == 0.0


def test_the_backbone_sees_the_blurred_inputs(stub):
    d = projected.ProjectedDiscriminator(32, augmentation=False)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    d.blur_sigma = 1.5
    d(x)
    torch.testing.assert_close(stub.inputs[-1], projected.blur(x, 1.5))
    d.blur_sigma = 0.0
    d(x)
    assert torch.equal(stub.inputs[-1], x)


def test_hinge_loss_by_hand():
    p = torch.tensor([-2.0, -0.5, 0.25, 3.0]).view(4, 1, 1, 1)
    assert hinge_loss(p, True).item() == pytest.approx((3 + 1.5 + 0.75 + 0) / 4)
    assert hinge_loss(p, False).item() == pytest.approx((0 + 0.5 + 1.25 + 4) / 4)
    assert hinge_loss(p, True, generator=True).item() == pytest.approx(-0.1875)
    # Several levels: the mean of each level's loss.
    q = torch.tensor([1.0, -3.0]).view(2, 1, 1, 1)
    assert hinge_loss([p, q], True).item() == pytest.approx((1.3125 + 2.0) / 2)


class _Linear(torch.nn.Module):
    """A stub discriminator: one logit per image, w * mean(x) + c."""

    def __init__(self, w, c):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))
        self.c = torch.nn.Parameter(torch.tensor(c))

    def forward(self, x):
        return (x.mean((1, 2, 3)) * self.w + self.c).view(-1, 1, 1, 1)


class _Scale(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.s = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return x * self.s


@pytest.mark.parametrize("loss", ["hinge", "lsgan"])
def test_train_step_uses_the_projected_loss_asked_for(loss):
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 4, 4) * 2 - 1, torch.rand(2, 3, 4, 4) * 2 - 1
    G = Generators(_Scale(), _Scale())  # the identity, with a parameter to differentiate
    D = Discriminators({"projected": _Linear(2.0, 0.5)}, {"projected": _Linear(-1.0, 0.25)})
    got = train_step(G, D, torch.optim.SGD(G.parameters(), lr=0.0),
                     torch.optim.SGD(D.trainable, lr=0.0), (ImagePool(0), ImagePool(0)), a, b,
                     LossWeights(10.0, 0.0, 2.0, projected_loss=loss))
    d_a = (a.double().mean((1, 2, 3)) * 2.0 + 0.5)  # D_A on real A
    d_a_fake = (b.double().mean((1, 2, 3)) * 2.0 + 0.5)  # D_A on fake A = B (identity G)
    d_b_fake = (a.double().mean((1, 2, 3)) * -1.0 + 0.25)
    if loss == "hinge":
        want_g = -d_b_fake.mean()
        want_d = ((1 - d_a).clamp_min(0).mean() + (1 + d_a_fake).clamp_min(0).mean()) / 2
    else:
        want_g = ((d_b_fake - 1) ** 2).mean()
        want_d = (((d_a - 1) ** 2).mean() + (d_a_fake ** 2).mean()) / 2
    assert got["Gproj_A2B"].item() == pytest.approx(want_g.item(), rel=1e-5)
    assert got["Dproj_A"].item() == pytest.approx(want_d.item(), rel=1e-5)


@pytest.mark.parametrize("kw, message", [
    (dict(projected_loss="hinge"), "--projected-loss needs --discriminator projected"),
    (dict(discriminator="projected", projected_blur=2.0), "go together"),
    (dict(discriminator="projected", projected_loss="wgan"), "must be one of lsgan, hinge"),
])
def test_bad_projected_options_are_refused(kw, message):
    with pytest.raises(TrainError, match=message):
        TrainConfig(**kw).resolved()


@needs_backbone
def test_a_run_with_the_papers_options(tmp_path, monkeypatch):
    root = tmp_path / "data"
    summer, winter = seasons_pairs(8, 40, seed=5)
    for domain, imgs in (("trainA", summer[:4]), ("trainB", winter[4:])):
        (root / domain).mkdir(parents=True)
        for i, t in enumerate(imgs):
            to_pil(t).save(root / domain / f"img {i}.png")
    sigmas, real_blur = [], projected.blur

    def recording_blur(x, sigma):
        sigmas.append(sigma)
        return real_blur(x, sigma)

    monkeypatch.setattr(projected, "blur", recording_blur)
    run = tmp_path / "run"
    train(TrainConfig(data=str(root), out=str(run), image_size=32, ngf=8, n_blocks=1,
                      workers=0, device="cpu", quiet=True, log_every=1, batch_size=2, steps=3,
                      discriminator="projected", projected_size=64, projected_loss="hinge",
                      projected_blur=2.0, projected_blur_steps=4))
    # Four discriminator calls per step (G: A and B; D: A and B), at the step's sigma.
    assert sigmas == [2.0] * 4 + [1.5] * 4 + [1.0] * 4
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss_Dproj_A"]) for r in records)
    ckpt = load_checkpoint(run / "checkpoints" / "latest.pt")
    # Heads sized for 64 px (the resized input), not the 32 px crop: s4's map is 16 x 16,
    # not 8 x 8, and takes two strided convolutions to 4 x 4, not one.
    convs = [k for k in ckpt["Dproj_A"] if k.startswith("heads.s4.") and "original" in k]
    assert len(convs) == 3  # two strided 4x4 convolutions and the logit convolution


def test_the_memory_estimate_counts_the_resized_inputs():
    from cyclegan.train.budget import estimate_bytes

    def estimate(size):
        cfg = TrainConfig(image_size=64, ngf=8, n_blocks=1, discriminator="projected",
                          projected_size=size).resolved()
        return estimate_bytes(cfg, cfg.model_config())

    # The backbone's activations grow with the area it sees: (224 / 64)^2 = 12.25 times.
    grown = estimate(224) - estimate(0)
    assert grown > 0.9 * 6 * 60 * 1024**2 * (1 - (64 / 224) ** 2)
