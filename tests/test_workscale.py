"""The working-scale rule (cyclegan.workscale): one rule for new runs and old checkpoints."""

import pytest

from cyclegan.train.config import TrainConfig
from cyclegan.workscale import recorded_work_size, trained_work_size


def test_folders_learn_at_the_load_size_builtin_data_at_the_image_size():
    assert trained_work_size("/data/horse2zebra", 256, 286) == 286
    assert trained_work_size("builtin:seasons", 64, 72) == 64


@pytest.mark.parametrize("data", ["builtin:seasons", "/data/x"])
def test_the_training_config_reads_the_same_rule(data):
    cfg = TrainConfig(data=data, image_size=128, load_size=144)
    assert cfg.work_size == trained_work_size(data, 128, 144)


def test_an_old_checkpoints_flags_give_its_scale_and_damaged_ones_none():
    assert recorded_work_size({"data": "/d", "image_size": 256, "load_size": 286}) == 286
    assert recorded_work_size({"data": "builtin:seasons", "image_size": 64,
                               "load_size": 72}) == 64
    assert recorded_work_size({}) is None  # converted weights record no flags
    assert recorded_work_size({"data": "/d", "image_size": 256, "load_size": "286"}) is None
    assert recorded_work_size({"data": "/d", "image_size": True, "load_size": 286}) is None
