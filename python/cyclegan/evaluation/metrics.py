"""Image-quality and distribution metrics for `cyclegan-eval`, written in plain torch.

Conventions: images are N x C x H x W tensors in [-1, 1] (the models' range). Pixel metrics
(PSNR, SSIM, L1) map them to [0, 1] first, so L1 is a mean absolute error in [0, 1] units
and PSNR uses a peak of 1. PSNR is capped at PSNR_CAP dB, which is also what identical
images get, so results stay finite (and valid JSON).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PSNR_CAP = 100.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(f"image batches differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.dim() != 4:
        raise ValueError(f"expected N x C x H x W images, got shape {tuple(x.shape)}")


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (clipped)."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute error in [0, 1] units."""
    _check_pair(x, y)
    return (to_unit(x) - to_unit(y)).abs().flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB with peak 1 on the [0, 1] scale, capped at PSNR_CAP."""
    _check_pair(x, y)
    mse = (to_unit(x).double() - to_unit(y).double()).pow(2).flatten(1).mean(1)
    floor = 10.0 ** (-PSNR_CAP / 10.0)
    return (-10.0 * torch.log10(mse.clamp_min(floor))).clamp_max(PSNR_CAP)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA,
                    dtype=torch.float64) -> torch.Tensor:
    """Normalised 1-D Gaussian of odd length `size`."""
    r = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(r * r) / (2 * sigma * sigma))
    return g / g.sum()


def gaussian_filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter of every channel (no padding, as in Wang et al.)."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0,
         window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Per-image mean SSIM (Wang et al. 2004) of images already on a [0, data_range] scale.

    Gaussian window (11, sigma 1.5), K1 = 0.01, K2 = 0.03, statistics over the valid region
    only, each channel separately, then averaged over channels and positions. Images
    smaller than the window use the largest odd window that fits.
    """
    _check_pair(x, y)
    h, w = x.shape[-2:]
    window = min(window, h if h % 2 else h - 1, w if w % 2 else w - 1)
    if window < 1:
        raise ValueError(f"images too small for SSIM: {h} x {w}")
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x, y = x.to(dtype), y.to(dtype)
    g = gaussian_window(window, sigma, dtype).to(x.device)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = gaussian_filter(x, g), gaussian_filter(y, g)
    var_x = gaussian_filter(x * x, g) - mu_x * mu_x
    var_y = gaussian_filter(y * y, g) - mu_y * mu_y
    cov = gaussian_filter(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return (num / den).flatten(1).mean(1)


def ssim_images(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM of two [-1, 1] RGB batches, per channel on the [0, 1] scale."""
    return ssim(to_unit(x), to_unit(y))


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W -> N x 1 x H x W luma (ITU-R BT.601 weights), same value range."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
    return (x * w.view(1, 3, 1, 1)).sum(1, keepdim=True)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bilinear resize to size x size (identity when already that size)."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)


def structure_ssim(inputs: torch.Tensor, outputs: torch.Tensor, size: int = 64) -> torch.Tensor:
    """How much layout a translation kept: per-image SSIM of the grayscale input and output
    at size x size (never enlarged), so colour changes and fine texture count little."""
    _check_pair(inputs, outputs)
    size = min(size, *inputs.shape[-2:])
    return ssim(grayscale(resize(to_unit(inputs), size)), grayscale(resize(to_unit(outputs), size)))


def _features64(f: torch.Tensor, name: str) -> torch.Tensor:
    if f.dim() != 2:
        raise ValueError(f"{name} must be an N x D feature matrix, got shape {tuple(f.shape)}")
    if f.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 feature vectors, got {f.shape[0]}")
    if not torch.isfinite(f).all():
        raise ValueError(f"{name} holds NaN or inf values")
    return f.detach().to("cpu", torch.float64)


def _psd_sqrt(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def fid_from_features(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N x D each).

    |mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^1/2), where tr((C1 C2)^1/2) is computed
    as tr((S C2 S)^1/2) with S = C1^1/2: S C2 S is symmetric PSD, so both roots come from
    eigh in float64 (no scipy, no complex parts).

    With more dimensions than vectors (1280-d features of 200 photos) the covariances have
    low rank and the same value comes from N x N matrices: with centred X1, X2 and
    C_i = X_i^T X_i / (n_i - 1), the eigenvalues of C1 C2 are those of (X1 X2^T)(X1 X2^T)^T
    over (n1 - 1)(n2 - 1), so tr((C1 C2)^1/2) is the sum of the singular values of X1 X2^T
    over sqrt((n1 - 1)(n2 - 1)).
    """
    a, b = _features64(f1, "features 1"), _features64(f2, "features 2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    mu1, mu2 = a.mean(0), b.mean(0)
    if a.shape[1] > min(a.shape[0], b.shape[0]):
        xa, xb = a - mu1, b - mu2
        na, nb = a.shape[0] - 1, b.shape[0] - 1
        cross = torch.linalg.svdvals(xa @ xb.T).sum() / math.sqrt(na * nb)
        value = (mu1 - mu2).pow(2).sum() + xa.pow(2).sum() / na + xb.pow(2).sum() / nb \
            - 2 * cross
        return max(0.0, float(value))
    c1, c2 = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    return fid_from_stats(mu1, c1, mu2, c2)


def fid_from_stats(mu1: torch.Tensor, c1: torch.Tensor, mu2: torch.Tensor,
                   c2: torch.Tensor) -> float:
    mu1, c1, mu2, c2 = (t.to(torch.float64) for t in (mu1, c1, mu2, c2))
    s1 = _psd_sqrt(c1)
    cross = torch.linalg.eigvalsh(s1 @ c2 @ s1).clamp_min(0).sqrt().sum()
    value = (mu1 - mu2).pow(2).sum() + torch.trace(c1) + torch.trace(c2) - 2 * cross
    return max(0.0, float(value))


def _poly_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kid_from_features(f1: torch.Tensor, f2: torch.Tensor, n_subsets: int = 100,
                      subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: (mean, std) over random subsets of the unbiased MMD^2
    estimate with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3."""
    a, b = _features64(f1, "features 1"), _features64(f2, "features 2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    m = min(subset_size, a.shape[0], b.shape[0])
    if m == a.shape[0] == b.shape[0]:
        n_subsets = 1  # every "subset" is the whole of both sets: one value, no spread
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(n_subsets):
        x = a[torch.randperm(a.shape[0], generator=g)[:m]]
        y = b[torch.randperm(b.shape[0], generator=g)[:m]]
        kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
        off = m * (m - 1)
        mmd = ((kxx.sum() - kxx.diagonal().sum()) / off + (kyy.sum() - kyy.diagonal().sum()) / off
               - 2 * kxy.mean())
        values.append(float(mmd))
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0


def checkerboard_score(x: torch.Tensor) -> torch.Tensor:
    """Per image: the share of spectral energy (DC excluded) at the frequencies a stride-2
    upsampling leaves its grid at: periods 2 and 4 along each axis and their combinations.

    A transposed convolution with stride 2 gives even and odd output pixels different
    kernels, which adds power at exactly these frequencies (Odena et al. 2016); natural
    photos have little there. Compare with the score of the inputs. Height and width must
    be multiples of 4; the luma of [-1, 1] RGB is used.
    """
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[-2] % 4 or x.shape[-1] % 4:
        raise ValueError(f"checkerboard_score expects N x 3 x H x W with H, W multiples of 4, "
                         f"got {tuple(x.shape)}")
    luma = grayscale(x.double())[:, 0]
    power = torch.fft.fft2(luma - luma.mean((-2, -1), keepdim=True)).abs() ** 2
    h, w = luma.shape[-2:]
    rows = torch.tensor([0, h // 4, h // 2, 3 * h // 4])
    cols = torch.tensor([0, w // 4, w // 2, 3 * w // 4])
    grid = power[:, rows][:, :, cols]
    total = power.sum((-2, -1)).clamp_min(1e-30)
    return (grid.sum((-2, -1)) / total).float()


class DomainClassifier(nn.Module):
    """A small CNN that tells domain A (logit < 0) from domain B (logit > 0).

    Global average and max pooling keep it about colour and texture statistics (what a
    summer/winter style transfer changes) rather than layout.
    """

    def __init__(self, width: int = 8):
        super().__init__()
        w = width
        layers: list[nn.Module] = []
        for c_in, c_out, k, s in ((3, w, 4, 2), (w, 2 * w, 4, 2), (2 * w, 4 * w, 4, 2),
                                  (4 * w, 4 * w, 3, 1)):
            layers += [nn.Conv2d(c_in, c_out, k, s, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(8 * w, 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features the logit is read from (N x 8 * width)."""
        f = self.features(x)
        return torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x)).squeeze(1)


def train_domain_classifier(real_a: torch.Tensor, real_b: torch.Tensor, size: int = 64,
                            steps: int = 300, batch_size: int = 32, seed: int = 0,
                            device="cpu") -> DomainClassifier:
    """Fit DomainClassifier on real images of both domains ([-1, 1]), balanced batches,
    random horizontal flips, fixed seed. Inputs are resized to size x size first."""
    if len(real_a) < 1 or len(real_b) < 1:
        raise ValueError("the domain classifier needs images of both domains")
    if torch.device(device).type != "cpu":
        return _train_classifier(real_a, real_b, size, steps, batch_size, seed, device)
    # A network this small runs many times faster on one thread than on several competing
    # for busy cores, and intra-op parallelism buys it almost nothing on idle ones.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_classifier(real_a, real_b, size, steps, batch_size, seed, device)
    finally:
        torch.set_num_threads(threads)


def _train_classifier(real_a, real_b, size, steps, batch_size, seed, device) -> DomainClassifier:
    xa, xb = resize(real_a, size).to(device), resize(real_b, size).to(device)
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DomainClassifier().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    half = max(1, batch_size // 2)
    labels = torch.cat([torch.zeros(half), torch.ones(half)]).to(device)
    model.train()
    for _ in range(steps):
        ia = torch.randint(len(xa), (half,), generator=g)
        ib = torch.randint(len(xb), (half,), generator=g)
        batch = torch.cat([xa[ia.to(xa.device)], xb[ib.to(xb.device)]])
        flip = (torch.rand(len(batch), generator=g) < 0.5).to(device)
        batch = torch.where(flip.view(-1, 1, 1, 1), batch.flip(-1), batch)
        loss = F.binary_cross_entropy_with_logits(model(batch), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def prob_domain_b(model: DomainClassifier, images: torch.Tensor, size: int = 64,
                  batch_size: int = 64) -> torch.Tensor:
    """Per-image probability that `images` ([-1, 1]) belong to domain B."""
    device = next(model.parameters()).device
    out = [torch.sigmoid(model(resize(images[i:i + batch_size], size).to(device))).cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def classifier_features(model: DomainClassifier, images: torch.Tensor, size: int = 64,
                        batch_size: int = 64) -> torch.Tensor:
    """Embeddings for a Frechet distance / KID without Inception weights (which cannot be
    downloaded here): the domain classifier's pooled features, float64 on the CPU."""
    device = next(model.parameters()).device
    out = [model.embed(resize(images[i:i + batch_size], size).to(device)).double().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)


def share_in_domain(model: DomainClassifier, images: torch.Tensor, domain: str,
                    size: int = 64) -> float:
    """Fraction of `images` that the classifier assigns to `domain` ("A" or "B")."""
    if domain not in ("A", "B"):
        raise ValueError(f"domain must be 'A' or 'B', got {domain!r}")
    if len(images) == 0:
        return math.nan
    is_b = prob_domain_b(model, images, size) > 0.5
    return float((is_b if domain == "B" else ~is_b).float().mean())
