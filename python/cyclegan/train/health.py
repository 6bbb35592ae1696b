"""The classic CycleGAN failures, flagged while training, on the fixed sample batch.

At every sample step the loop hands over each direction's inputs and translations;
check_samples() measures them, appends one line to health.jsonl ({"step", "health"}), writes
the numbers to TensorBoard when it is on, and warns (HealthWarning) naming the usual remedy
when a failure shows. Three failures, each with a threshold set from measurements (sample
batches of 3 photos, the loop's; the ranges measured are given with each):

- copy: the output is the input (identity loss winning, or domains too alike): the mean
  |out - in| below COPY_L1 (2.5 grey levels on 0..255) and structure SSIM above COPY_SSIM.
  Healthy translations change 0.06 (grayscale) to 0.3 of the [0, 1] range.
- inversion: light becomes dark and dark light: the mean correlation of input and output
  luminance below INVERT_CORR. A photo inverted is -1; healthy translations measured 0.26
  (snow painted onto the built-in landscapes) to 1.0.
- collapse: every output looks the same whatever the input: the outputs' mean pairwise
  distance below COLLAPSE_SPREAD of the inputs'. Healthy: 0.79 to 1.2; one constant image
  0; an untrained generator 0.09 (so a run's first steps look collapsed too).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch

from cyclegan import runlayout
from cyclegan.evaluation import metrics
from cyclegan.train import rundir, tensorboard

COPY_L1 = 0.01
COPY_SSIM = 0.97
INVERT_CORR = -0.5
COLLAPSE_SPREAD = 0.2
_SIZE = 64  # luminance correlation and spread are read at this size: layout, not noise

REMEDIES = {
    "copy": "the {d} generator returns its input almost unchanged (mean |out - in| {copy_l1:.4f}"
            ", structure SSIM {structure_ssim:.3f}): lower the identity loss (--lambda-id), "
            "train longer, and check that the two domains really differ",
    "inversion": "the {d} generator inverts light and dark (input/output luminance "
                 "correlation {luma_corr:.2f}): keep the identity loss on or raise it "
                 "(--lambda-id ties colours to the input), and use a smaller learning rate "
                 "(--lr)",
    "collapse": "the {d} outputs all look alike (their spread is {spread:.2f} of the "
                "inputs'): mode collapse; use more data or augmentation and a smaller "
                "learning rate (--lr). Expected only in a run's first few hundred steps",
}

FAILURES = tuple(REMEDIES)


class HealthWarning(UserWarning):
    """A classic training failure shows in the sample batch."""


def _luma(x: torch.Tensor) -> torch.Tensor:
    """N x (S*S) luminance in [0, 1], float64, at _SIZE (never enlarged)."""
    size = min(_SIZE, *x.shape[-2:])
    return metrics.grayscale(metrics.resize(metrics.to_unit(x), size)).flatten(1).double()


def _mean_pairwise(x: torch.Tensor) -> float:
    """Mean RMS distance between the images of a batch (colour and layout, at _SIZE / 2)."""
    size = min(_SIZE // 2, *x.shape[-2:])
    f = metrics.resize(metrics.to_unit(x), size).flatten(1).double()
    n = len(f)
    return float(torch.cdist(f, f).sum() / (n * (n - 1)) / f.shape[1] ** 0.5)


def measure(inputs: torch.Tensor, outputs: torch.Tensor) -> dict:
    """The numbers the detectors read, for one direction's batch ([-1, 1] images)."""
    x, y = inputs.detach().float().cpu(), outputs.detach().float().cpu()
    lx, ly = _luma(x), _luma(y)
    lx, ly = lx - lx.mean(1, keepdim=True), ly - ly.mean(1, keepdim=True)
    # A flat image has no correlation to speak of: 0 (it is what a constant output gives).
    corr = (lx * ly).sum(1) / (lx.norm(dim=1) * ly.norm(dim=1)).clamp_min(1e-12)
    spread = None
    if len(x) >= 2:
        spread = _mean_pairwise(y) / max(_mean_pairwise(x), 1e-12)
    return {"copy_l1": float((metrics.to_unit(x) - metrics.to_unit(y)).abs().mean()),
            "structure_ssim": float(metrics.structure_ssim(x, y).double().mean()),
            "luma_corr": float(corr.mean()), "spread": spread}


def failures(m: dict) -> list[str]:
    """Which failures the numbers of measure() show."""
    found = []
    if m["copy_l1"] < COPY_L1 and m["structure_ssim"] > COPY_SSIM:
        found.append("copy")
    if m["luma_corr"] < INVERT_CORR:
        found.append("inversion")
    if m["spread"] is not None and m["spread"] < COLLAPSE_SPREAD:
        found.append("collapse")
    return found


def check(step: int, batches: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """{"step", "health": {direction: numbers + "failures"}} for {direction: (in, out)}."""
    health = {}
    for direction, (inputs, outputs) in batches.items():
        m = measure(inputs, outputs)
        health[direction] = {**m, "failures": failures(m)}
    return {"step": step, "health": health, "time": time.time()}


def check_samples(run: Path, step: int, batches: dict, writer=None) -> dict:
    """check(), then health.jsonl, TensorBoard and a HealthWarning per failure found."""
    record = check(step, batches)
    rundir.append_log(runlayout.health_path(run), record)
    if writer is not None:
        tensorboard.log_health(writer, record, FAILURES)
    for direction, m in record["health"].items():
        for name in m["failures"]:
            warnings.warn(HealthWarning(f"step {step}: " + REMEDIES[name].format(d=direction,
                                                                                   **m)),
                          stacklevel=2)
    return record
