"""cyclegan.flags: every command's parser takes its defaults from its config's fields, and
bounds and choices give the same one-line errors from Python as from the command line."""

import argparse
import dataclasses
import inspect
import subprocess
import sys
from dataclasses import dataclass

import pytest

from cyclegan import flags
from cyclegan.cli import convert as convert_cli
from cyclegan.cli import eval as eval_cli
from cyclegan.cli import export as export_cli
from cyclegan.cli import infer as infer_cli
from cyclegan.cli import sweep as sweep_cli
from cyclegan.cli import train as train_cli
from cyclegan.errors import UsageError
from cyclegan.evaluation.config import EvalConfig
from cyclegan.evaluation.sweepconfig import SweepConfig
from cyclegan.export.config import ConvertConfig, ExportConfig
from cyclegan.infer.config import EngineConfig, InferConfig
from cyclegan.train.config import TrainConfig

COMMANDS = {
    "cyclegan-train": (train_cli.build_parser, (TrainConfig,)),
    "cyclegan-infer": (infer_cli.build_parser, (InferConfig, EngineConfig)),
    "cyclegan-eval": (eval_cli.build_parser, (EvalConfig,)),
    "cyclegan-sweep": (sweep_cli.build_parser, (SweepConfig,)),
    "cyclegan-export": (export_cli.build_parser, (ExportConfig,)),
    "cyclegan-convert": (convert_cli.build_parser, (ConvertConfig,)),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_parser_default_is_its_fields(command):
    build, configs = COMMANDS[command]
    parser = build()
    assert flags.restated_defaults(parser, *configs) == []
    dests = {a.dest for a in parser._actions}
    for cls in configs:
        for f in flags.flag_fields(cls):
            assert f.name in dests, f"{command}: field {f.name} has no flag"
            if f.default is not dataclasses.MISSING and "parse" not in f.metadata:
                assert parser.get_default(f.name) == f.default


@pytest.mark.parametrize("command", COMMANDS)
def test_help_does_not_import_torch(command):
    module = command.removeprefix("cyclegan-")
    code = (f"import sys\nfrom cyclegan.cli.{module} import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_a_restated_default_is_found():
    parser = eval_cli.build_parser()
    parser.set_defaults(max_images=99)  # planted: a second default, written in the parser
    assert flags.restated_defaults(parser, EvalConfig) == [
        "max_images: parser default 99, field 100"]
    hand = eval_cli.build_parser()
    hand.add_argument("--tiles", type=int, default=4)  # planted: a flag that is no field
    assert flags.restated_defaults(hand, EvalConfig) == ["tiles: hand-written default 4"]


def _lower_layers():
    """(function, parameter, config field) for the keyword defaults below the commands:
    each is taken from the config, never restated."""
    from cyclegan import images
    from cyclegan.evaluation import evaldata, evaluate, judge, sweep
    from cyclegan.infer import pipeline, runtime

    pairs = [(images.write_image, "quality", InferConfig, "quality"),
             (pipeline.PipelineOptions, "quality", InferConfig, "quality"),
             (runtime.load_model, "device", InferConfig, "device"),
             (runtime.load_model, "precision", InferConfig, "precision"),
             (runtime.OrtGenerator, "device", InferConfig, "device"),
             (judge.FeatureExtractor, "input_range", EvalConfig, "inception_input"),
             (judge.FeatureExtractor, "size", EvalConfig, "inception_size"),
             (evaluate.translate, "batch_size", EvalConfig, "batch_size"),
             (evaluate.evaluate_generator, "batch_size", EvalConfig, "batch_size"),
             (evaluate.translate, "detail", EvalConfig, "detail"),
             (evaluate.evaluate_generator, "detail", EvalConfig, "detail"),
             (pipeline.PipelineOptions, "detail", InferConfig, "detail")]
    prepare = inspect.signature(evaldata.prepare).parameters
    pairs += [(evaldata.prepare, name, EvalConfig, name) for name in
              EvalConfig(model="m").keywords() if name in prepare and name != "image_size"]
    pairs += [(sweep.run_sweep, name, SweepConfig, name) for name in
              ("test_images", "eval_images", "classifier_steps", "inception", "device", "quiet")]
    pairs += [(sweep.run_sweep, "probes", SweepConfig, "probe")]
    return pairs


@pytest.mark.parametrize("fn, param, cls, name", _lower_layers(),
                         ids=lambda v: getattr(v, "__qualname__", str(v)))
def test_lower_layers_take_the_configs_defaults(fn, param, cls, name):
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    assert inspect.signature(fn).parameters[param].default == field.default


def test_evaluate_takes_every_eval_flag_by_name():
    from cyclegan.evaluation import evaldata, evaluate

    # batch_size and detail are how evaluate() runs the generator, not what prepare loads.
    taken = set(inspect.signature(evaldata.prepare).parameters) | {"batch_size", "detail"}
    assert set(EvalConfig(model="m").keywords()) <= taken
    assert list(inspect.signature(evaluate.evaluate).parameters)[-1] == "options"


@dataclass
class Toy:
    n: int = flags.option(3, "n", ((">", 0), ("<", 10)))
    x: float = flags.option(0.5, "x", ((">=", 0), ("<=", 1)), group="numbers")
    kind: str = flags.option("a", lambda: "kind", choices=lambda: ("a", "b"))
    pair: tuple = flags.option((1, 2), "pair", parse=lambda t: tuple(map(int, str(t).split("/")))
                               if not isinstance(t, tuple) else t, text="1/2")
    on: bool = flags.option(True, "switch", flag="--off")
    maybe: int | None = flags.option(None, "unset passes", ((">=", 1),), type=int)


@pytest.mark.parametrize("field, bad, message", [
    ("n", 0, "--n must be > 0, got 0"), ("n", 10, "--n must be < 10, got 10"),
    ("x", -0.1, "--x must be >= 0, got -0.1"), ("x", 1.5, "--x must be <= 1, got 1.5"),
    ("kind", "c", "--kind must be one of a, b, got 'c'"),
])
def test_check_names_the_flag_and_the_bound(field, bad, message):
    with pytest.raises(UsageError, match=f"^{message}$"):
        flags.check(Toy(**{field: bad}), UsageError)


def test_check_parses_and_passes_unset_values():
    assert flags.check(Toy(pair="3/4"), UsageError).pair == (3, 4)
    assert flags.check(Toy(), UsageError) == Toy()


def test_parser_from_fields():
    p = argparse.ArgumentParser()
    flags.add_flags(p, Toy, sections={"numbers": "the numbers"})
    assert flags.restated_defaults(p, Toy) == []
    args = p.parse_args(["--n", "4", "--off", "--pair", "5/6"])
    cfg = flags.check(Toy(**flags.values(args, Toy)), UsageError)
    assert (cfg.n, cfg.on, cfg.pair, cfg.x) == (4, False, (5, 6), 0.5)
    assert "the numbers" in p.format_help() and "--off" in p.format_help()
    assert flags.explicit(lambda: _toy_parser(), ["--n", "3"]) == {"n": 3}


def _toy_parser():
    p = argparse.ArgumentParser()
    flags.add_flags(p, Toy)
    return p
