"""The loss log of a run: per-step losses summed on the device (no host sync per step),
averaged over the ranks at each --log-every step into a log.jsonl line (and TensorBoard),
and checked finite before anything is saved."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from cyclegan import runlayout
from cyclegan.errors import NonFiniteLossError
from cyclegan.progress import Progress
from cyclegan.train import distributed, rundir, tensorboard
from cyclegan.train.state import TrainState


class LossLog:
    """Sums the per-step losses on the device (no host sync) and writes log.jsonl lines."""

    def __init__(self, run: Path, info: distributed.DistInfo, state: TrainState,
                 images_per_step: int, writer, names: tuple[str, ...]):
        self.run, self.info, self.state, self.writer = run, info, state, writer
        self.images_per_step, self.names = images_per_step, names
        self.sums = torch.zeros(len(names), device=info.device, dtype=torch.float64)
        self.count, self.since, self.first_step = 0, time.perf_counter(), state.step

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        self.sums += torch.stack([losses[k] for k in self.names]).double()
        self.count += 1

    def check_finite(self) -> None:
        """The sums are non-finite iff some loss was: checked before anything is saved."""
        bad = not bool(torch.isfinite(self.sums).all())
        if distributed.any_rank(bad, self.info):
            where = runlayout.latest_checkpoint(self.run)
            kept = f"the last good checkpoint {where} is unchanged" if where.exists() else \
                "no checkpoint had been written yet"
            raise NonFiniteLossError(
                f"non-finite loss (NaN or inf) within steps {self.first_step + 1}.."
                f"{self.state.step}; stopping: {kept}. Try --precision fp32, a lower --lr, "
                "or check the data")

    def flush(self, batches_per_epoch: int, progress: Progress) -> None:
        self.check_finite()
        info, state = self.info, self.state
        means = distributed.all_reduce_sum(self.sums.clone(), info) / (self.count *
                                                                       info.world_size)
        now = time.perf_counter()
        record = {"step": state.step, "epoch": state.epoch + state.batch / batches_per_epoch,
                  "lr": state.lr, "train_s": state.spent_s,
                  **{f"loss_{k}": v for k, v in zip(self.names, means.tolist())},
                  "images_per_s": self.images_per_step * self.count / (now - self.since),
                  # CPU seconds of this process (all its threads) since it started: the
                  # budget that recipe studies compare on a shared machine.
                  "process_cpu_s": time.process_time(), "time": time.time()}
        if info.is_main:
            rundir.append_log(runlayout.log_path(self.run), record)
            if self.writer is not None:
                tensorboard.log_record(self.writer, record)
        d_loss = sum(record[f"loss_{k}"] for k in self.names if k.startswith("D"))
        progress.postfix.update(G=record["loss_G"], D=d_loss,
                                cyc=record["loss_cyc_A"] + record["loss_cyc_B"])
        self.sums.zero_()
        self.count, self.since, self.first_step = 0, now, state.step
