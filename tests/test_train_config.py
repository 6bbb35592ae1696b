"""cyclegan-train's flags are built from TrainConfig: one default and one help per field."""

import dataclasses
import subprocess
import sys

import pytest

from cyclegan.cli.train import build_parser
from cyclegan.errors import TrainError
from cyclegan.train.config import RESUMABLE, TrainConfig, flag, from_dict

FIELDS = [f for f in dataclasses.fields(TrainConfig) if "help" in f.metadata]


def _action(name):
    return next(a for a in build_parser()._actions if a.dest == name)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_every_flag_defaults_and_helps_from_its_field(field):
    action = _action(field.name)
    assert flag(field.name) in action.option_strings
    assert build_parser().get_default(field.name) == field.default
    assert action.help == field.metadata["help"]
    if "choices" in field.metadata:
        assert list(action.choices) == list(field.metadata["choices"])


def test_parsing_nothing_gives_the_default_config():
    values = vars(build_parser().parse_args([]))
    assert values.pop("resume") is None
    assert TrainConfig(**values) == TrainConfig()


def test_no_fused_flag_and_resume_help_list_the_resumable_flags():
    assert build_parser().parse_args(["--no-fused"]).fused is False
    help_text = _action("resume").help
    assert all(flag(k) in help_text for k in RESUMABLE)


def test_help_does_not_import_torch():
    code = ("import sys\nfrom cyclegan.cli.train import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "exit status" in r.stdout


@pytest.mark.parametrize("saved, message", [
    ("a string", "not a dict"),
    ({"ngf": "wide"}, "ngf='wide'"),
    ({"epochs": 1.5}, "epochs=1.5"),
    ({"quiet": 1}, "quiet=1"),
    ({"nonsense": 1, "ngf": 8}, None),
])
def test_saved_configs_are_type_checked(saved, message):
    if message is None:
        assert from_dict(saved).ngf == 8
        return
    with pytest.raises(TrainError, match=message):
        from_dict(saved)


@pytest.mark.parametrize("data, load, expected", [
    ("photos/", 300, 300),  # folder images are resized to --load-size, then cropped
    ("photos/", None, 36),  # the default load size for 32 px crops: 32 * 286 / 256
    ("builtin:seasons", 300, 32),  # the landscapes are rendered at --image-size
])
def test_working_scale_is_the_frames_short_side(data, load, expected):
    cfg = TrainConfig(data=data, image_size=32, load_size=load).resolved()
    assert cfg.work_size == expected
    assert cfg.model_config().work_size == expected


@pytest.mark.parametrize("flags, named", [
    (["--lambda-struct", "1"], "--lambda-struct"),
    (["--discriminator", "projected"], "--discriminator projected"),
    (["--discriminator", "both"], "--discriminator both"),
    (["--arch", "resnet-prior"], "--arch resnet-prior"),
    (["--arch", "resnet-prior", "--lambda-struct", "1"], "--lambda-struct and --arch resnet-prior"),
])
def test_what_runs_the_backbone_is_refused_without_it_before_any_work(flags, named,
                                                                      monkeypatch):
    from cyclegan import backbone

    monkeypatch.setattr(backbone, "available", lambda: False)
    values = vars(build_parser().parse_args(flags))
    values.pop("resume")
    with pytest.raises(TrainError, match=rf"^{named} runs .*cyclegan\[efficientnet\]"):
        TrainConfig(**values).resolved()


def test_the_default_recipe_needs_no_backbone(monkeypatch):
    from cyclegan import backbone

    monkeypatch.setattr(backbone, "available", lambda: False)
    assert TrainConfig().resolved().backbone_options == ()
