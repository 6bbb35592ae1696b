"""CycleGAN training: the paper's recipe on the fused generator, with exact resume and DDP.

Single process:  python -m cyclegan.train --data builtin:seasons --out runs/demo
Several:         torchrun --nproc-per-node 2 -m cyclegan.train --data DIR --out runs/x
The loop below reads top to bottom: setup, models, optimizers, resume, then per step a
generator update and a discriminator update, logging, samples and checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from cyclegan import __version__, data, distributed, report, rundir
from cyclegan.checkpoint import load_checkpoint, new_checkpoint, save_checkpoint
from cyclegan.layers import fused_unavailable_reason
from cyclegan.models import (
    UPSAMPLING,
    ModelConfig,
    PatchDiscriminator,
    build_generator,
    init_weights,
)
from cyclegan.progress import Progress
from cyclegan.recipe import (
    LOSS_NAMES,
    Discriminators,
    Generators,
    ImagePool,
    LossWeights,
    get_rng_state,
    lr_factor,
    seed_everything,
    set_rng_state,
    train_step,
)
from cyclegan.rundir import NonFiniteLossError, TrainError
from cyclegan.sampling import PairDataset, PairSampler

# Flags that may differ when continuing a run; everything else comes from its config.json.
RESUMABLE = ("steps", "epochs", "decay_epochs", "log_every", "save_every", "workers",
             "quiet", "device", "fused", "channels_last")
N_SAMPLES = 3


@dataclass
class TrainConfig:
    data: str = "builtin:seasons"
    out: str = "runs/cyclegan"
    resume: bool = False
    epochs: int = 100
    decay_epochs: int = 100
    steps: int | None = None
    batch_size: int = 1
    image_size: int = 256
    load_size: int | None = None
    ngf: int = 64
    ndf: int = 64
    n_blocks: int | None = None
    upsample: str = "deconv"
    lambda_cyc: float = 10.0
    d_ratio: float = 2.0
    lambda_id: float = 0.5
    lr: float = 2e-4
    beta1: float = 0.5
    pool_size: int = 50
    precision: str = "fp32"
    channels_last: bool = False
    fused: bool = True
    device: str | None = None
    seed: int = 0
    deterministic: bool = False
    log_every: int = 50
    save_every: int = 10
    workers: int = 2
    quiet: bool = False

    def resolved(self) -> TrainConfig:
        """Fill the size-dependent defaults and reject impossible values."""
        c = dataclasses.replace(self)
        if c.load_size is None:
            c.load_size = round(c.image_size * 286 / 256)
        if c.n_blocks is None:
            c.n_blocks = 9 if c.image_size >= 256 else 6
        positive = ("epochs", "batch_size", "image_size", "load_size", "ngf", "ndf",
                    "log_every", "save_every", "lr", "d_ratio")
        for name in positive:
            if not getattr(c, name) > 0:
                raise TrainError(f"--{name.replace('_', '-')} must be > 0, got {getattr(c, name)}")
        for name in ("decay_epochs", "n_blocks", "lambda_cyc", "lambda_id", "pool_size", "workers"):
            if getattr(c, name) < 0:
                raise TrainError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(c, name)}")
        if c.steps is not None and c.steps < 1:
            raise TrainError(f"--steps must be >= 1, got {c.steps}")
        if c.image_size % 4 or c.image_size < 8:
            raise TrainError(f"--image-size must be a multiple of 4 and >= 8, got {c.image_size}")
        if c.load_size < c.image_size:
            raise TrainError(f"--load-size ({c.load_size}) must be >= --image-size "
                             f"({c.image_size}): images are resized to it, then cropped")
        if c.upsample not in UPSAMPLING:
            raise TrainError(f"--upsample must be one of {', '.join(UPSAMPLING)}, "
                             f"got {c.upsample!r}")
        if c.precision not in ("fp32", "bf16"):
            raise TrainError(f"--precision must be fp32 or bf16, got {c.precision!r}")
        return c

    def model_config(self) -> ModelConfig:
        return ModelConfig(ngf=self.ngf, ndf=self.ndf, n_blocks=self.n_blocks,
                           upsample=self.upsample)


def resume_config(run: str | Path, overrides: dict) -> TrainConfig:
    """The config of an existing run, with the few flags that may change applied."""
    run = Path(run)
    if not rundir.latest_checkpoint(run).is_file():
        raise TrainError(f"--resume {run}: no checkpoint at {rundir.latest_checkpoint(run)}")
    saved = rundir.read_json(run / "config.json")["train"]
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in saved.items() if k in fields})
    for key, value in overrides.items():
        if key == "out":
            if Path(value).resolve() != run.resolve():
                raise TrainError(f"--out {value} differs from --resume {run}: a resumed run "
                                 "stays in its folder")
            continue
        if key not in RESUMABLE and value != getattr(cfg, key):
            raise TrainError(f"--{key.replace('_', '-')} cannot change when resuming (the run "
                             f"uses {getattr(cfg, key)!r}); allowed: "
                             + ", ".join("--" + k.replace("_", "-") for k in RESUMABLE))
        setattr(cfg, key, value)
    return dataclasses.replace(cfg, out=str(run), resume=True)


def train(cfg: TrainConfig) -> dict:
    """Train (or continue) the run in cfg.out; returns a summary of where it stopped."""
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    flags = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    info = distributed.setup(cfg.device)
    try:
        return _train(cfg.resolved(), info)
    finally:
        distributed.teardown(info)
        # Leave the process as we found it (train() is also called from Python).
        torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[2:]


def _train(cfg: TrainConfig, info: distributed.DistInfo) -> dict:
    device, main = info.device, info.is_main
    run = Path(cfg.out)
    rundir.prepare(run, cfg.resume)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    fused = cfg.fused
    if fused and (reason := fused_unavailable_reason(device)):
        warnings.warn(f"fused ops unavailable on {device} ({reason}); training with the "
                      "plain layers (--no-fused)", stacklevel=2)
        fused = False

    # Data: both domains, paired by a sampler whose order is a function of (seed, epoch).
    size = dict(image_size=cfg.image_size, load_size=cfg.load_size)
    ds_a = data.make_dataset(cfg.data, "A", "train", augment=True, **size)
    ds_b = data.make_dataset(cfg.data, "B", "train", augment=True, **size)
    domains = data.domain_names(cfg.data)
    sampler = PairSampler(len(ds_a), len(ds_b), cfg.batch_size, cfg.seed,
                          info.rank, info.world_size)
    loader = DataLoader(PairDataset(ds_a, ds_b), batch_size=cfg.batch_size, sampler=sampler,
                        num_workers=cfg.workers, persistent_workers=cfg.workers > 0,
                        pin_memory=device.type == "cuda",
                        generator=torch.Generator().manual_seed(cfg.seed))
    fixed_a, fixed_b = (_fixed_images(cfg, d) for d in "AB") if main else (None, None)

    # Models: identical initial weights on every rank (DDP also broadcasts them).
    seed_everything(cfg.seed)
    model_cfg = cfg.model_config()
    G = Generators(build_generator(model_cfg, fused), build_generator(model_cfg, fused))
    D = Discriminators(PatchDiscriminator(model_cfg), PatchDiscriminator(model_cfg))
    for net in (G, D):
        init_weights(net)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    G.to(device, memory_format=memory_format)
    D.to(device, memory_format=memory_format)
    opt_G = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    schedule = lambda e: lr_factor(e, cfg.epochs, cfg.decay_epochs)  # noqa: E731
    sched_G = torch.optim.lr_scheduler.LambdaLR(opt_G, schedule)
    sched_D = torch.optim.lr_scheduler.LambdaLR(opt_D, schedule)
    pool_a = ImagePool(cfg.pool_size, seed=cfg.seed * 1000 + 2 * info.rank)
    pool_b = ImagePool(cfg.pool_size, seed=cfg.seed * 1000 + 2 * info.rank + 1)
    seed_everything(cfg.seed + info.rank)

    step, epoch, batch = 0, 0, 0
    if cfg.resume:
        ckpt = load_checkpoint(rundir.latest_checkpoint(run), map_location="cpu")
        for net, key in ((G.a2b, "G_A2B"), (G.b2a, "G_B2A"), (D.a, "D_A"), (D.b, "D_B")):
            net.load_state_dict(ckpt[key])
        opt_G.load_state_dict(ckpt["optim_G"])
        opt_D.load_state_dict(ckpt["optim_D"])
        sched_G.load_state_dict(ckpt["sched_G"])
        sched_D.load_state_dict(ckpt["sched_D"])
        # Recomputed, since --epochs / --decay-epochs may change on resume.
        for group in (*opt_G.param_groups, *opt_D.param_groups):
            group["lr"] = group["initial_lr"] * schedule(sched_G.last_epoch)
        pool_a.load_state_dict(ckpt["pools"]["A"], device)
        pool_b.load_state_dict(ckpt["pools"]["B"], device)
        step, epoch, batch = ckpt["step"], ckpt["epoch"], ckpt["batch"]
        if info.rank == 0:
            set_rng_state(ckpt["rng"])
        del ckpt

    total_epochs = cfg.epochs + cfg.decay_epochs
    total_steps = total_epochs * sampler.batches_per_epoch
    if cfg.steps is not None:
        total_steps = min(total_steps, cfg.steps)
    if main:
        rundir.write_json(run / "config.json", {
            "train": dataclasses.asdict(cfg), "model": model_cfg.to_dict(), "domains": domains,
            "version": __version__, "torch": torch.__version__, "world_size": info.world_size,
            "fused_active": fused, "dataset_sizes": {"A": len(ds_a), "B": len(ds_b)}})

    def checkpoint(path: Path, finished: bool = False) -> None:
        state = new_checkpoint(model_cfg, domains)
        state.update(
            G_A2B=G.a2b.state_dict(), G_B2A=G.b2a.state_dict(),
            D_A=D.a.state_dict(), D_B=D.b.state_dict(), train_config=dataclasses.asdict(cfg),
            optim_G=opt_G.state_dict(), optim_D=opt_D.state_dict(),
            sched_G=sched_G.state_dict(), sched_D=sched_D.state_dict(),
            step=step, epoch=epoch, batch=batch, finished=finished,
            pools={"A": pool_a.state_dict(), "B": pool_b.state_dict()}, rng=get_rng_state())
        save_checkpoint(path, state)

    G_ddp = DDP(G) if info.enabled else G
    D_ddp = DDP(D) if info.enabled else D
    weights = LossWeights(cfg.lambda_cyc, cfg.lambda_id, cfg.d_ratio)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if cfg.precision == "bf16"
                else contextlib.nullcontext())
    sums = torch.zeros(len(LOSS_NAMES), device=device, dtype=torch.float64)
    count, last_log = 0, time.perf_counter()
    log_start_step = step
    images_per_step = cfg.batch_size * info.world_size
    progress = Progress(total_steps, "train", unit="step", enabled=main and not cfg.quiet,
                        initial=step)
    stopped = False

    def check_finite() -> None:
        # Sums are non-finite iff some loss was: checked before anything is saved.
        bad = not bool(torch.isfinite(sums).all())
        if distributed.any_rank(bad, info):
            where = rundir.latest_checkpoint(run)
            kept = f"the last good checkpoint {where} is unchanged" if where.exists() else \
                "no checkpoint had been written yet"
            raise NonFiniteLossError(
                f"non-finite loss (NaN or inf) within steps {log_start_step + 1}..{step}; "
                f"stopping: {kept}. Try --precision fp32, a lower --lr, or check the data")

    while epoch < total_epochs and (cfg.steps is None or step < cfg.steps) and not stopped:
        sampler.set_epoch(epoch, batch)
        for real_a, real_b in loader:
            real_a = real_a.to(device, non_blocking=True, memory_format=memory_format)
            real_b = real_b.to(device, non_blocking=True, memory_format=memory_format)

            sums += train_step(G, D, opt_G, opt_D, (pool_a, pool_b), real_a, real_b, weights,
                               autocast, G_ddp, D_ddp).double()
            count += 1
            step += 1
            batch += 1
            if step % cfg.log_every == 0 or step == total_steps:
                check_finite()
                means = distributed.all_reduce_sum(sums.clone(), info) / (count * info.world_size)
                now = time.perf_counter()
                record = {"step": step, "epoch": epoch + batch / sampler.batches_per_epoch,
                          "lr": opt_G.param_groups[0]["lr"],
                          **{f"loss_{k}": v for k, v in zip(LOSS_NAMES, means.tolist())},
                          "images_per_s": images_per_step * count / (now - last_log),
                          "time": time.time()}
                if main:
                    rundir.append_log(run / "log.jsonl", record)
                progress.postfix.update(G=record["loss_G"], D_A=record["loss_D_A"],
                                        D_B=record["loss_D_B"],
                                        cyc=record["loss_cyc_A"] + record["loss_cyc_B"])
                sums.zero_()
                count, last_log, log_start_step = 0, now, step
            progress.update(1, epoch=epoch + 1)
            if cfg.steps is not None and step >= cfg.steps:
                stopped = True
                break
        else:
            # The epoch ran to its end: decay the LR, show samples, checkpoint.
            with warnings.catch_warnings():
                # A resumed run may end an epoch before its first optimizer step.
                warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step")
                sched_G.step()
                sched_D.step()
            epoch, batch = epoch + 1, 0
            check_finite()
            if main:
                _save_samples(G, fixed_a, fixed_b, rundir.sample_path(run, epoch), memory_format)
                checkpoint(rundir.latest_checkpoint(run), finished=epoch >= total_epochs)
                if epoch % cfg.save_every == 0 or epoch == total_epochs:
                    checkpoint(rundir.epoch_checkpoint(run, epoch), finished=epoch >= total_epochs)
    if stopped:
        check_finite()
        if main:
            _save_samples(G, fixed_a, fixed_b, rundir.sample_path(run, epoch + 1), memory_format)
            checkpoint(rundir.latest_checkpoint(run))
    progress.close()
    distributed.barrier(info)
    return {"run": str(run), "rank": info.rank, "step": step, "epoch": epoch,
            "finished": epoch >= total_epochs, "fused": fused}


def _fixed_images(cfg: TrainConfig, domain: str) -> torch.Tensor:
    """The sample grid's inputs; loading them also fails fast on a folder of bad files."""
    ds = data.make_dataset(cfg.data, domain, "train", cfg.image_size, cfg.load_size,
                           augment=False)
    n = min(N_SAMPLES, len(ds))
    with warnings.catch_warnings():
        # The training dataset reports unreadable files; one warning is enough.
        warnings.simplefilter("ignore", data.BadImageWarning)
        return torch.stack([ds[i * len(ds) // n] for i in range(n)])


@torch.no_grad()
def _save_samples(G: Generators, real_a: torch.Tensor, real_b: torch.Tensor, path: Path,
                  memory_format: torch.memory_format) -> None:
    """Rows real A | fake B | reconstructed A, then real B | fake A | reconstructed B."""
    device = next(G.parameters()).device
    a = real_a.to(device, memory_format=memory_format)
    b = real_b.to(device, memory_format=memory_format)
    fake_a, fake_b, rec_a, rec_b, _, _ = G(a, b, False)
    rows = [[x, y, z] for x, y, z in zip(a, fake_b, rec_a)]
    rows += [[x, y, z] for x, y, z in zip(b, fake_a, rec_b)]
    tiles = [[data.to_pil(t) for t in row] for row in rows]
    labels = [["real"], ["translated"], ["reconstructed"]]
    report.write_png(path, report.labelled_grid(labels, tiles))


def main(argv: list[str] | None = None) -> int:
    from cyclegan.cli.train import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
