"""Self-describing checkpoints: model config + weights (+ training state), saved atomically.

Loading uses torch.load(weights_only=True), so a checkpoint holds only tensors and plain
Python containers (no pickled objects; RNG states are stored as lists and tensors).

Every checkpoint saved carries a digest of its payload (DIGEST), checked whenever it is
loaded: torch's zip reader does not check the CRCs of tensor data, so bytes changed by a
disk, copy or transfer error load as weights and surface later as a diverging run. Files
written before the digest existed (0.1.0) load unchecked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import torch

from cyclegan import __version__
from cyclegan.contract import DIRECTIONS
from cyclegan.errors import CycleganError, first_line
from cyclegan.fileio import atomic_writer
from cyclegan.models import ModelConfig, build_generator
from cyclegan.runlayout import latest_checkpoint
from cyclegan.workscale import recorded_work_size

FORMAT = "cyclegan-checkpoint"
DIGEST = "payload_sha256"  # the key of payload_digest(state), saved with the state


class CheckpointError(CycleganError):
    """A file that is missing, unreadable, or not one of our checkpoints."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (disk full, permissions); the old one is intact."""


def new_checkpoint(model_config: ModelConfig, domains: dict | None = None) -> dict:
    """The fields every checkpoint carries; callers add G_A2B / G_B2A and the rest."""
    return {
        "format": FORMAT,
        "version": __version__,
        "model_config": model_config.to_dict(),
        "domains": dict(domains or {"A": "A", "B": "B"}),
    }


def _feed(h, value) -> None:
    """Hash `value` with its structure: a type tag and length before each container, the
    dtype and shape before each tensor's bytes, so no two payloads share a byte stream."""
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(value.shape)}".encode())
        h.update(t.view(torch.uint8).numpy())
    elif isinstance(value, dict):
        h.update(b"D%d" % len(value))
        for k, v in value.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(value, (list, tuple)):
        h.update(b"%s%d" % (type(value).__name__.encode(), len(value)))
        for v in value:
            _feed(h, v)
    else:  # str, int, float, bool, None: repr is exact for each
        h.update(f"{type(value).__name__}:{value!r};".encode())


def payload_digest(state: dict) -> str:
    """sha256 of everything in a checkpoint but its digest, in its (saved) key order."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in state.items() if k != DIGEST})
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """torch.save (with the payload's digest) to a temp file in the same folder, fsync,
    then rename over `path`."""
    path = Path(path)
    payload = {k: v for k, v in state.items() if k != DIGEST}
    try:
        with atomic_writer(path) as f:
            torch.save({**payload, DIGEST: payload_digest(payload)}, f)
    except (OSError, RuntimeError) as exc:
        # torch.save reports a failed write (ENOSPC, EFBIG) as a RuntimeError from its zip
        # writer; atomic_writer has already removed the temp file either way.
        reason = getattr(exc, "strerror", None) or first_line(exc, "")
        kept = (f"the previous {path.name} is intact" if path.is_file()
                else "no checkpoint had been written yet")
        raise CheckpointWriteError(f"cannot write checkpoint {path} ({reason}); {kept}") from exc


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a training run folder (its checkpoints/latest.pt)."""
    path = Path(path)
    if path.is_dir():
        latest = latest_checkpoint(path)
        if not latest.is_file():
            raise CheckpointError(f"{path} is a folder without {latest.relative_to(path)} "
                                  "(not a training run folder)")
        return latest
    if not path.is_file():
        raise CheckpointError(f"{path}: no such run folder or checkpoint file")
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file "
                              f"(for a run directory use {latest_checkpoint(Path('RUN'))})")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        reason = first_line(exc, "")
        raise CheckpointError(f"{path} is not a readable cyclegan checkpoint "
                              f"({type(exc).__name__}: {reason})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        hint = ""
        if isinstance(state, dict) and any(k.startswith("model.") for k in state):
            hint = " (it looks like an official CycleGAN state_dict: run cyclegan-convert first)"
        raise CheckpointError(f"{path} is not a cyclegan checkpoint{hint}")
    for key, kind in (("model_config", dict), ("domains", dict)):
        if key not in state:
            raise CheckpointError(f"{path} is a damaged cyclegan checkpoint: no {key!r}")
        if not isinstance(state[key], kind):
            raise CheckpointError(f"{path} is a damaged cyclegan checkpoint: {key} is a "
                                  f"{type(state[key]).__name__}, not a {kind.__name__}")
    if DIGEST in state and state[DIGEST] != payload_digest(state):
        raise CheckpointError(f"{path} is a damaged file: its contents no longer match the "
                              "digest saved with them (changed on disk or in a copy); use "
                              "another checkpoint or copy it again")
    return state


def model_config(path, state: dict) -> ModelConfig:
    """The checkpoint's ModelConfig, with field types and ranges checked."""
    try:
        return ModelConfig.from_dict(state["model_config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has a damaged model_config: {exc}") from None


def train_config(path, state: dict) -> dict:
    """The training flags a checkpoint records ({} for converted or exported ones)."""
    cfg = state.get("train_config")
    if cfg is None:
        return {}
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path} has a damaged train_config: a {type(cfg).__name__}, "
                              "not a dict")
    return cfg


def check_weights(path, key: str, weights, cfg: ModelConfig) -> None:
    """Stored tensors against the shapes `cfg` implies, before building the real model
    (a damaged or hostile config could otherwise ask for gigabytes before failing)."""
    if not isinstance(weights, dict):
        raise CheckpointError(f"{path}: {key} is a {type(weights).__name__}, not a state dict")
    bad = next((k for k, v in weights.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise CheckpointError(f"{path}: {key}[{bad!r}] is not a tensor")
    # Every residual block holds tensors, so more blocks than tensors cannot match; this
    # bounds the meta-device build below by the size of the file.
    if cfg.n_blocks > len(weights):
        raise CheckpointError(f"{path}: {key} holds {len(weights)} tensors, too few for its "
                              f"model config (n_blocks={cfg.n_blocks})")
    with torch.device("meta"):  # shapes only: no memory, no initialization
        expected = {k: tuple(v.shape) for k, v in
                    build_generator(cfg, fused=False).state_dict().items()}
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        what = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        raise CheckpointError(f"{path}: {key} weights do not match its model config ({what})")
    for name, shape in expected.items():
        if tuple(weights[name].shape) != shape:
            raise CheckpointError(f"{path}: {key}[{name!r}] has shape "
                                  f"{tuple(weights[name].shape)}, its model config needs {shape}")


def load_generator(path: str | os.PathLike, direction: str = "A2B", fused: bool = False,
                   device="cpu", raw: bool = False) -> tuple[torch.nn.Module, dict]:
    """The generator for `direction` in eval mode, plus metadata about it: its averaged
    weights when the checkpoint has them (raw=True: the optimizer's own weights)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    state = load_checkpoint(path)
    key = f"G_{direction}"
    # A run that keeps an exponential moving average of its generators (cyclegan-train
    # --ema) saves it beside the raw weights; the average is the model to use.
    averaged = key in state and f"{key}_ema" in state and not raw
    if averaged:
        key = f"{key}_ema"
    if key not in state:
        have = [d for d in DIRECTIONS if f"G_{d}" in state]
        raise CheckpointError(f"{path} has no {direction} generator (it holds: "
                              f"{', '.join(have) or 'none'})")
    cfg = model_config(path, state)
    if cfg.work_size is None:  # written before model configs recorded the working scale
        cfg = dataclasses.replace(cfg, work_size=recorded_work_size(train_config(path, state)))
    check_weights(path, key, state[key], cfg)
    model = build_generator(cfg, fused=fused)
    model.load_state_dict(state[key])
    model.to(device).eval()
    meta = {
        "config": cfg.to_dict(),
        "version": state.get("version"),
        "domains": state["domains"],
        "direction": direction,
        "averaged": averaged,
        "step": _counter(path, state, "step"),
        "epoch": _counter(path, state, "epoch"),
    }
    return model, meta


def _counter(path, state: dict, key: str) -> int:
    value = state.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CheckpointError(f"{path} has a damaged {key}: {value!r} is not a whole number")
    return value
