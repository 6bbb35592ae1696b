import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cyclegan.evaluation import metrics


def _rand(n=2, c=3, h=16, w=20, lo=-1.0, hi=1.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g, dtype=dtype) * (hi - lo) + lo


def test_identical_images():
    x = _rand()
    assert torch.all(metrics.psnr(x, x) == metrics.PSNR_CAP)
    assert torch.allclose(metrics.ssim_images(x, x), torch.ones(2, dtype=torch.float64))
    assert torch.all(metrics.l1(x, x) == 0)
    assert torch.allclose(metrics.structure_ssim(x, x), torch.ones(2))


def test_shifted_colours_by_hand():
    # +0.2 on the [-1, 1] scale is +0.1 on [0, 1]: L1 = 0.1, MSE = 0.01, PSNR = 20 dB.
    x = _rand(lo=-1.0, hi=0.7)
    y = x + 0.2
    assert torch.allclose(metrics.l1(x, y), torch.full((2,), 0.1, dtype=torch.float64))
    assert torch.allclose(metrics.psnr(x, y), torch.full((2,), 20.0, dtype=torch.float64))
    # One channel only shifted by 0.6 ([0, 1]: 0.3): MSE = 0.09 / 3 = 0.03.
    x = _rand(lo=-1.0, hi=0.4)
    z = x.clone()
    z[:, 1] += 0.6
    assert torch.allclose(metrics.l1(x, z), torch.full((2,), 0.1, dtype=torch.float64))
    expected = -10 * math.log10(0.03)
    assert torch.allclose(metrics.psnr(x, z), torch.full((2,), expected, dtype=torch.float64))


def _ssim_reference(x: np.ndarray, y: np.ndarray, win: int = 11, sigma: float = 1.5,
                    data_range: float = 1.0) -> float:
    """Direct SSIM: for every valid window position, weighted stats with a 2-D Gaussian."""
    r = np.arange(win) - (win - 1) / 2
    g1 = np.exp(-r * r / (2 * sigma * sigma))
    g = np.outer(g1, g1)
    g /= g.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - win + 1):
            for j in range(x.shape[2] - win + 1):
                a = x[c, i:i + win, j:j + win]
                b = y[c, i:i + win, j:j + win]
                ma, mb = (g * a).sum(), (g * b).sum()
                va = (g * (a - ma) ** 2).sum()
                vb = (g * (b - mb) ** 2).sum()
                cov = (g * (a - ma) * (b - mb)).sum()
                values.append((2 * ma * mb + c1) * (2 * cov + c2)
                              / ((ma * ma + mb * mb + c1) * (va + vb + c2)))
    return float(np.mean(values))


@pytest.mark.parametrize("shape", [(3, 16, 20), (1, 13, 12), (2, 9, 9)])
def test_ssim_matches_direct_reference(shape):
    x = _rand(1, *shape, lo=0, hi=1, seed=1)
    noise = _rand(1, *shape, lo=-0.2, hi=0.2, seed=2)
    y = (0.7 * x + 0.1 + noise).clamp(0, 1)
    win = min(11, shape[1] - (1 - shape[1] % 2), shape[2] - (1 - shape[2] % 2))
    ref = _ssim_reference(x[0].numpy(), y[0].numpy(), win)
    got = metrics.ssim(x, y)
    assert got.shape == (1,)
    assert abs(float(got[0]) - ref) < 1e-10
    assert ref < 0.99


def test_ssim_symmetric_and_drops_with_noise():
    x = _rand(lo=0, hi=1)
    y = (x + 0.1 * _rand(seed=3)).clamp(0, 1)
    z = (x + 0.5 * _rand(seed=3)).clamp(0, 1)
    assert torch.allclose(metrics.ssim(x, y), metrics.ssim(y, x))
    assert torch.all(metrics.ssim(x, z) < metrics.ssim(x, y))
    assert torch.all(metrics.ssim(x, y) < 1)


def test_structure_ssim_ignores_small_colour_change_not_layout():
    x = _rand(2, 3, 64, 64, lo=-1, hi=1, seed=4, dtype=torch.float32)
    x = torch.nn.functional.avg_pool2d(x, 5, 1, 2)  # some spatial structure
    tinted = x.clone()
    tinted[:, 2] = (tinted[:, 2] + 0.3).clamp(-1, 1)
    shuffled = x.flip(-1).flip(-2)
    keep = metrics.structure_ssim(x, tinted)
    lose = metrics.structure_ssim(x, shuffled)
    assert torch.all(keep > 0.9)
    assert torch.all(lose < 0.5)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(_rand(h=8), _rand(h=10))
    with pytest.raises(ValueError, match="N x C x H x W"):
        metrics.l1(torch.zeros(3, 4, 4), torch.zeros(3, 4, 4))


def _closed_form_fid(mu1, c1, mu2, c2) -> float:
    # tr((C1 C2)^1/2) = sum of square roots of the eigenvalues of C1 C2 (real, >= 0).
    eig = np.linalg.eigvals(c1 @ c2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2)
                 - 2 * np.sqrt(np.clip(eig.real, 0, None)).sum())


def _random_cov(d, seed):
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_fid_of_gaussians_matches_closed_form():
    d = 5
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    c1, c2 = _random_cov(d, 1), _random_cov(d, 2)
    got = metrics.fid_from_stats(*(torch.from_numpy(t) for t in (mu1, c1, mu2, c2)))
    assert got == pytest.approx(_closed_form_fid(mu1, c1, mu2, c2), rel=1e-9)
    # Diagonal (commuting) covariances: |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2.
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    m1, m2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    expected = 5.0 + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum()
    got = metrics.fid_from_stats(torch.from_numpy(m1), torch.from_numpy(np.diag(s1)),
                                 torch.from_numpy(m2), torch.from_numpy(np.diag(s2)))
    assert got == pytest.approx(expected, rel=1e-12)


def test_fid_from_samples_and_identical_sets():
    d, n = 4, 20000
    rng = np.random.default_rng(5)
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    c1, c2 = _random_cov(d, 6), _random_cov(d, 7)
    f1 = torch.from_numpy(rng.multivariate_normal(mu1, c1, size=n))
    f2 = torch.from_numpy(rng.multivariate_normal(mu2, c2, size=n))
    assert metrics.fid_from_features(f1, f2) == pytest.approx(
        _closed_form_fid(mu1, c1, mu2, c2), rel=0.05)
    assert metrics.fid_from_features(f1, f1.clone()) == pytest.approx(0.0, abs=1e-6)
    # Fewer samples than dimensions: rank-deficient covariances still give a finite value.
    small = torch.from_numpy(rng.normal(size=(10, 32)))
    assert metrics.fid_from_features(small, small.clone()) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("n1, n2, d", [(30, 40, 50), (12, 200, 64), (25, 25, 300)])
def test_fid_with_more_dimensions_than_vectors_matches_the_covariance_formula(n1, n2, d):
    # 1280-d features of 200 photos take the N x N route; the oracle is the D x D formula.
    rng = np.random.default_rng(n1 + n2 + d)
    scale = rng.uniform(0.2, 2.0, size=d)
    x = rng.normal(size=(n1, d)) * scale
    y = rng.normal(0.3, 1.0, size=(n2, d)) * scale[::-1]
    want = _closed_form_fid(x.mean(0), np.cov(x, rowvar=False), y.mean(0),
                            np.cov(y, rowvar=False))
    got = metrics.fid_from_features(torch.from_numpy(x), torch.from_numpy(y))
    assert got == pytest.approx(want, rel=1e-6)


def test_fid_rejects_bad_features():
    with pytest.raises(ValueError, match="at least 2"):
        metrics.fid_from_features(torch.zeros(1, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="differ"):
        metrics.fid_from_features(torch.randn(5, 3), torch.randn(5, 4))
    with pytest.raises(ValueError, match="NaN"):
        metrics.fid_from_features(torch.full((5, 3), float("nan")), torch.randn(5, 3))


def _mmd_reference(x: np.ndarray, y: np.ndarray) -> float:
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (a @ b / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_direct_unbiased_mmd():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(12, 3)), rng.normal(0.5, 1.0, size=(12, 3))
    mean, std = metrics.kid_from_features(torch.from_numpy(x), torch.from_numpy(y),
                                          n_subsets=3, subset_size=100)
    # Subsets as large as the sets hold every vector, so each equals the full estimate.
    assert mean == pytest.approx(_mmd_reference(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_near_zero_for_same_distribution_positive_for_shift():
    g = torch.Generator().manual_seed(9)
    a, b = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    same, _ = metrics.kid_from_features(a, b, n_subsets=20, subset_size=200)
    shifted, _ = metrics.kid_from_features(a, b + 1.0, n_subsets=20, subset_size=200)
    ident, _ = metrics.kid_from_features(a, a.clone(), n_subsets=20, subset_size=200)
    # The unbiased estimate is ~0 (it may dip below) up to an O(1/subset) term.
    assert shifted > 5
    assert abs(same) < 0.01 * shifted
    assert abs(ident) < 0.01 * shifted


def _coloured(n, rgb, seed):
    g = torch.Generator().manual_seed(seed)
    base = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1)
    return (base + 0.2 * torch.randn(n, 3, 32, 32, generator=g)).clamp(-1, 1)


def test_domain_classifier_on_separable_domains():
    red, blue = _coloured(40, (0.8, -0.8, -0.8), 0), _coloured(40, (-0.8, -0.8, 0.8), 1)
    clf = metrics.train_domain_classifier(red, blue, size=32, steps=40, seed=0)
    test_red, test_blue = _coloured(20, (0.8, -0.8, -0.8), 2), _coloured(20, (-0.8, -0.8, 0.8), 3)
    assert metrics.share_in_domain(clf, test_red, "A", 32) == 1.0
    assert metrics.share_in_domain(clf, test_blue, "B", 32) == 1.0
    # "Translated" red -> blue images count as target; untranslated ones do not.
    assert metrics.share_in_domain(clf, test_blue, "B", 32) > 0.95
    assert metrics.share_in_domain(clf, test_red, "B", 32) < 0.05
    again = metrics.train_domain_classifier(red, blue, size=32, steps=40, seed=0)
    assert torch.equal(metrics.prob_domain_b(clf, test_red, 32),
                       metrics.prob_domain_b(again, test_red, 32))
    with pytest.raises(ValueError, match="domain"):
        metrics.share_in_domain(clf, test_red, "C")


def test_checkerboard_score_sees_transposed_convolution_grids():
    from cyclegan.models import ModelConfig, build_generator, init_weights

    torch.manual_seed(0)
    x = F.avg_pool2d(torch.rand(2, 3, 64, 64) * 2 - 1, 5, 1, 2)
    scores = {}
    for up in ("deconv", "resize"):
        g = build_generator(ModelConfig(ngf=8, n_blocks=2, upsample=up), fused=False)
        init_weights(g)
        with torch.no_grad():
            scores[up] = metrics.checkerboard_score(g(x)).mean().item()
    base = metrics.checkerboard_score(x).mean().item()
    assert scores["deconv"] > 20 * base and scores["deconv"] > 10 * scores["resize"]
    grid = torch.zeros(1, 3, 16, 16)
    grid[..., ::2, ::2] = 1.0
    assert metrics.checkerboard_score(grid).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="multiples of 4"):
        metrics.checkerboard_score(torch.zeros(1, 3, 10, 12))
