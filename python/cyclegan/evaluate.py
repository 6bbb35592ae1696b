"""`cyclegan-eval`: how well a trained model translates, per direction.

prepare() loads the test images of both domains once and trains (or loads from its cache)
the domain classifier; evaluate_generator() then scores one generator against them, so a
sweep scores many models on one EvalData. evaluate() is the whole command for one
checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cyclegan import baselines, data, images, metrics
from cyclegan.checkpoint import (
    load_checkpoint,
    load_generator,
    resolve_checkpoint,
    save_checkpoint,
    train_config,
)
from cyclegan.contract import DIRECTIONS
from cyclegan.errors import CycleganError, first_line
from cyclegan.infer import bundled
from cyclegan.progress import Progress

CLASSIFIER_SIZE = 64
CLASSIFIER_VERSION = 2
INCEPTION_RANGES = ("uint8", "unit", "signed")
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


class FeatureExtractor:
    """A TorchScript model mapping N x 3 x H x W images to N x D features (FID/KID).

    input_range says what it expects: "uint8" (a uint8 tensor with values 0..255, as
    NVIDIA's inception-2015-12-05.pt), "unit" (float 0..1) or "signed" (float -1..1).
    Images are resized (bilinear, antialiased) to size x size first, size 0 keeps them.
    A forward that takes `return_features` is called with it set, which makes
    inception-2015-12-05.pt return its 2048-d pool features instead of class scores.
    """

    def __init__(self, path, input_range: str = "uint8", size: int = 299, device="cpu",
                 batch_size: int = 32):
        if input_range not in INCEPTION_RANGES:
            raise EvalError(f"--inception-input must be one of {INCEPTION_RANGES}, "
                            f"got {input_range!r}")
        if size < 0:
            raise EvalError(f"--inception-size must be >= 0, got {size}")
        path = Path(path)
        if not path.is_file():
            raise EvalError(f"--inception {path}: file not found")
        try:
            with warnings.catch_warnings():
                # Newer torch deprecates TorchScript, but extractors still ship in it.
                warnings.simplefilter("ignore", DeprecationWarning)
                self.model = torch.jit.load(str(path), map_location=device).eval()
        except Exception as exc:
            raise EvalError(f"--inception {path} is not a TorchScript file torch.jit.load "
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
                raise EvalError(f"--inception {self.path} failed on a {tuple(x.shape)} "
                                f"{x.dtype} batch (check --inception-input/--inception-size):"
                                f" {(str(exc).strip().splitlines() or [''])[-1]}") from exc
            if isinstance(f, (tuple, list)):
                f = f[0]
            out.append(f.reshape(f.shape[0], -1).to("cpu", torch.float64))
        return torch.cat(out)


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
    extractor: FeatureExtractor | None = None
    inception_note: str = FID_SKIPPED
    quiet: bool = True
    _train_stats: dict = field(default_factory=dict)
    _real_features: dict = field(default_factory=dict)
    _real_clf_features: dict = field(default_factory=dict)

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

    def real_clf_features(self, domain: str) -> torch.Tensor:
        if domain not in self._real_clf_features:
            self._real_clf_features[domain] = metrics.classifier_features(
                self.classifier, self.test[domain], CLASSIFIER_SIZE)
        return self._real_clf_features[domain]


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


def _pairing(spec: str) -> tuple[bool, str]:
    if str(spec) == data.BUILTIN_SEASONS:
        return True, "builtin:seasons test images are paired (same landscape in both seasons)"
    root = Path(spec)
    try:
        names = [[p.relative_to(root / f"test{d}").as_posix()
                  for p in images.list_images(root / f"test{d}")] for d in "AB"]
    except (OSError, ValueError):
        return False, "no pairs: the test folders could not be listed"
    if names[0] and names[0] == names[1]:
        return True, "testA and testB hold the same file names: treated as pairs"
    return False, "no pairs: testA and testB do not hold the same file names"


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


def prepare(spec: str, image_size: int = 256, max_images: int = 100, *,
            cache_dir=None, device: str | None = None, inception=None,
            inception_input: str = "uint8", inception_size: int = 299,
            classifier_images: int = 400, classifier_steps: int = 300, seed: int = 0,
            quiet: bool = False) -> EvalData:
    """Test images of both domains, the domain classifier and (optionally) the extractor.

    cache_dir: where trained classifiers are kept, keyed by data, sizes, steps and seed
    (default: default_cache_dir(); None-like "" disables the cache).
    """
    if image_size % 4 or image_size < 8:
        raise EvalError(f"--image-size must be a multiple of 4 and >= 8, got {image_size}")
    if max_images < 2:
        raise EvalError(f"--max-images must be >= 2, got {max_images}")
    device = device or default_device()
    spec = str(spec)
    try:
        test = {d: _load(data.make_dataset(spec, d, "test", image_size, image_size,
                                           augment=False), max_images, f"test {d}", quiet)
                for d in "AB"}
    except ValueError as exc:
        raise EvalError(f"--data {spec}: {exc}") from exc
    paired, pair_note = _pairing(spec)
    if paired and len(test["A"]) != len(test["B"]):
        paired, pair_note = False, "no pairs: testA and testB differ in length"
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
        extractor = FeatureExtractor(inception, inception_input, inception_size, device)
        note = f"features from {inception} ({inception_input} input, size {inception_size})"
    return EvalData(spec, data.domain_names(spec), image_size, test, paired, pair_note, clf,
                    info, device, extractor, note, quiet)


@torch.no_grad()
def translate(model: torch.nn.Module, images: torch.Tensor, device="cpu",
              batch_size: int = 8) -> torch.Tensor:
    """Run a generator over [-1, 1] images in batches; results on the CPU."""
    out = [model(images[i:i + batch_size].to(device)).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)


def _mean(t: torch.Tensor) -> float:
    return float(t.double().mean())


def evaluate_generator(ed: EvalData, model: torch.nn.Module, direction: str,
                       batch_size: int = 8) -> tuple[dict, torch.Tensor]:
    """(metrics of one direction, the translated test images)."""
    if direction not in DIRECTIONS:
        raise EvalError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    src, tgt = direction[0], direction[2]
    inputs = ed.test[src]
    outputs = translate(model, inputs, ed.device, batch_size)
    if not bool(torch.isfinite(outputs).all()):
        # Metrics of NaN images would print as "-" and look like a skipped metric.
        raise EvalError(f"the {direction} generator outputs NaN or inf (damaged or diverged "
                        "weights): nothing to evaluate")
    res = {"source": ed.domains[src], "target": ed.domains[tgt], "images": len(inputs),
           **score(ed, inputs, outputs, tgt),
           "input_domain_score": metrics.share_in_domain(ed.classifier, inputs, tgt,
                                                         CLASSIFIER_SIZE),
           "input_checkerboard": _mean(metrics.checkerboard_score(inputs)),
           "paired": None, "paired_note": ed.pair_note, "fid": None, "kid": None,
           "kid_std": None}
    if ed.paired:
        truth = ed.test[tgt]
        res["paired"] = {"psnr": _mean(metrics.psnr(outputs, truth)),
                         "ssim": _mean(metrics.ssim_images(outputs, truth)),
                         "l1": _mean(metrics.l1(outputs, truth))}
    if ed.extractor is not None:
        fake, real = ed.extractor(outputs), ed.real_features(tgt)
        res["fid"] = metrics.fid_from_features(fake, real)
        res["kid"], res["kid_std"] = metrics.kid_from_features(fake, real)
    return res, outputs


def score(ed: EvalData, inputs: torch.Tensor, outputs: torch.Tensor, tgt: str) -> dict:
    """What every translation is judged by, a model's or a baseline's: the classifier's
    domain score, structure kept, and the distance of the outputs' distribution to the real
    target photos (Frechet distance and KID on the classifier's features)."""
    fake, real = metrics.classifier_features(ed.classifier, outputs, CLASSIFIER_SIZE), \
        ed.real_clf_features(tgt)
    kid, _ = metrics.kid_from_features(fake, real)
    return {"domain_score": metrics.share_in_domain(ed.classifier, outputs, tgt,
                                                    CLASSIFIER_SIZE),
            "structure_ssim": _mean(metrics.structure_ssim(inputs, outputs)),
            "fd_clf": metrics.fid_from_features(fake, real), "kid_clf": kid,
            "checkerboard": _mean(metrics.checkerboard_score(outputs))}


def score_baselines(ed: EvalData, direction: str) -> dict:
    """score() of every learning-free baseline for `direction`, by name."""
    src, tgt = direction[0], direction[2]
    inputs = ed.test[src]
    return {name: score(ed, inputs, fn(inputs, ed.train_stats(tgt)), tgt)
            for name, fn in baselines.for_direction(direction).items()}


class OnnxGenerator(torch.nn.Module):
    """An exported generator run by onnxruntime (CPU) behind the torch interface that
    evaluate_generator expects, so bundled and exported models are scored like checkpoints."""

    def __init__(self, path: Path):
        super().__init__()
        from cyclegan.infer.runtime import load_model

        self.ort = load_model(path, device="cpu")
        self.meta = self.ort.meta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.ort(x.float().cpu().numpy()).astype("float32"))


def _generators(run_or_model) -> tuple[str, dict, dict, int]:
    """(what was loaded, direction -> model (None: load from the checkpoint), its training
    config, step)."""
    target = str(run_or_model)
    if target.endswith(".onnx") or (bundled.is_name(target) and not Path(target).exists()):
        path = bundled.resolve_model(target)
        model = OnnxGenerator(path)
        step = int(model.meta.get("checkpoint_step", 0) or 0)
        # An exported file does not record its training data: --data is needed.
        return str(path), {model.meta.get("direction", "A2B"): model}, {}, step
    path = resolve_checkpoint(run_or_model)
    state = load_checkpoint(path)
    held = {d: None for d in DIRECTIONS if f"G_{d}" in state}
    return str(path), held, train_config(path, state), int(state.get("step", 0))


def evaluate(run_or_model, spec: str | None = None, directions=DIRECTIONS,
             image_size: int | None = None, max_images: int = 100, device: str | None = None,
             batch_size: int = 8, quiet: bool = False, **prepare_kwargs) -> dict:
    """The full cyclegan-eval result for one model (see report.format_eval for a summary):
    a checkpoint or run folder, an exported .onnx file, or a bundled model's name.

    spec and image_size default to the ones the model was trained with.
    """
    path, held, train_cfg, step = _generators(run_or_model)
    spec = spec or train_cfg.get("data")
    if not spec:
        raise EvalError(f"{path} does not record its training data: pass --data")
    image_size = image_size or int(train_cfg.get("image_size", 256))
    device = device or default_device()
    ed = prepare(spec, image_size, max_images, device=device, quiet=quiet, **prepare_kwargs)
    result = {"checkpoint": str(path), "data": str(spec), "domains": ed.domains,
              "image_size": image_size, "step": step,
              "test_images": {d: len(ed.test[d]) for d in "AB"},
              "classifier": ed.classifier_info, "paired": ed.paired,
              "inception": ed.inception_note if ed.extractor else None,
              "fid_kid_skipped": None if ed.extractor else FID_SKIPPED, "directions": {}}
    for direction in directions:
        if direction not in held:
            result["directions"][direction] = {
                "skipped": f"{Path(path).name} holds no {direction} generator"}
            continue
        model = held[direction] or load_generator(path, direction, fused=False,
                                                   device=device)[0]
        res, _ = evaluate_generator(ed, model, direction, batch_size)
        res["baselines"] = score_baselines(ed, direction)
        best = min(res["baselines"], key=lambda name: res["baselines"][name]["fd_clf"])
        res["best_baseline"] = best
        res["fd_vs_best_baseline"] = res["fd_clf"] / res["baselines"][best]["fd_clf"]
        result["directions"][direction] = res
    return result
