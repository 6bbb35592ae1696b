import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cyclegan.data import seasons_pairs
from cyclegan.train.recipe import (
    Discriminators,
    Generators,
    ImagePool,
    LossWeights,
    loss_names,
    train_step,
)
from cyclegan.train.structure import LEVELS, StructureLoss, self_similarity, structure_loss

from conftest import MeanDiscriminator, StubGenerator, needs_backbone


def test_self_similarity_equals_the_cosines_written_out_in_float64():
    torch.manual_seed(0)
    f = torch.randn(2, 3, 5, 6)
    got = self_similarity(f, window=3).double().numpy()
    x = f.double().numpy()
    n, c, h, w = x.shape
    want = np.zeros((n, 9, h, w))
    for i in range(n):
        for y in range(h):
            for z in range(w):
                for d, (dy, dz) in enumerate((a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)):
                    if 0 <= y + dy < h and 0 <= z + dz < w:  # off the map: 0
                        p, q = x[i, :, y, z], x[i, :, y + dy, z + dz]
                        want[i, d, y, z] = p @ q / np.linalg.norm(p) / np.linalg.norm(q)
    np.testing.assert_allclose(got, want, atol=1e-6)


class _PoolingNet(torch.nn.Module):
    """A stand-in backbone: level "sK" is the image average-pooled by K."""

    def forward(self, x, levels):
        return {k: F.avg_pool2d(x, int(k[1:])) for k in levels}


def test_the_loss_averages_exactly_the_levels_it_is_given():
    torch.manual_seed(1)
    x, y = torch.rand(2, 1, 3, 32, 32) * 2 - 1

    def level(k):  # the loss at one level, written out
        sx, sy = (self_similarity(F.avg_pool2d(t, k)) for t in (x, y))
        return (sx - sy).abs().mean().item()

    net = _PoolingNet()
    assert StructureLoss(net, ("s8",))(x, y).item() == pytest.approx(level(8), rel=1e-6)
    assert StructureLoss(net, ("s2", "s8"))(x, y).item() == pytest.approx(
        (level(2) + level(8)) / 2, rel=1e-6)
    assert StructureLoss(net)(x, y).item() == pytest.approx(
        sum(level(int(k[1:])) for k in LEVELS) / len(LEVELS), rel=1e-6)


def test_train_step_weighs_each_photo_against_its_own_translation():
    a, b = torch.rand(2, 3, 4, 4) * 2 - 1, torch.rand(2, 3, 4, 4) * 2 - 1
    G = Generators(StubGenerator(lambda x: x * 0.5), StubGenerator(lambda x: x + 0.1))
    D = Discriminators({"patch": MeanDiscriminator()}, {"patch": MeanDiscriminator()})
    seen = []

    def structure(x, y):
        seen.append((x, y.detach()))
        return (x - y).abs().mean()

    w = LossWeights(10.0, 0.0, 2.0, lambda_struct=3.0)
    got = train_step(G, D, torch.optim.SGD(G.parameters(), lr=0.1),
                     torch.optim.SGD(D.trainable, lr=0.1), (ImagePool(0), ImagePool(0)),
                     a, b, w, structure=structure)
    assert list(got) == list(loss_names(weights=w))
    assert got["struct_A"].item() == pytest.approx(3.0 * (a - a * 0.5).abs().mean().item())
    assert got["struct_B"].item() == pytest.approx(3.0 * (b - (b + 0.1)).abs().mean().item())
    assert got["G"].item() == pytest.approx(sum(got[k].item() for k in (
        "G_A2B", "G_B2A", "cyc_A", "cyc_B", "idt_A", "idt_B", "struct_A", "struct_B")))
    assert torch.equal(seen[0][0], a) and torch.equal(seen[1][0], b)


@pytest.fixture(scope="module")
def photos():
    """Procedural landscapes at 96 px (12 x 12 at stride 8), A and B of one scene."""
    a, b = seasons_pairs(4, 96, seed=7)
    return a, b


@needs_backbone
def test_the_loss_lets_appearance_go_and_holds_structure(photos):
    a, _ = photos
    loss = structure_loss("cpu")
    assert loss(a, a).item() == pytest.approx(0.0, abs=1e-6)
    # A colour grade (cooler, darker, less saturated), and the same scene moved by 8 px
    # or blurred: the grade must cost less than either structural change.
    gray = a.mean(1, keepdim=True)
    grade = (0.6 * a + 0.4 * gray) * 0.85 + torch.tensor([-0.05, 0.0, 0.08]).view(1, 3, 1, 1)
    moved = torch.roll(a, shifts=(8, 8), dims=(2, 3))
    blurred = F.avg_pool2d(F.pad(a, (3, 3, 3, 3), mode="reflect"), 7, stride=1)
    costs = {name: loss(a, y).item() for name, y in
             (("grade", grade), ("moved", moved), ("blurred", blurred))}
    assert costs["grade"] < costs["moved"] / 2 and costs["grade"] < costs["blurred"] / 2, costs


@needs_backbone
def test_gradients_reach_the_translation_only(photos):
    a, _ = photos
    loss = structure_loss("cpu")
    y = (a * 0.5).requires_grad_(True)
    loss(a, y).backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.net.parameters())
    assert set(loss.net(a, LEVELS)) == set(LEVELS)


def test_without_the_backbone_the_flag_is_refused_before_any_work(monkeypatch):
    from cyclegan import backbone
    from cyclegan.train.config import TrainConfig, TrainError

    monkeypatch.setattr(backbone, "available", lambda: False)
    with pytest.raises(TrainError, match=r"--lambda-struct .*cyclegan\[efficientnet\]"):
        TrainConfig(lambda_struct=1.0).resolved()
    assert TrainConfig().resolved().lambda_struct == 0.0  # the default needs nothing
