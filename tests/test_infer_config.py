"""cyclegan-infer's flags are built from InferConfig: one default, help and bound per field."""

import dataclasses

import pytest

from cyclegan import flags
from cyclegan.cli.infer import build_parser, main
from cyclegan.errors import UsageError
from cyclegan.flags import resolve
from cyclegan.infer.config import EngineConfig, InferConfig, parse_shard

FIELDS = flags.flag_fields(InferConfig)


def flag(name):
    return flags.flag(InferConfig, name)


def _action(name):
    return next(a for a in build_parser()._actions if a.dest == name)


def test_every_config_field_is_a_flag():
    assert [f.name for f in FIELDS] == [f.name for f in dataclasses.fields(InferConfig)]


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_every_flag_defaults_and_helps_from_its_field(field):
    action = _action(field.name)
    if not field.metadata.get("positional"):
        assert flag(field.name) in action.option_strings
    assert action.help == resolve(field.metadata["help"])
    default = build_parser().get_default(field.name)
    # A flag parsed later (--shard) shows its default as text that parses to the field's.
    assert (field.metadata["parse"](default) if "parse" in field.metadata
            else default) == field.default
    if "choices" in field.metadata:
        assert list(action.choices) == list(resolve(field.metadata["choices"]))


def test_parsing_nothing_gives_the_default_config():
    values = vars(build_parser().parse_args([]))
    assert values.pop("list_models") is False
    engine = {f.name: values.pop(f.name) for f in flags.flag_fields(EngineConfig)}
    assert EngineConfig(**engine).checked() == EngineConfig()
    assert InferConfig(**values).checked() == InferConfig()


@pytest.mark.parametrize("field", [f for f in FIELDS if f.metadata.get("bounds")],
                         ids=lambda f: f.name)
def test_bounds_are_enforced_with_the_flags_name(field):
    for op, limit in field.metadata.get("bounds"):
        bad = limit - 1 if op == ">=" else limit + 1
        with pytest.raises(UsageError, match=f"^{flag(field.name)} must be {op} {limit}, "
                                             f"got {bad}$"):
            dataclasses.replace(InferConfig(), **{field.name: bad}).checked()
        good = dataclasses.replace(InferConfig(), **{field.name: limit}).checked()
        assert getattr(good, field.name) == limit


@pytest.mark.parametrize("name, value", [("device", "tpu"), ("format", "gif"),
                                         ("precision", "int4"), ("direction", "AB")])
def test_choices_are_enforced_from_python_too(name, value):
    with pytest.raises(UsageError, match=f"{flag(name)} must be one of"):
        dataclasses.replace(InferConfig(), **{name: value}).checked()


def test_shard_parsed_from_text_or_pair():
    assert parse_shard("2/5") == parse_shard((2, 5)) == (2, 5)
    assert InferConfig(shard="1/3").checked().shard == (1, 3)
    for bad in ("5/5", "-1/2", "a/b", "1"):
        with pytest.raises(UsageError, match="--shard"):
            parse_shard(bad)


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["--quality", "101"], "--quality must be <= 100, got 101"),
    (["--shard", "2/2"], "--shard i/n needs 0 <= i < n"),
])
def test_bad_values_exit_2_with_one_line(args, message, capsys, tmp_path):
    assert main([str(tmp_path), str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cyclegan-infer: error: {message}") and err.count("\n") == 1


def test_help_shows_each_default_once():
    text = build_parser().format_help()
    assert "(default: 95)" in text and "(default: 0/1)" in text
    assert text.count("(default: auto)") == 3  # --device, --precision, --video-codec


def test_engine_flags_reach_ray_by_name():
    from cyclegan.infer.ray_engine import RayOptions

    args = build_parser().parse_args(["--engine", "ray", "--ray-address", "head:6379",
                                      "--actors", "2", "--cpus-per-actor", "3"])
    engine = EngineConfig(**flags.values(args, EngineConfig)).checked()
    assert engine.ray_options() == RayOptions(address="head:6379", actors=2, cpus_per_actor=3)
    with pytest.raises(UsageError, match="^--actors must be >= 1, got 0$"):
        EngineConfig(engine="ray", actors=0).checked()
    with pytest.raises(UsageError, match="^--ray-address is for --engine ray$"):
        EngineConfig(ray_address="head:6379").checked()
