"""Command-line flags declared once, as the fields of a config dataclass.

A command's config (TrainConfig, InferConfig, EvalConfig, ...) declares each flag as a
field: `option(default, help, bounds, group=..., choices=..., parse=...)`. From those fields
`add_flags` builds the command's argparse parser and `check` enforces the bounds and
choices, so a Python caller constructing the config gets the same one-line errors as the
command line. A default is written in the field and nowhere else: the parser takes it from
there, and `restated_defaults` finds any flag whose parser default differs from its field's.

Help texts and choices that depend on a table elsewhere (output formats, bundled models,
pool sizes) may be callables, read when the parser is built or a value is checked. Torch-free,
so every command's --help starts at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import operator
from collections.abc import Callable

# The comparisons a bound may use: (operator, limit) pairs such as (">=", 1).
BOUNDS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
POSITIVE = ((">", 0),)
NON_NEGATIVE = ((">=", 0),)
# The default of a flag the user must give (--out of cyclegan-sweep): the field has none.
REQUIRED = dataclasses.MISSING
# Metadata keys handed to argparse as they are (choices is resolved first).
_ARGPARSE_KEYS = ("type", "metavar", "nargs", "action")


def option(default, help, bounds: tuple = (), *, group: str | None = None, **meta):
    """A config field that is a command-line flag.

    default: REQUIRED for a flag the user must give. help: the flag's help (or a callable
    giving it). bounds: (operator, limit) pairs the
    value must satisfy (None, "not set", always passes). group: the --help section it is
    listed in. meta may hold: choices (a sequence or a callable giving one); type (what
    argparse converts the text with; default: the default's type); parse (turns the flag's
    text, or a Python caller's value, into the field's value; errors become the config's
    one-line error); text (the default as the flag shows it, for a parsed flag); metavar;
    flag (the flag's name when it is not --field-name, e.g. --no-fused for `fused`); nargs
    and action (a list flag: nargs="+", action="extend", with the default None).
    """
    metadata = {"help": help, "bounds": bounds, "group": group, **meta}
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def positional(help, *, required: bool = False, **meta):
    """A positional argument: optional (nargs '?', default None) unless required, which
    makes the field a required argument of the config too."""
    metadata = {"help": help, "bounds": (), "positional": True, "required": required, **meta}
    if required:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=None, metadata=metadata)


def resolve(value):
    """A metadata entry that may be a callable (read now) or a plain value."""
    return value() if callable(value) else value


def flag_fields(cls) -> list[dataclasses.Field]:
    """The fields of a config class that are flags (others are set by code, not users)."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def flag(cls, name: str) -> str:
    """The command-line flag of field `name` of config class `cls`."""
    for f in dataclasses.fields(cls):
        if f.name == name and "flag" in f.metadata:
            return f.metadata["flag"]
    return "--" + name.replace("_", "-")


def check(cfg, error: type[Exception]):
    """A copy of `cfg` with parsed flags parsed, bounds and choices checked: `error` (a
    CycleganError subclass) naming the flag for the first bad value."""
    c = dataclasses.replace(cfg)
    for f in flag_fields(type(c)):
        value = getattr(c, f.name)
        if value is None:
            continue
        if "parse" in f.metadata:
            value = f.metadata["parse"](value)
            setattr(c, f.name, value)
        name = flag(type(c), f.name)
        choices = resolve(f.metadata.get("choices"))
        if choices and value not in choices:
            raise error(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        for op, limit in f.metadata["bounds"]:
            if not BOUNDS[op](value, limit):
                raise error(f"{name} must be {op} {limit}, got {value}")
    return c


def add_flags(parser: argparse.ArgumentParser, cls, *, sections: dict[str, str] | None = None,
              before: dict[str, Callable] | None = None) -> None:
    """Add the flags of config class `cls` to `parser`, in field order.

    sections: a description for a group's --help section. before: field name -> a function
    called with the section (group or parser) that field goes to, just before it is added,
    for a flag that is the command's own (e.g. --list-models) rather than a field.
    """
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in flag_fields(cls):
        meta = f.metadata
        where = parser
        if meta.get("group"):
            where = groups.get(meta["group"]) or groups.setdefault(
                meta["group"], parser.add_argument_group(meta["group"],
                                                         (sections or {}).get(meta["group"])))
        if f.name in (before or {}):
            before[f.name](where)
        kwargs = {k: meta[k] for k in _ARGPARSE_KEYS if k in meta}
        if "choices" in meta:
            kwargs["choices"] = resolve(meta["choices"])
        help = resolve(meta["help"])
        if meta.get("positional"):
            where.add_argument(f.name, help=help, **kwargs,
                               **({} if meta["required"] else {"nargs": "?"}))
        elif isinstance(f.default, bool):
            # A switch flips the field from its default: --quiet sets True, --no-fused False.
            where.add_argument(flag(cls, f.name), dest=f.name, help=help,
                               action="store_false" if f.default else "store_true")
        elif f.default is REQUIRED:
            where.add_argument(flag(cls, f.name), dest=f.name, required=True, help=help,
                               **kwargs)
        else:
            default = meta.get("text", f.default)
            kwargs.setdefault("type", type(default))
            where.add_argument(flag(cls, f.name), dest=f.name, default=default, help=help,
                               **kwargs)


def values(args: argparse.Namespace, cls) -> dict:
    """The fields of config class `cls` from parsed arguments."""
    return {f.name: getattr(args, f.name) for f in flag_fields(cls)}


def explicit(build: Callable[[], argparse.ArgumentParser], argv: list[str] | None) -> dict:
    """The flags the user wrote (even when equal to a default), by destination; `build`
    makes the command's parser (a fresh one: its defaults are suppressed here)."""
    parser = build()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return vars(parser.parse_args(argv))


def restated_defaults(parser: argparse.ArgumentParser, *classes) -> list[str]:
    """Flags of `parser` whose default is written somewhere other than a config field:
    a flag of a field whose parser default differs from the field's, or a hand-written
    flag with a default other than nothing (None / False). Empty when defaults are
    written once."""
    fields = {f.name: f for cls in classes for f in flag_fields(cls)}
    found = []
    for action in parser._actions:
        if action.dest in (argparse.SUPPRESS, "help", "version"):
            continue
        default = parser.get_default(action.dest)
        f = fields.get(action.dest)
        if f is None:
            if default not in (None, False):
                found.append(f"{action.dest}: hand-written default {default!r}")
            continue
        if f.default is REQUIRED:
            continue  # a required argument has no default to restate
        if "parse" in f.metadata and default is not None:
            default = f.metadata["parse"](default)
        if default != f.default:
            found.append(f"{action.dest}: parser default {default!r}, field {f.default!r}")
    return found
