import pytest
import torch

from cyclegan.evaluation import baselines


@pytest.fixture
def photos():
    torch.manual_seed(0)
    return torch.rand(4, 3, 16, 20) * 1.6 - 0.8


def test_identity_and_grayscale(photos):
    assert torch.equal(baselines.identity(photos), photos)
    gray = baselines.grayscale(photos)
    assert gray.shape == photos.shape
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    torch.testing.assert_close(gray[:, :1], (photos * w).sum(1, keepdim=True))


def test_winter_look_is_paler_brighter_and_bluer(photos):
    out = baselines.winter_look(photos)
    assert out.min() >= -1 and out.max() <= 1
    sat = lambda x: (x.amax(1) - x.amin(1)).mean()  # noqa: E731
    assert sat(out) < sat(photos)
    assert out.mean() > photos.mean()
    assert (out[:, 2] - out[:, 0]).mean() > (photos[:, 2] - photos[:, 0]).mean()
    assert sat(baselines.summer_look(photos)) > sat(photos)


def test_colour_transfer_matches_the_target_statistics(photos):
    target = torch.rand(6, 3, 8, 8) * 0.4 - 0.2 + torch.tensor([0.3, -0.1, -0.2]).view(1, 3, 1, 1)
    mean_t, std_t = baselines.channel_stats(target)
    out = baselines.color_transfer(photos, (mean_t, std_t))
    torch.testing.assert_close(out.double().mean((2, 3)), mean_t.expand(4, 3), atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(out.double().std((2, 3)), std_t.expand(4, 3), atol=1e-5, rtol=0)


@pytest.mark.parametrize("domains, direction, names", [
    ({"A": "summer", "B": "winter"}, "A2B", ["untranslated", "grayscale", "winter look",
                                            "colour transfer"]),
    ({"A": "summer", "B": "winter"}, "B2A", ["untranslated", "grayscale", "summer look",
                                            "colour transfer"]),
    # The season is the target's, wherever it sits (the old rule keyed it on A2B).
    ({"A": "Winter", "B": "summer_photos"}, "A2B", ["untranslated", "grayscale",
                                                    "summer_photos look", "colour transfer"]),
    # Issue 22: no "winter look" for horses.
    ({"A": "horse", "B": "zebra"}, "A2B", ["untranslated", "grayscale", "colour transfer"]),
    ({"A": "A", "B": "B"}, "B2A", ["untranslated", "grayscale", "colour transfer"]),
])
def test_baselines_per_direction_are_named_after_the_domains(domains, direction, names):
    chosen = baselines.for_direction(direction, domains)
    assert list(chosen) == names
    look = [n for n in names if n.endswith(" look")]
    if look:
        season = "winter" if "inter" in look[0] else "summer"
        assert chosen[look[0]] is baselines.LOOKS[season]
