"""cyclegan-eval's fixed judge (cyclegan.evaluation.judge): distances that see what they
should, at any model resolution, and a cache that returns exactly what it stored and only for
the same input and backbone."""

import numpy as np
import pytest
import torch

from cyclegan.evaluation import judge, metrics

pytest.importorskip("efficientnet_lite_pytorch", reason="the efficientnet extra")
skdata = pytest.importorskip("skimage.data", reason="scikit-image (the test extra)")

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry",
          "hubble_deep_field")


def photo_set(size: int) -> torch.Tensor:
    """16 crops of scikit-image's sample photos, size x size, in [-1, 1]."""
    crops = []
    stereo = skdata.stereo_motorcycle()
    for rgb in [getattr(skdata, n)()[..., :3] for n in PHOTOS] + [stereo[0], stereo[1]]:
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()
        x = x / 127.5 - 1.0
        h, w = x.shape[-2:]
        s = min(h, w) * 3 // 4
        for top, left in ((0, 0), (h - s, w - s)):
            crops.append(metrics.resize(x[..., top:top + s, left:left + s], size))
    return torch.cat(crops)


def tinted(x: torch.Tensor) -> torch.Tensor:
    """A colour failure: warm cast and lifted blacks, structure untouched."""
    return (x * 0.8 + torch.tensor([0.25, 0.05, -0.2]).view(1, 3, 1, 1)).clamp(-1, 1)


def noised(x: torch.Tensor) -> torch.Tensor:
    """Mild noise: sigma 2.5 grey levels."""
    g = torch.Generator().manual_seed(0)
    return (x + 0.02 * torch.randn(x.shape, generator=g)).clamp(-1, 1)


@pytest.fixture(scope="module")
def the_judge():
    return judge.Judge("cpu")


@pytest.fixture(scope="module")
def feats(the_judge):
    x = photo_set(256)
    return {"real": the_judge.features(x), "tinted": the_judge.features(tinted(x)),
            "noised": the_judge.features(noised(x)),
            "at 384 px": the_judge.features(photo_set(384))}


def fd(a, b):
    return metrics.fid_from_features(a, b)


@pytest.mark.parametrize("space", judge.LEVELS)
def test_distances_see_a_colour_failure_not_mild_noise(feats, space):
    real = feats["real"][space]
    assert real.dtype == torch.float64 and real.shape[0] == 16
    assert fd(real, real.clone()) == pytest.approx(0.0, abs=1e-6)
    noise, tint = fd(real, feats["noised"][space]), fd(real, feats["tinted"][space])
    assert tint > 2 * noise  # measured: 4.4x (pool), 3.0x (s16)
    # The judge sees every image at its own size: the same photos prepared at another
    # resolution land closer than the mildly noised copy.
    assert fd(real, feats["at 384 px"][space]) < noise


def test_dimensions(feats):
    for suffix in ("", judge.LUMA):
        assert feats["real"]["pool" + suffix].shape == (16, 1280)
        assert feats["real"]["s16" + suffix].shape == (16, 112)


def chroma_shifted(x: torch.Tensor) -> torch.Tensor:
    """A colour grade that keeps every pixel's luma: a shift orthogonal to the BT.601
    weights (0.299 * 0.587 - 0.587 * 0.299 = 0); nothing clips in inputs scaled by 0.7."""
    return x + 0.5 * torch.tensor([0.587, -0.299, 0.0]).view(1, 3, 1, 1)


def whitened_ground(x: torch.Tensor) -> torch.Tensor:
    """Snow on the ground: the lower half lifted halfway to white."""
    y = x.clone()
    h = x.shape[-2]
    y[..., h // 2:, :] = y[..., h // 2:, :] * 0.5 + 0.5
    return y


@pytest.mark.parametrize("level", judge.LEVELS)
def test_luma_spaces_are_blind_to_colour_and_see_light(the_judge, level):
    x = photo_set(256) * 0.7
    real, f = the_judge.features(x), {name: the_judge.features(fn(x)) for name, fn in (
        ("graded", chroma_shifted), ("noised", noised), ("tinted", tinted),
        ("snowy", whitened_ground))}
    blind = level + judge.LUMA

    def dist(name, space):
        return fd(real[space], f[name][space])

    # A grade that keeps luma moves the colour space past noise, the luma space not at all.
    assert dist("graded", level) > 2 * dist("noised", level)
    assert dist("graded", blind) < dist("noised", blind) / 100
    # The warm cast with lifted blacks: far past noise in colour (measured 2.8x pool, 1.9x
    # s16), within it in luma (0.44x, 0.28x).
    assert dist("tinted", blind) < dist("noised", blind)
    # Whitened ground is a change of light: the luma space sees it (measured 4.7x, 1.5x).
    assert dist("snowy", blind) > dist("noised", blind)


def test_features_do_not_depend_on_the_batch(the_judge):
    x = photo_set(64)[:4]
    whole = the_judge.features(x)
    again = the_judge.features(x.clone())
    small = judge.Judge("cpu", batch_size=3).features(x)
    for s in judge.SPACES:
        assert torch.equal(whole[s], again[s])
        torch.testing.assert_close(small[s], whole[s], rtol=1e-4, atol=1e-4)


def test_cache_returns_what_it_stored_for_the_same_input_only(tmp_path, monkeypatch):
    j = judge.Judge("cpu", cache_dir=tmp_path)
    x = photo_set(32)[:2]
    first = j.features(x, cache=True)
    assert len(list(tmp_path.glob("judge-*.pt"))) == 1
    calls = []
    real_forward = j.net.forward
    monkeypatch.setattr(j.net, "forward", lambda *a: calls.append(1) or real_forward(*a))
    again = j.features(x.clone(), cache=True)
    assert calls == [] and all(torch.equal(again[s], first[s]) for s in judge.SPACES)
    # One changed pixel, another backbone, or no cache asked for: computed afresh (two
    # passes each: the photos and their luma).
    changed = x.clone()
    changed[0, 0, 0, 0] += 0.5
    j.features(changed, cache=True)
    assert len(calls) == 2 and len(list(tmp_path.glob("judge-*.pt"))) == 2
    j.features(x, cache=False)
    assert len(calls) == 4
    monkeypatch.setattr(j, "version", j.version + " (other weights)")
    j.features(x, cache=True)
    assert len(calls) == 6 and len(list(tmp_path.glob("judge-*.pt"))) == 3


def test_damaged_cache_entry_is_recomputed(tmp_path):
    j = judge.Judge("cpu", cache_dir=tmp_path)
    x = photo_set(32)[:2]
    want = j.features(x, cache=True)
    (entry,) = tmp_path.glob("judge-*.pt")
    entry.write_bytes(b"torn")
    got = j.features(x, cache=True)
    assert all(torch.equal(got[s], want[s]) for s in judge.SPACES)
    assert entry.stat().st_size > 100  # rewritten
