import numpy as np
import pytest
import torch

from cyclegan.data import seasons_pairs
from cyclegan.train.recipe import (
    Discriminators,
    Generators,
    ImagePool,
    LossWeights,
    loss_names,
    train_step,
)
from cyclegan.train.tone import MIN_SIZE, SCALE, SIGMA, WINDOW, C, tone_loss

from conftest import MeanDiscriminator, StubGenerator


def _reference(x: np.ndarray, y: np.ndarray, scale: int = SCALE) -> float:
    """mean(1 - r) written out in float64: luma, scale x scale block means, and at each
    valid window position the Gaussian-weighted statistics summed term by term."""
    def luma(t):
        t = ((t + 1) / 2 * np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(1)
        n, h, w = t.shape
        return t.reshape(n, h // scale, scale, w // scale, scale).mean((2, 4))

    r = np.arange(WINDOW) - (WINDOW - 1) / 2
    g = np.exp(-r * r / (2 * SIGMA * SIGMA))
    k = np.outer(g, g) / np.outer(g, g).sum()
    lx, ly = luma(x), luma(y)
    n, h, w = lx.shape
    total, count = 0.0, 0
    for i in range(n):
        for p in range(h - WINDOW + 1):
            for q in range(w - WINDOW + 1):
                a, b = lx[i, p:p + WINDOW, q:q + WINDOW], ly[i, p:p + WINDOW, q:q + WINDOW]
                ma, mb = (k * a).sum(), (k * b).sum()
                va, vb = (k * (a - ma) ** 2).sum(), (k * (b - mb) ** 2).sum()
                cov = (k * (a - ma) * (b - mb)).sum()
                total += 1 - (cov + C) / np.sqrt((va + C) * (vb + C))
                count += 1
    return total / count


@pytest.fixture(scope="module")
def scenes():
    """Procedural landscapes at 112 px, summer and winter renders of the same scenes."""
    return seasons_pairs(3, 112, seed=3)


@pytest.mark.parametrize("scale", [None, 8])  # None: the loss's own SCALE
def test_the_loss_equals_the_statistics_written_out_in_float64(scale):
    torch.manual_seed(0)
    size = (40, 44) if scale is None else (64, 72)
    x = torch.rand(2, 3, *size, dtype=torch.float64) * 2 - 1
    y = (0.3 * x + 0.7 * (torch.rand_like(x) * 2 - 1)).flip(-1)
    got = tone_loss(x, y) if scale is None else tone_loss(x, y, scale)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(_reference(x.numpy(), y.numpy(), scale or SCALE),
                                       rel=1e-9)


def test_brightness_and_contrast_are_free_and_inverted_tones_cost_most(scenes):
    a, b = scenes
    assert tone_loss(a, a).item() == pytest.approx(0.0, abs=1e-6)
    costs = {
        "brighter, flatter": tone_loss(a, 0.6 * a + 0.3).item(),
        "colder grade": tone_loss(a, a * torch.tensor([0.8, 0.9, 1.1]).view(1, 3, 1, 1)).item(),
        "winter render": tone_loss(a, b).item(),
        "flat": tone_loss(a, torch.zeros_like(a)).item(),
        "inverted": tone_loss(a, -a).item(),
    }
    assert costs["brighter, flatter"] < 0.1 and costs["colder grade"] < 0.1, costs
    # The other season's render of the scene keeps more of the tone layout than a blank
    # image, and a blank image more than the inverted photo.
    assert costs["winter render"] < costs["flat"] < costs["inverted"], costs
    assert costs["inverted"] > 1.5, costs


def test_gradients_reach_the_translation_only(scenes):
    a, _ = scenes
    x, y = a.clone().requires_grad_(True), (-a).requires_grad_(True)
    tone_loss(x, y).backward()
    assert x.grad is None
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    flat = torch.zeros_like(a, requires_grad=True)  # zero variance: still a finite gradient
    tone_loss(a, flat).backward()
    assert torch.isfinite(flat.grad).all()


def test_under_bf16_autocast_the_statistics_stay_in_float32(scenes):
    a, b = scenes
    want = tone_loss(a, b)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = tone_loss(a, b)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(want.item(), rel=1e-6)


def test_too_small_images_are_refused():
    with pytest.raises(ValueError, match=f"at least {MIN_SIZE} px"):
        tone_loss(torch.zeros(1, 3, MIN_SIZE - 4, 64), torch.zeros(1, 3, MIN_SIZE - 4, 64))


def test_train_step_weighs_each_photo_against_its_own_translation(scenes):
    a, b = scenes
    G = Generators(StubGenerator(lambda x: -x), StubGenerator(lambda x: x * 0.5))
    D = Discriminators({"patch": MeanDiscriminator()}, {"patch": MeanDiscriminator()})
    w = LossWeights(10.0, 0.0, 2.0, lambda_tone=3.0)
    got = train_step(G, D, torch.optim.SGD(G.parameters(), lr=0.1),
                     torch.optim.SGD(D.trainable, lr=0.1), (ImagePool(0), ImagePool(0)),
                     a, b, w)
    assert list(got) == list(loss_names(weights=w))
    assert "struct_A" not in got
    assert got["tone_A"].item() == pytest.approx(3.0 * tone_loss(a, -a).item(), rel=1e-5)
    assert got["tone_B"].item() == pytest.approx(3.0 * tone_loss(b, b * 0.5).item(), rel=1e-5)
    assert got["G"].item() == pytest.approx(sum(v.item() for k, v in got.items()
                                                if k not in ("G", "D_A", "D_B")), rel=1e-6)


def test_the_structure_weight_without_its_loss_is_refused(scenes):
    a, b = scenes
    G = Generators(StubGenerator(lambda x: x), StubGenerator(lambda x: x))
    D = Discriminators({"patch": MeanDiscriminator()}, {"patch": MeanDiscriminator()})
    with pytest.raises(ValueError, match="lambda_struct is on"):
        train_step(G, D, torch.optim.SGD(G.parameters(), lr=0.1),
                   torch.optim.SGD(D.trainable, lr=0.1), (ImagePool(0), ImagePool(0)),
                   a, b, LossWeights(10.0, 0.0, 2.0, lambda_struct=1.0))


def test_the_flag_refuses_images_the_loss_cannot_take():
    from cyclegan.train.config import TrainConfig, TrainError

    with pytest.raises(TrainError, match=f"--lambda-tone needs --image-size {MIN_SIZE}"):
        TrainConfig(lambda_tone=1.0, image_size=MIN_SIZE - 4).resolved()
    assert TrainConfig(lambda_tone=1.0, image_size=MIN_SIZE).resolved().lambda_tone == 1.0
