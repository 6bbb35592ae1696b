"""`cyclegan-eval`: how well a trained model translates, per direction.

evaldata.prepare() loads what translations are judged against once (EvalData);
evaluate_generator() then scores one generator against it, so a sweep scores many models on
one EvalData. evaluate() is the whole command for one model.

Every translation, a model's or a learning-free baseline's, is judged by distances of its
outputs to the real target photos in several feature spaces: the domain classifier's
("clf", trained on this data), and EfficientNet-Lite0's pooled ("pool") and stride-16
("s16") features (fixed, ImageNet), of the photos and of their luma alone ("pool_luma",
"s16_luma": blind to colour; judge.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cyclegan.checkpoint import load_checkpoint, load_generator, resolve_checkpoint, train_config
from cyclegan.contract import DEFAULT_WORK_SIZE, DIRECTIONS
from cyclegan.evaluation import baselines, metrics, semantic
from cyclegan.evaluation.config import EvalConfig
from cyclegan.evaluation.evaldata import (
    CLASSIFIER_SIZE,
    FID_SKIPPED,
    SPACES,
    EvalData,
    EvalError,
    default_device,
    prepare,
)
from cyclegan.infer import bundled
from cyclegan.infer.variants import precision_of
from cyclegan.translator import Translator


def _translator(model, device, work_size: int | None, detail: str) -> Translator:
    """The Translator that cyclegan-infer's per-image path runs `model` through: itself, or
    one around a torch generator on `device` finishing with `detail`."""
    if isinstance(model, Translator):
        return model

    def run(x):
        return model(torch.from_numpy(x).to(device)).float().cpu().numpy()

    return Translator.around(run, work_size=work_size, detail=detail)


@torch.no_grad()
def translate(model: torch.nn.Module | Translator, images: torch.Tensor, device="cpu",
              batch_size: int = EvalConfig.batch_size, work_size: int | None = None,
              what: str = "the generator", detail: str = EvalConfig.detail) -> torch.Tensor:
    """[-1, 1] images translated as cyclegan-infer translates them (cyclegan.Translator:
    images larger than work_size at the working scale, then brought to their size by the
    guided step; outputs 8-bit, as written), in batches of equal-size images; results on
    the CPU. A torch generator runs on `device`, a Translator as it was made. Running out of
    memory is a one-line error naming what to lower; so is an output holding NaN or inf."""
    t = _translator(model, device, work_size, detail)
    out = []
    try:
        for i in range(0, len(images), batch_size):
            u8 = ((images[i:i + batch_size].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            items = [t.prepare(Image.fromarray(img)) for img in u8.permute(0, 2, 3, 1).numpy()]
            ys = t.run(np.stack([it.x for it in items]))
            if not np.isfinite(ys).all():  # NaN would come out as black pixels
                raise EvalError(f"{what} outputs NaN or inf (damaged or diverged weights): "
                                "nothing to evaluate")
            done = np.stack([t.finish(it, y) for it, y in zip(items, ys)])
            out.append(torch.from_numpy(done).permute(0, 3, 1, 2).float() / 127.5 - 1)
    except (MemoryError, RuntimeError) as exc:
        # CPU allocation failures are RuntimeErrors ("can't allocate memory"), CUDA ones
        # torch.OutOfMemoryError, a RuntimeError too.
        if not isinstance(exc, MemoryError) and "alloc" not in str(exc) \
                and not isinstance(exc, torch.OutOfMemoryError):
            raise
        raise EvalError(f"out of memory running the generator on batches of {batch_size} "
                        f"images of {images.shape[-1]} px: lower --batch-size or "
                        "--image-size") from exc
    return torch.cat(out)


def _mean(t: torch.Tensor) -> float:
    return float(t.double().mean())


def _paired(outputs: torch.Tensor, truth: torch.Tensor, chunk: int = 8) -> dict:
    """Mean PSNR, SSIM and L1 against the ground truth, a few images at a time (SSIM keeps
    several full-size temporaries)."""
    parts = {"psnr": [], "ssim": [], "l1": []}
    for i in range(0, len(outputs), chunk):
        o, t = outputs[i:i + chunk], truth[i:i + chunk]
        parts["psnr"].append(metrics.psnr(o, t))
        parts["ssim"].append(metrics.ssim_images(o, t))
        parts["l1"].append(metrics.l1(o, t))
    return {k: _mean(torch.cat(v)) for k, v in parts.items()}


def evaluate_generator(ed: EvalData, model: torch.nn.Module | Translator, direction: str,
                       batch_size: int = EvalConfig.batch_size,
                       work_size: int | None = None,
                       detail: str = EvalConfig.detail) -> tuple[dict, torch.Tensor]:
    """(metrics of one direction, the translated test images); images larger than the
    model's work_size are translated at it and finished by `detail` (see translate)."""
    if direction not in DIRECTIONS:
        raise EvalError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    src, tgt = direction[0], direction[2]
    inputs = ed.test[src]
    # Metrics of NaN images would print as "-" and look like a skipped metric: refused.
    outputs = translate(model, inputs, ed.device, batch_size, work_size,
                        what=f"the {direction} generator", detail=detail)
    res = {"source": ed.domains[src], "target": ed.domains[tgt], "images": len(inputs),
           **score(ed, inputs, outputs, tgt, f"judge: {direction} outputs"),
           "input_domain_score": metrics.share_in_domain(ed.classifier, inputs, tgt,
                                                         CLASSIFIER_SIZE),
           "input_checkerboard": _mean(metrics.checkerboard_score(inputs)),
           "paired": _paired(outputs, ed.test[tgt]) if ed.paired else None,
           "paired_note": ed.pair_note, "fid": None, "kid": None, "kid_std": None}
    if ed.extractor is not None:
        fake, real = ed.extractor(outputs), ed.real_features(tgt)
        res["fid"] = metrics.fid_from_features(fake, real)
        res["kid"], res["kid_std"] = metrics.kid_from_features(fake, real, seed=ed.seed)
    return res, outputs


def score(ed: EvalData, inputs: torch.Tensor, outputs: torch.Tensor, tgt: str,
          desc: str = "judge: outputs", cache: bool = False) -> dict:
    """What every translation is judged by, a model's or a baseline's: the classifier's
    domain score, structure kept, and in each feature space (SPACES) the Frechet distance
    and KID of the outputs to the real target photos (None where the judge is missing).
    `cache`: the judge may keep the outputs' features (for sets that recur)."""
    fake, real = ed.space_features(outputs, desc, cache), ed.real_space_features(tgt)
    res = {"domain_score": metrics.share_in_domain(ed.classifier, outputs, tgt,
                                                   CLASSIFIER_SIZE),
           "structure_ssim": _mean(metrics.structure_ssim(inputs, outputs)),
           "checkerboard": _mean(metrics.checkerboard_score(outputs))}
    for space in SPACES:
        res[f"fd_{space}"] = res[f"kid_{space}"] = None
        if space in fake:
            res[f"fd_{space}"] = metrics.fid_from_features(fake[space], real[space])
            res[f"kid_{space}"] = metrics.kid_from_features(fake[space], real[space],
                                                            seed=ed.seed)[0]
    return res


def score_baselines(ed: EvalData, direction: str) -> dict:
    """score() of every learning-free baseline for `direction`, by name (their features
    are cached: the same inputs give the same outputs in every evaluation). The semantic
    colour transfer needs the EfficientNet-Lite backbone: it runs where the judge does."""
    src, tgt = direction[0], direction[2]
    inputs = ed.test[src]
    scores = {name: score(ed, inputs, fn(inputs, ed.train_stats(tgt)), tgt, f"judge: {name}",
                          cache=True)
              for name, fn in baselines.for_direction(direction, ed.domains).items()}
    if ed.judge is not None:
        outputs = semantic.transfer(inputs, ed.semantic_model(), tgt, ed.device)
        scores[semantic.NAME] = score(ed, inputs, outputs, tgt, f"judge: {semantic.NAME}",
                                      cache=True)
    return scores


def best_baselines(res: dict) -> tuple[dict, dict]:
    """Per distance (fd_clf, fd_pool, ...): the baseline closest to the real target
    photos, and the model's distance over that baseline's (below 1: it beats them all)."""
    best, ratio = {}, {}
    for key in (f"fd_{s}" for s in SPACES):
        if res.get(key) is None:
            continue
        name = min(res["baselines"], key=lambda n: res["baselines"][n][key])
        value = res["baselines"][name][key]
        best[key], ratio[key] = name, (res[key] / value if value > 0 else None)
    return best, ratio


def real_halves(ed: EvalData, domain: str) -> dict:
    """Per distance: the FD between two disjoint random halves of the real photos of
    `domain`. Two samples of the same photos land this far apart at half the set's size,
    so differences between translations of about this size are noise."""
    n = len(ed.test[domain]) // 2
    if n < 2:
        return {}
    perm = torch.randperm(2 * n, generator=torch.Generator().manual_seed(ed.seed))
    return {f"fd_{s}": metrics.fid_from_features(f[perm[:n]], f[perm[n:]])
            for s, f in ed.real_space_features(domain).items()}


def _named(domains) -> dict | None:
    """Domain names a model records, unless they are the placeholders A and B."""
    try:
        domains = json.loads(domains) if isinstance(domains, str) else domains
        named = {d: str(domains[d]) for d in "AB"}
    except (ValueError, TypeError, KeyError):
        return None
    return named if named != {"A": "A", "B": "B"} else None


def _generators(run_or_model, detail: str) -> tuple[str, dict, dict, int, dict | None]:
    """(what was loaded, direction -> model (None: load from the checkpoint), its training
    config, step, the domain names it records)."""
    path = bundled.resolve_model(run_or_model)  # as cyclegan-infer and -export read it
    if path.suffix.lower() == ".onnx":
        # The file named is the file scored: not the faster variant beside it that
        # cyclegan-infer's `auto` would run (name G.int8.onnx to score that one).
        model = Translator(path, device="cpu", precision=precision_of(path), detail=detail)
        meta = model.model.meta
        step = int(meta.get("checkpoint_step", 0) or 0)
        # An exported file does not record its training data: --data is needed.
        return (str(path), {meta.get("direction", "A2B"): model}, {}, step,
                _named(meta.get("domains")))
    path = resolve_checkpoint(path)  # a missing file: "no such run folder or checkpoint"
    state = load_checkpoint(path)
    held = {d: None for d in DIRECTIONS if f"G_{d}" in state}
    return (str(path), held, train_config(path, state), int(state.get("step", 0)),
            _named(state.get("domains")))


def working_scale(held: dict, train_cfg: dict) -> int:
    """The size a model is evaluated at by default: its working scale, which an exported
    file records and a checkpoint's training flags give (contract.DEFAULT_WORK_SIZE for
    converted weights, which have neither)."""
    exported = next((m for m in held.values() if m is not None), None)
    if exported is not None:
        return exported.work_size
    if train_cfg:
        from cyclegan.train.config import from_dict

        return from_dict(train_cfg).work_size or DEFAULT_WORK_SIZE
    return DEFAULT_WORK_SIZE


def evaluate(run_or_model, spec: str | None = None, directions=DIRECTIONS,
             **options) -> dict:
    """The full cyclegan-eval result for one model (see report.format_eval for a summary):
    a checkpoint or run folder, an exported .onnx file, or a bundled model's name.

    options: cyclegan-eval's flags as keywords of the same name (EvalConfig.keywords), with
    its defaults and its checks. spec defaults to the data the model was trained on,
    image_size to its working scale; domains (names of A and B) to the ones it records,
    else the data's.
    """
    cfg = EvalConfig(model=str(run_or_model), data=spec, **options).checked()
    path, held, train_cfg, step, recorded = _generators(run_or_model, cfg.detail)
    spec = spec or train_cfg.get("data")
    if not spec:
        raise EvalError(f"{path} does not record its training data: pass --data")
    work_size = working_scale(held, train_cfg)
    image_size = work_size if cfg.image_size is None else cfg.image_size
    device = cfg.device or default_device()
    taken = ("image_size", "max_images", "device", "domains", "batch_size", "detail")
    ed = prepare(spec, image_size, cfg.max_images, device=device,
                 domains=cfg.domains or recorded,
                 **{k: v for k, v in cfg.keywords().items() if k not in taken})
    result = {"checkpoint": str(path), "data": str(spec), "domains": ed.domains,
              "image_size": image_size, "detail": cfg.detail, "step": step,
              "test_images": {d: len(ed.test[d]) for d in "AB"},
              "classifier": ed.classifier_info, "paired": ed.paired,
              "pair_note": ed.pair_note,
              "judge": ed.judge_note if ed.judge else None,
              "judge_skipped": None if ed.judge else ed.judge_note,
              "inception": ed.inception_note if ed.extractor else None,
              "fid_kid_skipped": None if ed.extractor else FID_SKIPPED, "directions": {}}
    for direction in directions:
        if direction not in held:
            result["directions"][direction] = {
                "skipped": f"{Path(path).name} holds no {direction} generator"}
            continue
        model = held[direction] or load_generator(path, direction, fused=False,
                                                   device=device)[0]
        res, _ = evaluate_generator(ed, model, direction, cfg.batch_size, work_size, cfg.detail)
        res["baselines"] = score_baselines(ed, direction)
        res["best_baseline"], res["vs_best_baseline"] = best_baselines(res)
        res["real_halves"] = real_halves(ed, direction[2])
        result["directions"][direction] = res
    return result
