"""What a training configuration will cost, known before anything is built.

Memory: a configuration that cannot fit (`--ngf 100000`, a damaged config.json asking for
a huge model) is refused in one line instead of ending in an allocation traceback minutes
later. The estimate is derived from the networks themselves, built on PyTorch's meta device
(shapes only: no memory, no time): parameter bytes times the copies training keeps, plus
the activations one step holds for backward.

Time: after the first steps, a run whose remaining steps would take more than a few hours
on this device says so once, with the preset that makes a quick try.
"""

from __future__ import annotations

import time
import warnings

import torch

from cyclegan import hostmem
from cyclegan.errors import TrainError
from cyclegan.models import ModelConfig, PatchDiscriminator, build_generator
from cyclegan.train.config import TrainConfig

GB = 1024**3
# The Python process, torch and the data loader before any network exists (measured: about
# 0.4 GB of resident memory here), with a margin.
BASE_BYTES = GB // 2
# Generator passes per image pair and step: both translations, both identities (batched
# with them) and both reconstructions.
GENERATOR_PASSES = 6
# Autograd keeps about one tensor per layer output for backward; the fused ops keep fewer,
# the plain path a few more: 1.5 covers both (checked against measured peaks in tests).
SAVED_PER_OUTPUT = 1.5
# A projected discriminator's frozen EfficientNet-Lite0: weights, and its activations per
# image at 224 px (summed layer outputs), scaled with the image area.
BACKBONE_BYTES = 20 * 1024**2
BACKBONE_ACTIVATIONS_224 = 60 * 1024**2
SLOW_HOURS = 3.0  # warn when the rest of a run would take longer than this


def _layer_outputs(net: torch.nn.Module, size: int) -> int:
    """Elements of every leaf module's output for one size x size image (meta tensors)."""
    total = 0

    def count(_module, _inputs, out):
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel()

    hooks = [m.register_forward_hook(count) for m in net.modules()
             if not list(m.children())]
    try:
        with torch.no_grad():
            net(torch.empty(1, 3, size, size, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return total


def estimate_bytes(cfg: TrainConfig, model_cfg: ModelConfig) -> int:
    """Peak memory of one training step of `cfg`, estimated from the networks' shapes."""
    with torch.device("meta"):
        G = build_generator(model_cfg, fused=False)
        D = PatchDiscriminator(model_cfg)
    g_params = sum(p.numel() for p in G.parameters())
    d_params = sum(p.numel() for p in D.parameters())
    # Per network: weights, gradients, Adam's two moments (+ the generators' average).
    g_copies = 4 + (cfg.ema > 0)
    kinds = cfg.discriminators
    params = 2 * g_params * g_copies + ("patch" in kinds) * 2 * d_params * 4
    n = cfg.batch_size
    activations = GENERATOR_PASSES * n * _layer_outputs(G, cfg.image_size)
    if "patch" in kinds:
        # Generator step: both fakes; discriminator step: real and pooled fake, both domains.
        activations += 6 * n * _layer_outputs(D, cfg.image_size)
    total = 4 * (params + SAVED_PER_OUTPUT * activations) + BASE_BYTES
    if "projected" in kinds:
        # The backbone sees crops smaller than --projected-size resized up to it.
        seen = max(cfg.image_size, cfg.projected_size)
        total += BACKBONE_BYTES + 6 * n * BACKBONE_ACTIVATIONS_224 * (seen / 224) ** 2
    return int(total)


def torch_free_bytes(device: torch.device) -> int | None:
    """Memory this run can still take on `device`, as torch reads it (the CUDA driver's
    free memory; on a CPU, the host's); None when it cannot be read."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free
    return hostmem.host_available_bytes()


def check_memory(cfg: TrainConfig, model_cfg: ModelConfig, device: torch.device,
                 world_size: int = 1) -> int:
    """Refuse, in one line, a configuration that would not fit; returns the estimate.

    On a CPU, the processes of a multi-process run share the machine's memory."""
    need = estimate_bytes(cfg, model_cfg)
    have = torch_free_bytes(device)
    share = world_size if device.type == "cpu" else 1
    if have is not None and need * share > have:
        raise TrainError(
            f"this configuration needs about {need * share / GB:.1f} GB (ngf {model_cfg.ngf}, "
            f"{model_cfg.n_blocks} blocks, --image-size {cfg.image_size}, --batch-size "
            f"{cfg.batch_size}{f', {share} processes' if share > 1 else ''}), more than the "
            f"{have / GB:.1f} GB available on {device.type}; lower --ngf, --image-size or "
            "--batch-size, or try --preset quick")
    return need


class SlowRunWarning(UserWarning):
    """The remaining steps of a run would take hours on this device."""


class Pace:
    """Times the first MEASURE_STEPS steps of a run (or of a resumed part), then calls
    warn_if_slow once with the pace it saw."""

    MEASURE_STEPS = 20

    def __init__(self, total_steps: int, start_step: int, device: torch.device):
        self.total, self.start, self.device = total_steps, start_step, device
        self.t0 = time.perf_counter()
        self.done = False

    def step(self, step: int) -> None:
        if self.done or step - self.start < self.MEASURE_STEPS:
            return
        self.done = True
        warn_if_slow((time.perf_counter() - self.t0) / (step - self.start), self.total - step,
                     self.device)


def warn_if_slow(seconds_per_step: float, steps_left: int, device: torch.device) -> bool:
    """One warning when steps_left at this pace exceed SLOW_HOURS; True if it warned."""
    hours = seconds_per_step * steps_left / 3600
    if hours <= SLOW_HOURS:
        return False
    warnings.warn(f"at {seconds_per_step:.2f} s per step, the remaining {steps_left:,} steps "
                  f"will take about {hours:,.0f} hours on this {device.type}; for a first try "
                  "in minutes use --preset quick, or set --steps", SlowRunWarning, stacklevel=2)
    return True
