"""Unaligned A/B pairing with an order that is a pure function of (seed, epoch).

Each epoch visits max(len A, len B) pairs: both domains in their own random order (the
smaller one repeated), sharded across DDP ranks like DistributedSampler. Every pair also
carries its own seed, under which its images are loaded, so random crops and flips do
not depend on worker count, rank count or where a resumed run started.
"""

from __future__ import annotations

import contextlib
import math
import random

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def _generator(*key: int) -> torch.Generator:
    seed = int(np.random.SeedSequence([abs(k) for k in key]).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(seed & (2**63 - 1))


def _tiled_permutation(n: int, length: int, g: torch.Generator) -> torch.Tensor:
    reps = math.ceil(length / n)
    return torch.cat([torch.randperm(n, generator=g) for _ in range(reps)])[:length]


def epoch_pairs(n_a: int, n_b: int, seed: int, epoch: int) -> list[tuple[int, int, int]]:
    """(index in A, index in B, item seed) for every pair of the epoch, in order."""
    length = max(n_a, n_b)
    g = _generator(seed, epoch)
    ia = _tiled_permutation(n_a, length, g).tolist()
    ib = _tiled_permutation(n_b, length, g).tolist()
    seeds = torch.randint(2**62, (length,), generator=g).tolist()
    return list(zip(ia, ib, seeds))


class PairSampler(Sampler):
    """Yields this rank's pairs of the current epoch, from batch `start_batch` on."""

    def __init__(self, n_a: int, n_b: int, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1):
        self.n_a, self.n_b = n_a, n_b
        self.batch_size = batch_size
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = epoch
        self.start_batch = start_batch

    @property
    def per_rank(self) -> int:
        return math.ceil(max(self.n_a, self.n_b) / self.world_size)

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(self.per_rank / self.batch_size)

    def _mine(self) -> list[tuple[int, int, int]]:
        pairs = epoch_pairs(self.n_a, self.n_b, self.seed, self.epoch)
        total = self.per_rank * self.world_size
        pairs += pairs[: total - len(pairs)]  # pad so every rank runs the same number of steps
        return pairs[self.rank::self.world_size]

    def __iter__(self):
        return iter(self._mine()[self.start_batch * self.batch_size:])

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start_batch * self.batch_size)


@contextlib.contextmanager
def seeded(seed: int):
    """Run a block under fixed torch/python/numpy seeds, then restore the previous states."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


class PairDataset(Dataset):
    """Indexed by the (ia, ib, seed) items of PairSampler; returns (image A, image B)."""

    def __init__(self, ds_a: Dataset, ds_b: Dataset):
        self.ds_a, self.ds_b = ds_a, ds_b

    def __len__(self) -> int:
        return max(len(self.ds_a), len(self.ds_b))

    def __getitem__(self, item: tuple[int, int, int]):
        ia, ib, seed = item
        with seeded(seed):
            return self.ds_a[ia], self.ds_b[ib]
