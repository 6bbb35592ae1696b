"""The semantic colour transfer baseline: each region of similar features gets its own
target statistics, which one global colour mapping cannot give."""

import pytest
import torch

from cyclegan.evaluation import baselines, semantic

from conftest import needs_backbone

SKY_A, GROUND_A = (-0.2, 0.0, 0.6), (-0.3, 0.3, -0.4)  # blue sky, green ground
SKY_B, GROUND_B = (0.1, 0.2, 0.5), (0.7, 0.7, 0.8)  # paler sky, white ground
SIZE = 96


def scenes(n, sky, ground, seed):
    """A smooth sky over a blocky-textured ground, the horizon near the middle; the two
    regions' mean colours are `sky` and `ground`."""
    g = torch.Generator().manual_seed(seed)
    x = torch.empty(n, 3, SIZE, SIZE)
    for i in range(n):
        cut = SIZE // 2 + int(torch.randint(-8, 9, (1,), generator=g))
        x[i, :, :cut] = torch.tensor(sky).view(3, 1, 1) + torch.linspace(-0.1, 0.1, cut).view(
            1, cut, 1)
        noise = (torch.rand(1, SIZE // 4, SIZE // 4, generator=g) - 0.5) * 0.6
        noise = noise.repeat_interleave(4, 1).repeat_interleave(4, 2)
        x[i, :, cut:] = torch.tensor(ground).view(3, 1, 1) + noise[:, cut:]
    return x.clamp(-1, 1)


def region_means(x):
    """Mean colour of rows surely sky (top 30) and surely ground (bottom 30)."""
    return x[:, :, :30].mean((0, 2, 3)), x[:, :, -30:].mean((0, 2, 3))


@needs_backbone
def test_each_region_moves_to_its_own_target_statistics():
    summer, winter = scenes(6, SKY_A, GROUND_A, 0), scenes(6, SKY_B, GROUND_B, 1)
    model = semantic.fit({"A": summer, "B": winter}, clusters=2)
    assert model.centres.shape == (2, 112)
    torch.testing.assert_close(model.centres.norm(dim=1), torch.ones(2))
    photos = scenes(3, SKY_A, GROUND_A, 2)
    out = semantic.transfer(photos, model, "B")
    assert out.shape == photos.shape and out.min() >= -1 and out.max() <= 1
    sky, ground = region_means(out)
    want_sky, want_ground = torch.tensor(SKY_B), torch.tensor(GROUND_B)
    assert (sky - want_sky).abs().max() < 0.12, sky
    assert (ground - want_ground).abs().max() < 0.12, ground
    # The global transfer moves both regions by one map: the white ground stays green-blue.
    glob_sky, glob_ground = region_means(baselines.color_transfer(
        photos, baselines.channel_stats(winter)))
    assert max((glob_sky - want_sky).abs().max(), (glob_ground - want_ground).abs().max()) > 0.3


def test_a_flat_region_is_not_blown_up():
    # One region, constant colour: its spread is MIN_STD, not 0, so the gain stays finite.
    small = torch.full((1, 3, 8, 8), 0.2)
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    out = semantic.transfer_regions(small, labels, torch.tensor([[0.5, 0.5, 0.5]]),
                                   torch.tensor([[0.3, 0.3, 0.3]]))
    torch.testing.assert_close(out, torch.full_like(small, 0.5))


@pytest.mark.parametrize("k", [2, 3])
def test_kmeans_finds_separated_groups(k):
    g = torch.Generator().manual_seed(0)
    axes = torch.eye(8, dtype=torch.float64)[:k]
    vectors = torch.cat([a + 0.05 * torch.randn(50, 8, generator=g, dtype=torch.float64)
                         for a in axes])
    vectors = torch.nn.functional.normalize(vectors, dim=1)
    centres = semantic.kmeans(vectors, k, seed=1)
    # Every true axis has a centre within a small angle.
    assert ((axes @ centres.T).max(1).values > 0.98).all()
