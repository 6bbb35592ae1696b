import pytest

from cyclegan.evaluation import sweepgrid


def test_grid_is_the_product_in_order():
    configs = sweepgrid.parse_grid(["lambda_cyc=10,5", "d_ratio=2,1"])
    assert [c.name for c in configs] == ["lambda_cyc-10_d_ratio-2", "lambda_cyc-10_d_ratio-1",
                                         "lambda_cyc-5_d_ratio-2", "lambda_cyc-5_d_ratio-1"]
    assert configs[1].flags() == ["--lambda-cyc", "10", "--d-ratio", "1"]
    assert configs[1].label() == ["lambda_cyc=10", "d_ratio=1"]
    assert len(sweepgrid.parse_grid(["lambda_id=0,0.5", "ngf=8,16", "lr=1e-4"])) == 4


def test_names_are_stable_across_spellings():
    a = sweepgrid.parse_grid(["lambda-cyc=10.0,5", "d_ratio=2"])
    b = sweepgrid.parse_configs(["lambda_cyc=1e1,d_ratio=2.0", "lambda_cyc=5,d_ratio=2"])
    assert [c.name for c in a] == [c.name for c in b] == ["lambda_cyc-10_d_ratio-2",
                                                          "lambda_cyc-5_d_ratio-2"]
    lr = sweepgrid.parse_configs(["lr=0.0002,lambda_id=0.5"])[0]
    assert lr.name == "lr-0.0002_lambda_id-0.5"


def test_explicit_configs_and_switches():
    configs = sweepgrid.parse_configs(["lambda_cyc=10,d_ratio=2", "lambda_cyc=5,d_ratio=1",
                                   "fused=false,channels_last=true"])
    assert [c.name for c in configs][:2] == ["lambda_cyc-10_d_ratio-2", "lambda_cyc-5_d_ratio-1"]
    assert configs[2].flags() == ["--no-fused", "--channels-last"]


@pytest.mark.parametrize("tokens, message", [
    (["gamma=1,2"], "unknown training option"),
    (["out=a,b"], "cannot be swept"),
    (["lambda_cyc=ten"], "needs a number"),
    (["ngf=8.5"], "whole number"),
    (["lambda_cyc=1", "lambda-cyc=2"], "twice"),
    (["lambda_cyc"], "KEY=V1,V2"),
    (["lambda_cyc=1,"], "empty value"),
])
def test_bad_grids(tokens, message):
    with pytest.raises(sweepgrid.SweepError, match=message):
        sweepgrid.parse_grid(tokens)


def test_bad_configs():
    with pytest.raises(sweepgrid.SweepError, match="repeat"):
        sweepgrid.parse_configs(["lambda_cyc=10", "lambda_cyc=10.0"])
    with pytest.raises(sweepgrid.SweepError, match="KEY=VALUE"):
        sweepgrid.parse_configs(["lambda_cyc=10,5"])


def test_train_args_checks():
    configs = sweepgrid.parse_grid(["lambda_cyc=10,5"])
    assert sweepgrid.check_train_args(["--steps", "30", "--ngf", "8"], configs) == 30
    assert sweepgrid.check_train_args(["--steps=12"], configs) == 12
    assert sweepgrid.check_train_args([], configs) is None
    with pytest.raises(sweepgrid.SweepError, match="sweep sets it"):
        sweepgrid.check_train_args(["--out", "x"], configs)
    with pytest.raises(sweepgrid.SweepError, match="swept"):
        sweepgrid.check_train_args(["--lambda-cyc", "3"], configs)
