import random
from collections import Counter

import numpy as np
import torch
from torch.utils.data import Dataset

from cyclegan.train.sampling import PairDataset, PairSampler, epoch_pairs


def test_epoch_order_is_a_function_of_seed_and_epoch():
    assert epoch_pairs(7, 4, seed=3, epoch=2) == epoch_pairs(7, 4, seed=3, epoch=2)
    assert epoch_pairs(7, 4, seed=3, epoch=2) != epoch_pairs(7, 4, seed=3, epoch=3)
    assert epoch_pairs(7, 4, seed=3, epoch=2) != epoch_pairs(7, 4, seed=4, epoch=2)


def test_epoch_visits_the_larger_domain_once_and_repeats_the_smaller_evenly():
    pairs = epoch_pairs(10, 4, seed=0, epoch=0)
    assert len(pairs) == 10
    assert sorted(a for a, _, _ in pairs) == list(range(10))
    counts = Counter(b for _, b, _ in pairs)
    assert set(counts) == set(range(4)) and set(counts.values()) <= {2, 3}
    assert len({s for _, _, s in pairs}) == 10


def test_ranks_split_the_epoch_evenly():
    full = epoch_pairs(9, 9, seed=1, epoch=5)
    shards = []
    for rank in range(4):
        s = PairSampler(9, 9, batch_size=2, seed=1, rank=rank, world_size=4)
        s.set_epoch(5)
        shards.append(list(s))
        assert len(shards[-1]) == len(s) == 3 and s.batches_per_epoch == 2
    assert {p for shard in shards for p in shard} == set(full)


def test_start_batch_skips_what_was_done():
    s = PairSampler(10, 6, batch_size=3, seed=0)
    s.set_epoch(1)
    everything = list(s)
    s.set_epoch(1, start_batch=2)
    assert list(s) == everything[6:] and len(s) == 4


class Noisy(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return torch.rand(2) + i + random.random() + np.random.rand()


def test_items_load_under_their_own_seed_without_touching_global_rng():
    ds = PairDataset(Noisy(), Noisy())
    item = (1, 2, 12345)
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    a1, b1 = ds[item]
    expect = (torch.rand(1), random.random(), np.random.rand())
    torch.manual_seed(7)
    a2, b2 = ds[item]
    assert torch.equal(a1, a2) and torch.equal(b1, b2)
    assert not torch.equal(ds[(1, 2, 999)][0], a1)
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    ds[item]
    assert (torch.rand(1), random.random(), np.random.rand()) == expect
