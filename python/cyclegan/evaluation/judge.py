"""Feature spaces from outside the training data, for cyclegan-eval's distances: its fixed
judge, ImageNet features of EfficientNet-Lite0 (cyclegan.backbone), and a user's own
TorchScript extractor (--inception, FeatureExtractor).

Every image is resized (bilinear, antialiased) to JUDGE_SIZE first, the size the network
was trained at, so a distance does not depend on the resolution a model works at. Two
feature spaces per image, each a distribution distance (Frechet distance, KID) is taken in:

- "pool": the 1280-d pooled head, the usual FID-style embedding: what the photo shows.
- "s16": the 112 channels of the stride-16 block, averaged over positions: mid-level
  texture and colour statistics (snow, foliage, haze; speckle and streaks), with fewer
  dimensions than photos in a 200-photo hold-out, so its covariance is full rank.
  docs/experiments.md gives the measurement behind this choice of level.
- "pool_luma", "s16_luma": the same two levels of the image's luma (BT.601, the three
  channels equal), a colour-blind judge: a change of hue or saturation that keeps each
  pixel's luma moves them not at all, so a colour grade is scored by what it does to light
  and structure only, where seasons differ (snow on the ground is bright and flat).

Features of image sets that recur between evaluations (the real hold-out photos, the
baselines' outputs) can be cached on disk. The key is a digest of the exact input tensor,
which the image files and the resize determine, with the backbone's version() and
FEATURES_VERSION: a changed photo, size, wheel or recipe is a different key.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch

from cyclegan import backbone
from cyclegan.checkpoint import save_checkpoint
from cyclegan.errors import CycleganError, first_line
from cyclegan.evaluation import metrics
from cyclegan.evaluation.config import INCEPTION_RANGES, EvalConfig
from cyclegan.progress import Progress

JUDGE_SIZE = 224
LEVELS = ("pool", "s16")  # the backbone levels kept
LUMA = "_luma"  # suffix of a level's colour-blind space
SPACES = (*LEVELS, *(level + LUMA for level in LEVELS))  # feature spaces, named by level
FEATURES_VERSION = 2  # bump when what enters the network or what is kept changes
BATCH_SIZE = 16


def network_input(images: torch.Tensor, device: str = "cpu") -> torch.Tensor:
    """What the network sees of [-1, 1] images: JUDGE_SIZE square (antialiased; resizing
    can overshoot, so clamped back), channels-last for backbone.inference_copy."""
    x = metrics.resize(images.float(), JUDGE_SIZE).clamp(-1.0, 1.0)
    return x.to(device, memory_format=torch.channels_last)


def luma(images: torch.Tensor) -> torch.Tensor:
    """The colour-blind spaces' input: each pixel's luma in all three channels."""
    return metrics.grayscale(images.float()).expand(-1, 3, -1, -1)


class FeatureError(CycleganError):
    """A user's feature extractor cannot be loaded or run as its options say."""


class Judge:
    """judge.features(images) -> {space: N x D float64 on the CPU} for [-1, 1] images.

    Raises backbone.BackboneUnavailable when the optional extra is not installed.
    """

    def __init__(self, device: str = "cpu", cache_dir: Path | None = None,
                 batch_size: int = BATCH_SIZE, quiet: bool = True):
        self.net = backbone.inference_copy(device)
        self.device, self.cache_dir = device, Path(cache_dir) if cache_dir else None
        self.batch_size, self.quiet = batch_size, quiet
        self.version = backbone.version()

    def describe(self) -> str:
        return (f"EfficientNet-Lite0 ImageNet features at {JUDGE_SIZE} px: pooled 1280-d "
                f"and stride-16 112-d (spatial mean), of the photos and of their luma "
                f"(colour-blind); {self.version}")

    def key(self, images: torch.Tensor) -> str:
        """What the features of `images` depend on: their exact values and the judge."""
        # features() reads images.float(), so that is what the key sees.
        x = images.detach().to("cpu", torch.float32).contiguous()
        h = hashlib.sha256(f"{FEATURES_VERSION}|{self.version}|{JUDGE_SIZE}|{SPACES}|"
                           f"{torch.__version__.split('+')[0]}|{tuple(x.shape)}".encode())
        h.update(x.numpy().data)
        return h.hexdigest()

    @torch.no_grad()
    def features(self, images: torch.Tensor, desc: str = "judge features",
                 cache: bool = False) -> dict[str, torch.Tensor]:
        """Features of every image; with `cache`, read from / written to cache_dir."""
        path = None
        if cache and self.cache_dir is not None:
            key = self.key(images)
            path = self.cache_dir / f"judge-{key[:32]}.pt"
            stored = _read(path, key, len(images))
            if stored is not None:
                return stored
        out: dict[str, list[torch.Tensor]] = {s: [] for s in SPACES}
        with Progress(len(images), desc, unit="img", enabled=not self.quiet) as bar:
            for i in range(0, len(images), self.batch_size):
                batch = images[i:i + self.batch_size]
                for suffix, x in (("", batch), (LUMA, luma(batch))):
                    f = self.net(network_input(x, self.device), LEVELS)
                    out["pool" + suffix].append(f["pool"].float().cpu())
                    out["s16" + suffix].append(f["s16"].float().mean((2, 3)).cpu())
                bar.update(len(batch))
        feats = {s: torch.cat(v) for s, v in out.items()}
        if path is not None:
            try:
                save_checkpoint(path, {"key": key, **feats})
            except Exception:
                pass  # an unwritable cache only costs the next run the same work
        return {s: f.double() for s, f in feats.items()}


def _read(path: Path, key: str, n: int) -> dict[str, torch.Tensor] | None:
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored["key"] != key or any(stored[s].shape[0] != n for s in SPACES):
            return None
        return {s: stored[s].double() for s in SPACES}
    except Exception:
        return None  # a damaged entry is recomputed and replaced


class FeatureExtractor:
    """A TorchScript model mapping N x 3 x H x W images to N x D features (FID/KID).

    input_range says what it expects: "uint8" (a uint8 tensor with values 0..255, as
    NVIDIA's inception-2015-12-05.pt), "unit" (float 0..1) or "signed" (float -1..1).
    Images are resized (bilinear, antialiased) to size x size first, size 0 keeps them.
    A forward that takes `return_features` is called with it set, which makes
    inception-2015-12-05.pt return its 2048-d pool features instead of class scores.
    """

    def __init__(self, path, input_range: str = EvalConfig.inception_input,
                 size: int = EvalConfig.inception_size, device="cpu",
                 batch_size: int = 32):
        if input_range not in INCEPTION_RANGES:
            raise FeatureError(f"--inception-input must be one of {INCEPTION_RANGES}, "
                            f"got {input_range!r}")
        if size < 0:
            raise FeatureError(f"--inception-size must be >= 0, got {size}")
        path = Path(path)
        if not path.is_file():
            raise FeatureError(f"--inception {path}: file not found")
        try:
            with warnings.catch_warnings():
                # Newer torch deprecates TorchScript, but extractors still ship in it.
                warnings.simplefilter("ignore", DeprecationWarning)
                self.model = torch.jit.load(str(path), map_location=device).eval()
        except Exception as exc:
            raise FeatureError(f"--inception {path} is not a TorchScript file torch.jit.load "
                            f"can read ({type(exc).__name__}: "
                            f"{first_line(exc, '')})") from exc
        try:
            names = [a.name for a in self.model.forward.schema.arguments]
        except Exception:
            names = []
        self.kwargs = {"return_features": True} if "return_features" in names else {}
        self.path, self.input_range, self.size = path, input_range, size
        self.device, self.batch_size = device, batch_size

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.size:
            x = metrics.resize(x, self.size)
        x = x.clamp(-1.0, 1.0)
        if self.input_range == "uint8":
            return ((x + 1.0) * 127.5).round().to(torch.uint8)
        return (x + 1.0) * 0.5 if self.input_range == "unit" else x

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for i in range(0, len(images), self.batch_size):
            x = self._prepare(images[i:i + self.batch_size].float()).to(self.device)
            try:
                f = self.model(x, **self.kwargs)
            except Exception as exc:
                raise FeatureError(f"--inception {self.path} failed on a {tuple(x.shape)} "
                                f"{x.dtype} batch (check --inception-input/--inception-size):"
                                f" {(str(exc).strip().splitlines() or [''])[-1]}") from exc
            if isinstance(f, (tuple, list)):
                f = f[0]
            out.append(f.reshape(f.shape[0], -1).to("cpu", torch.float64))
        return torch.cat(out)
