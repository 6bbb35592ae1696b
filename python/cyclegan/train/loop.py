"""CycleGAN training: the paper's recipe on the fused generator, with exact resume and DDP.

Single process:  python -m cyclegan.train --data builtin:seasons --out runs/demo
Several:         torchrun --nproc-per-node 2 -m cyclegan.train --data DIR --out runs/x
`_train` reads top to bottom: run folder, data, models (TrainState), resume, then per step a
generator and a discriminator update (recipe.train_step), logging, samples, checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import warnings
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from cyclegan import __version__, checkpoint, data, grids, images, runlayout
from cyclegan.checkpoint import load_checkpoint, new_checkpoint, save_checkpoint
from cyclegan.errors import TrainError
from cyclegan.layers import fused_unavailable_reason
from cyclegan.progress import Progress
from cyclegan.stopping import SIGNALS, StopRequest, ignore_in_worker
from cyclegan.train import budget, distributed, health, rundir, tensorboard
from cyclegan.train.config import TrainConfig
from cyclegan.train.losslog import LossLog
from cyclegan.train.recipe import Generators, LossWeights, loss_names, train_step
from cyclegan.train.sampling import PairDataset, PairSampler
from cyclegan.train.state import TrainState
from cyclegan.train.structure import structure_loss

N_SAMPLES = 3
SIGNALS_BY_NAME = dict(SIGNALS.values())


def train(cfg: TrainConfig) -> dict:
    """Train (or continue) the run in cfg.out; returns a summary of where it stopped."""
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    flags = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    threads = torch.get_num_threads()
    info = distributed.setup(cfg.device)
    try:
        return _train(cfg.resolved(), info)
    finally:
        distributed.teardown(info)
        # Leave the process as we found it (train() is also called from Python).
        torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[2:]
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, info: distributed.DistInfo) -> dict:
    device, main = info.device, info.is_main
    run = Path(cfg.out)
    # Everything that can refuse the run does so before the run folder is touched.
    model_cfg = cfg.model_config()
    ckpt = _checked_resume(run, model_cfg) if cfg.resume else None
    budget.check_memory(cfg, model_cfg, device, info.world_size)

    # Data: both domains, paired by a sampler whose order is a function of (seed, epoch).
    loader, sampler, sizes = _make_loader(cfg, info)
    fixed = (_fixed_images(cfg, "A"), _fixed_images(cfg, "B")) if main else None

    # Networks, optimizers, schedules, pools: identical initial weights on every rank.
    state, fused = _create_state(run, cfg, model_cfg, info)
    if ckpt is not None:
        _restore(state, ckpt, run, cfg, info)
        del ckpt
    # Under a budget the epochs run on until it is spent (state.finished); a minutes budget
    # has no step count to show.
    total_steps = ((cfg.epochs + cfg.decay_epochs) * sampler.batches_per_epoch
                   if state.budget is None else state.budget.steps)
    if cfg.steps is not None:
        total_steps = min(total_steps or cfg.steps, cfg.steps)
    domains = data.domain_names(cfg.data, cfg.domains)
    if main:
        _write_config(run, cfg, model_cfg, domains, fused, sizes, info.world_size)
    saver = Checkpointer(run, state, cfg, model_cfg, domains, main)

    # One step, and what watches the steps: the loss log, the progress bar, the pace.
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    step = _step_function(state, cfg, info, fmt)
    writer = tensorboard.open_writer(run, state.step) if cfg.tensorboard and main else None
    losses = LossLog(run, info, state, cfg.batch_size * info.world_size, writer,
                     loss_names(state.D.kinds, LossWeights.from_config(cfg)))
    progress = Progress(total_steps, "train", unit="step", enabled=main and not cfg.quiet,
                        initial=state.step)
    pace = budget.Pace(total_steps, state.step, device) if main and total_steps else None
    clock = Clock(state, info)
    stopped = None
    with StopRequest() as stop:
        while not state.finished and stopped is None:
            sampler.set_epoch(state.epoch, state.batch)
            for real_a, real_b in loader:
                losses.add(step(real_a, real_b))
                clock.tick()
                log_step = state.step % cfg.log_every == 0 or state.step == total_steps
                if log_step:
                    losses.flush(sampler.batches_per_epoch, progress)
                progress.update(1, epoch=state.epoch + 1)
                if pace is not None:
                    pace.step(state.step)
                # Multi-process runs decide together, at log steps (a collective each).
                if log_step or not info.enabled:
                    stopped = _stop_or_save(stop, saver, losses, cfg, info, clock)
                if stopped:
                    break
            else:
                clock.agree()
                _end_epoch(state, losses, saver, fixed, fmt, writer, cfg.save_every)

    # Stopped early (a signal, --steps, a spent budget): samples and a checkpoint of where it
    # stopped.
    if stopped:
        if losses.count:  # the steps since the last log line (a minutes budget's last ones)
            losses.flush(sampler.batches_per_epoch, progress)
        losses.check_finite()
        if main:
            _save_samples(state, fixed, runlayout.sample_path(run, state.epoch + 1), fmt, writer)
        saver.save(runlayout.latest_checkpoint(run), state.finished)
    progress.close()
    if writer is not None:
        writer.close()
    distributed.barrier(info)
    signal_name = stopped if stopped in SIGNALS_BY_NAME else None
    return {"run": str(run), "rank": info.rank, "step": state.step, "epoch": state.epoch,
            "finished": state.finished, "fused": fused, "signal": signal_name,
            "exit_code": SIGNALS_BY_NAME.get(signal_name, 0)}


def _create_state(run: Path, cfg: TrainConfig, model_cfg, info: distributed.DistInfo):
    """The run folder (a new run's is removed again if building fails), the networks and
    the rest of TrainState, and whether the fused ops run."""
    created = rundir.prepare(run, cfg.resume)
    try:
        fused = _configure_backends(cfg, info.device)
        return TrainState.create(cfg, model_cfg, fused, info.device, info.rank), fused
    except BaseException:
        if created:
            rundir.discard(run)
        raise


def _restore(state: TrainState, ckpt: dict, run: Path, cfg: TrainConfig,
             info: distributed.DistInfo) -> None:
    """Continue from `ckpt`: its state (the RNGs on rank 0), the log cut back to its step."""
    state.load_state_dict(ckpt, info.device, restore_rng=info.rank == 0)
    if info.is_main:
        rundir.truncate_log(run, state.step)
        if not cfg.quiet:
            print(f"resuming {run} at step {state.step} (epoch {state.epoch + 1})")


def _write_config(run: Path, cfg: TrainConfig, model_cfg, domains: dict, fused: bool,
                  sizes: dict, world_size: int) -> None:
    """The run's config.json: what --resume, cyclegan-eval and sweeps read back."""
    rundir.write_json(runlayout.config_path(run), {
        "train": dataclasses.asdict(cfg), "model": model_cfg.to_dict(), "domains": domains,
        "version": __version__, "torch": torch.__version__, "world_size": world_size,
        "fused_active": fused, "dataset_sizes": sizes})


def _step_function(state: TrainState, cfg: TrainConfig, info: distributed.DistInfo, fmt):
    """step(real_a, real_b): one generator and discriminator update (recipe.train_step) on
    a batch, the step counters and the moving average; returns the step's losses."""
    G_fwd, D_fwd = _forward_modules(state, cfg, info)
    weights = LossWeights.from_config(cfg)
    autocast = (torch.autocast(info.device.type, dtype=torch.bfloat16)
                if cfg.precision == "bf16" else contextlib.nullcontext())
    structure = structure_loss(info.device) if cfg.lambda_struct > 0 else None

    def step(real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        real_a = real_a.to(info.device, non_blocking=True, memory_format=fmt)
        real_b = real_b.to(info.device, non_blocking=True, memory_format=fmt)
        state.before_step()
        losses = train_step(state.G, state.D, state.opt_G, state.opt_D,
                            (state.pool_a, state.pool_b), real_a, real_b,
                            weights.at(state.step), autocast, G_fwd, D_fwd, structure)
        state.step += 1
        state.batch += 1
        if state.ema is not None:
            state.ema.update(state.step)
        return losses

    return step


def _checked_resume(run: Path, model_cfg) -> dict:
    """The checkpoint a resume continues from, after checking that the run's config.json
    still describes its networks (an edited config could otherwise ask for any size)."""
    path = runlayout.latest_checkpoint(run)
    ckpt = load_checkpoint(path, map_location="cpu")
    # The working scale is no part of the networks' shapes, and checkpoints older than it
    # record none: it is not compared.
    saved = dataclasses.replace(checkpoint.model_config(path, ckpt),
                                work_size=model_cfg.work_size)
    if saved != model_cfg:
        diff = ", ".join(f"{k} {getattr(saved, k)!r} -> {getattr(model_cfg, k)!r}"
                         for k in saved.to_dict() if getattr(saved, k) != getattr(model_cfg, k))
        raise TrainError(f"{runlayout.config_path(run)} does not describe the networks in {path} "
                         f"({diff}): the file was edited or damaged; restore it to resume")
    for key in ("G_A2B", "G_B2A"):
        if key in ckpt:
            checkpoint.check_weights(path, key, ckpt[key], saved)
    return ckpt


def _make_loader(cfg: TrainConfig, info: distributed.DistInfo):
    ds_a, ds_b = (data.make_dataset(cfg.data, d, "train", cfg.image_size, cfg.load_size,
                                    augment=True) for d in "AB")
    sampler = PairSampler(len(ds_a), len(ds_b), cfg.batch_size, cfg.seed,
                          info.rank, info.world_size)
    loader = DataLoader(PairDataset(ds_a, ds_b), batch_size=cfg.batch_size, sampler=sampler,
                        num_workers=cfg.workers, persistent_workers=cfg.workers > 0,
                        pin_memory=info.device.type == "cuda", worker_init_fn=ignore_in_worker,
                        generator=torch.Generator().manual_seed(cfg.seed))
    return loader, sampler, {"A": len(ds_a), "B": len(ds_b)}


def _forward_modules(state: TrainState, cfg: TrainConfig, info: distributed.DistInfo):
    """What a step calls: DDP wrappers when distributed; compiled in place with --compile
    (Module.compile keeps parameter names, so checkpoints stay the same)."""
    if cfg.compile:
        for net in (state.G.a2b, state.G.b2a, *state.D.a.values(), *state.D.b.values()):
            net.compile()
    if info.enabled:
        return DDP(state.G), DDP(state.D)
    return state.G, state.D


class Clock:
    """Counts the run's training seconds into state.spent_s: from the first step of this
    session, on top of what the checkpoint it resumed from had spent."""

    def __init__(self, state: TrainState, info: distributed.DistInfo):
        self.state, self.info = state, info
        self.base, self.start = state.spent_s, time.monotonic()

    def tick(self) -> None:
        """Bring spent_s up to now (after every step)."""
        self.state.spent_s = self.base + time.monotonic() - self.start

    def agree(self) -> None:
        """Under DDP, every rank takes the slowest rank's count, so all set the same
        learning rate from it (called where the ranks meet)."""
        self.state.spent_s = distributed.all_reduce_max(self.state.spent_s, self.info)


def _stop_or_save(stop: StopRequest, saver: Checkpointer, losses: LossLog, cfg: TrainConfig,
                  info: distributed.DistInfo, clock: Clock) -> str | None:
    """Between steps: why to stop (a signal, --steps reached, the budget spent), else a
    checkpoint if one is due. A minutes budget's learning rate moves here, from the clock."""
    state = saver.state
    clock.agree()
    if state.budget is not None and state.budget.timed:
        state.apply_lr()
    if distributed.any_rank(stop.signal is not None, info):
        return stop.signal or "SIGTERM"  # another rank was signalled
    if cfg.steps is not None and state.step >= cfg.steps:
        return "steps"
    if state.budget is not None and state.finished:
        return "budget"
    if distributed.any_rank(saver.due(cfg.save_minutes), info):
        losses.check_finite()
        saver.save(runlayout.latest_checkpoint(saver.run))
    return None


def _end_epoch(state: TrainState, losses: LossLog, saver: Checkpointer, fixed, fmt, writer,
               save_every: int) -> None:
    """The epoch ran to its end: decay the LR, show samples, checkpoint."""
    with warnings.catch_warnings():
        # A resumed run may end an epoch before its first optimizer step.
        warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step")
        state.end_epoch()
    losses.check_finite()
    finished = state.finished
    if saver.main:
        _save_samples(state, fixed, runlayout.sample_path(saver.run, state.epoch), fmt, writer)
    saver.save(runlayout.latest_checkpoint(saver.run), finished)
    if state.epoch % save_every == 0 or finished:
        saver.save(runlayout.epoch_checkpoint(saver.run, state.epoch), finished)


class Checkpointer:
    """Writes the run's checkpoints (rank 0 only) and knows when one is due by the clock."""

    def __init__(self, run: Path, state: TrainState, cfg: TrainConfig, model_cfg, domains: dict,
                 main: bool):
        self.run, self.state, self.cfg, self.main = run, state, cfg, main
        self.model_cfg, self.domains = model_cfg, domains
        self.last = time.monotonic()

    def due(self, minutes: float) -> bool:
        return minutes > 0 and time.monotonic() - self.last >= minutes * 60

    def save(self, path: Path, finished: bool = False) -> None:
        self.last = time.monotonic()
        if not self.main:
            return
        ckpt = new_checkpoint(self.model_cfg, self.domains)
        ckpt.update(self.state.state_dict(), train_config=dataclasses.asdict(self.cfg),
                    finished=finished)
        save_checkpoint(path, ckpt)


def _configure_backends(cfg: TrainConfig, device: torch.device) -> bool:
    """Threads, determinism flags, cuDNN autotuning, and whether the fused ops really run
    here."""
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        if device.type == "cpu":
            # Some CPU kernels reduce in an order that depends on the threads' timing: on an
            # AVX-512/AMX host, 2 + 2 resumed steps with the projected discriminator differed
            # from 4 in one go in 3 of 4 runs with two threads, never with one.
            torch.set_num_threads(1)
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if cfg.fused and (reason := fused_unavailable_reason(device)):
        warnings.warn(f"fused ops unavailable on {device} ({reason}); training with the "
                      "plain layers (--no-fused)", stacklevel=3)
        return False
    return cfg.fused


def _fixed_images(cfg: TrainConfig, domain: str) -> torch.Tensor:
    """The sample grid's inputs; loading them also fails fast on a folder of bad files."""
    ds = data.make_dataset(cfg.data, domain, "train", cfg.image_size, cfg.load_size,
                           augment=False)
    n = min(N_SAMPLES, len(ds))
    with warnings.catch_warnings():
        # The training dataset reports unreadable files; one warning is enough.
        warnings.simplefilter("ignore", images.BadImageWarning)
        return torch.stack([ds[i * len(ds) // n] for i in range(n)])


@torch.no_grad()
def _save_samples(state: TrainState, fixed: tuple[torch.Tensor, torch.Tensor], path: Path,
                  memory_format: torch.memory_format, writer=None) -> None:
    """Rows real A | fake B | reconstructed A, then real B | fake A | reconstructed B."""
    device = next(state.G.parameters()).device
    a, b = (t.to(device, memory_format=memory_format) for t in fixed)
    G = Generators(state.generators["G_A2B"], state.generators["G_B2A"])
    fake_a, fake_b, rec_a, rec_b, _, _ = G(a, b, False)
    # Copy, inversion, collapse: logged and warned about (path is RUN/samples/NAME).
    health.check_samples(path.parents[1], state.step, {"A2B": (a, fake_b), "B2A": (b, fake_a)},
                         writer)
    rows = [[x, y, z] for x, y, z in zip(a, fake_b, rec_a)]
    rows += [[x, y, z] for x, y, z in zip(b, fake_a, rec_b)]
    tiles = [[data.to_pil(t) for t in row] for row in rows]
    labels = [["real"], ["translated"], ["reconstructed"]]
    grid = grids.labelled_grid(labels, tiles)
    images.write_png(path, grid)
    if writer is not None:
        tensorboard.log_samples(writer, grid, state.step)
