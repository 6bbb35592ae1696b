"""Each argument struct of csrc/*.h against its binding in csrc/bind_types.h.

The struct is declared in C++ and bound field by field by hand: a field added to a header
but not to the binding cannot be set from Python (the kernel reads its default), one
removed from the header breaks the build only. These tests read both files and compare.
"""

import re
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[1] / "csrc"
# Structs that are no Python class of their own, and why.
NOT_CLASSES = {"Strides": "View.strides converts it to and from a 4-tuple"}


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def header_fields(text: str) -> dict[str, list[str]]:
    """{struct: its data members, in order} for the `struct X { ... };` blocks of a header."""
    structs = {}
    for name, body in re.findall(r"^struct (\w+) \{\n(.*?)^\};", _strip_comments(text),
                                 re.M | re.S):
        # Member functions: their bodies become statement ends, their heads are skipped.
        while re.search(r"\{[^{}]*\}", body):
            body = re.sub(r"\{[^{}]*\}", ";", body)
        fields = []
        for statement in body.split(";"):
            statement = " ".join(statement.split())
            if not statement or "(" in statement or statement.startswith(("template", "using")):
                continue
            for declarator in statement.split(","):
                fields.append(re.findall(r"\w+", declarator.split("=")[0])[-1])
        structs[name] = fields
    return structs


def bound_fields(text: str) -> dict[str, list[str]]:
    """{struct: its bound attributes} from bind_types.h: `record<T>` / `py::class_<T>`
    blocks and their `.def_readwrite` / `.def_property` lines."""
    text = _strip_comments(text)
    aliases = dict(re.findall(r"using (\w+) = (\w+);", text))
    bound = {}
    starts = list(re.finditer(r"(?:record|py::class_)<(\w+)>\(", text))
    for start, end in zip(starts, [*starts[1:], None]):
        block = text[start.end():end.start() if end else len(text)]
        struct = aliases.get(start.group(1), start.group(1))
        for attr, owner, member in re.findall(
                r'\.def_readwrite\("(\w+)", &(\w+)::(\w+)\)', block):
            assert aliases.get(owner, owner) == struct and member == attr, (struct, attr)
            bound.setdefault(struct, []).append(attr)
        for attr in re.findall(r'\.def_property\(\s*"(\w+)"', block):
            bound.setdefault(struct, []).append(attr)
    return bound


def mismatches(headers: list[str], binding: str) -> dict[str, str]:
    """What differs between the structs of `headers` and their binding, by struct."""
    declared = {}
    for text in headers:
        declared.update(header_fields(text))
    bound = bound_fields(binding)
    problems = {}
    for struct, fields in declared.items():
        if struct in NOT_CLASSES:
            continue
        attrs = bound.get(struct)
        if attrs is None:
            problems[struct] = "not bound"
        elif sorted(attrs) != sorted(fields):
            problems[struct] = (f"declared but not bound: {sorted(set(fields) - set(attrs))}; "
                                f"bound but not declared: {sorted(set(attrs) - set(fields))}; "
                                f"bound twice: {sorted({a for a in attrs if attrs.count(a) > 1})}")
    for struct in set(bound) - set(declared):
        problems[struct] = "bound but declared in no csrc/*.h"
    return problems


def _sources():
    return [p.read_text() for p in sorted(CSRC.glob("*.h"))], (CSRC / "bind_types.h").read_text()


def test_every_struct_is_bound_field_for_field():
    headers, binding = _sources()
    found = {}
    for text in headers:
        found.update(header_fields(text))
    # The parser sees what it should (a parser that finds nothing would pass below).
    assert found["NormActPadFwd"] == ["dtype", "x", "skip", "y", "mean", "rstd", "shape",
                                      "act", "eps", "launch"]
    assert found["View"] == ["data", "strides"]
    assert {"ImageShape", "Launch", "NormActPadBwd", "NormAddPadBwd", "GuidedApply"} <= set(found)
    assert mismatches(headers, binding) == {}


def test_a_field_missing_from_the_binding_fails():
    headers, binding = _sources()
    line = '      .def_readwrite("eps", &Fwd::eps)\n'
    assert line in binding
    problems = mismatches(headers, binding.replace(line, ""))
    assert list(problems) == ["NormActPadFwd"] and "['eps']" in problems["NormActPadFwd"]


@pytest.mark.parametrize("planted", ["  int64_t tile = 0;\n", "  View extra, other;\n"])
def test_a_header_field_without_a_binding_fails(planted):
    headers, binding = _sources()
    headers = [t.replace("  int threads = 0;", planted + "  int threads = 0;") for t in headers]
    assert list(mismatches(headers, binding)) == ["GuidedApply"]


def test_a_struct_without_a_binding_fails():
    headers, binding = _sources()
    headers.append("struct FooFwd {\n  View x, y;\n  Launch launch;\n};\n")
    assert mismatches(headers, binding) == {"FooFwd": "not bound"}
