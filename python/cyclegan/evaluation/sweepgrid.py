"""`cyclegan-sweep`'s configurations: --grid and --config read into the runs they name.

Each value is checked against cyclegan-train's options (TrainConfig) and spelled one
canonical way, so a configuration has one run-folder name however it was written, and the
training flags passed after `--` are checked against what the sweep sets or varies itself.
sweep.py trains and evaluates the configurations read here; SweepError, the one error
of both, is defined here, below sweep.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass

from cyclegan.errors import CycleganError

RESERVED = ("data", "out", "resume")


class SweepError(CycleganError):
    """A problem with the user's input or a failed training, reported without a traceback."""


def _train_fields() -> dict:
    from cyclegan.train.config import TrainConfig

    return {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _normalise(key: str, value: str, default) -> str:
    """One canonical spelling per value, so "10", "10.0" and "1e1" name the same run."""
    value = value.strip()
    if not value:
        raise SweepError(f"empty value for {key}")
    if isinstance(default, bool):
        low = value.lower()
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise SweepError(f"{key} is a switch: use true or false, got {value!r}")
        return "true" if low in ("true", "1", "yes") else "false"
    if isinstance(default, (int, float)) or default is None:
        try:
            number = float(value)
        except ValueError:
            if default is None:
                return value
            raise SweepError(f"{key} needs a number, got {value!r}") from None
        if isinstance(default, int) and not number.is_integer():
            raise SweepError(f"{key} needs a whole number, got {value!r}")
        return str(int(number)) if number.is_integer() else repr(number)
    return value


@dataclass
class Config:
    params: dict  # train field name -> canonical value string, in the user's order

    @property
    def name(self) -> str:
        return "_".join(f"{k}-{re.sub(r'[^A-Za-z0-9.+-]', '', v)}"
                        for k, v in self.params.items())

    def label(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.params.items()]

    def flags(self) -> list[str]:
        out = []
        for key, value in self.params.items():
            if key == "fused":
                out += [] if value == "true" else ["--no-fused"]
            elif value in ("true", "false") and isinstance(_train_fields().get(key), bool):
                out += [f"--{key.replace('_', '-')}"] if value == "true" else []
            else:
                out += [f"--{key.replace('_', '-')}", value]
        return out


def _key(raw: str, fields: dict) -> str:
    key = raw.strip().replace("-", "_")
    if key in RESERVED:
        raise SweepError(f"{raw} cannot be swept: the sweep sets --data/--out/--resume itself")
    if key not in fields:
        raise SweepError(f"unknown training option {raw!r}; options: "
                         + ", ".join(k for k in fields if k not in RESERVED))
    return key


def _setting(text: str, fields, seen, where: str, form: str, given: str) -> tuple[str, str]:
    """(field name, value text) of one KEY=VALUE in `where` (a flag, and its argument for
    --config); SweepError if it has no "=", or names a key already in `seen`."""
    if "=" not in text:
        raise SweepError(f"{where.split()[0]} expects {form}, got {given!r}")
    raw, value = text.split("=", 1)
    key = _key(raw, fields)
    if key in seen:
        raise SweepError(f"{where} names {key} twice")
    return key, value


def parse_grid(tokens: list[str]) -> list[Config]:
    """["lambda_cyc=10,5", "d_ratio=2,1"] -> the 4 combinations, first key varying slowest."""
    fields = _train_fields()
    axes: dict[str, list[str]] = {}
    for token in tokens:
        key, values = _setting(token, fields, axes, "--grid", "KEY=V1,V2,...", token)
        vals = [_normalise(key, v, fields[key]) for v in values.split(",")]
        axes[key] = list(dict.fromkeys(vals))
    if not axes:
        raise SweepError("--grid needs at least one KEY=V1,V2,...")
    return _unique([Config(dict(zip(axes, combo))) for combo in itertools.product(*axes.values())])


def parse_configs(specs: list[str]) -> list[Config]:
    """["lambda_cyc=10,d_ratio=2", ...] -> one Config each."""
    fields = _train_fields()
    configs = []
    for spec in specs:
        params = {}
        for item in spec.split(","):
            key, value = _setting(item, fields, params, f"--config {spec!r}",
                                  "KEY=VALUE,KEY=VALUE", spec)
            params[key] = _normalise(key, value, fields[key])
        configs.append(Config(params))
    if not configs:
        raise SweepError("give --grid or at least one --config")
    return _unique(configs)


def _unique(configs: list[Config]) -> list[Config]:
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SweepError(f"configurations repeat: {', '.join(dupes)}")
    return configs


def _flag_value(args: list[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def check_train_args(train_args: list[str], configs: list[Config]) -> int | None:
    """Reject pass-through flags the sweep owns or varies; returns --steps if given."""
    swept = {f"--{k.replace('_', '-')}" for c in configs for k in c.params}
    swept |= {"--no-fused"} if any("fused" in c.params for c in configs) else set()
    for a in train_args:
        flag = a.split("=", 1)[0]
        if flag in ("--data", "--out", "--resume"):
            raise SweepError(f"{flag} cannot be passed to training: the sweep sets it")
        if flag in swept:
            raise SweepError(f"{flag} is swept by --grid/--config and cannot also be passed "
                             "after --")
    steps = _flag_value(train_args, "--steps")
    try:
        return None if steps is None else int(steps)
    except ValueError:
        raise SweepError(f"--steps needs a whole number, got {steps!r}") from None
