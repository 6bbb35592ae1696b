"""docs/architecture.md's "Who owns what" table against the modules under python/cyclegan/.

A row names top-level modules in its first cell (`checkpoint.py`) and a package as `pkg/`,
whose modules it names in its text (`plan.py`). A module the table misses, or a name in it
that no longer exists, turns these tests red.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "cyclegan"
MAP = ROOT / "docs" / "architecture.md"


def table_rows(text: str) -> list[tuple[str, str]]:
    """(first cell, whole row) of each row of the "Who owns what" table."""
    section = text.split("## Who owns what", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [(row.split("|")[1], row) for row in rows]


def modules(package: Path = PACKAGE) -> set[str]:
    """Every module, as its path under python/cyclegan/ (packages' __init__.py aside)."""
    return {p.relative_to(package).as_posix() for p in package.rglob("*.py")
            if p.name != "__init__.py" and "__pycache__" not in p.parts}


def missing_and_stale(text: str, existing: set[str]) -> tuple[set[str], set[str]]:
    """(modules the table does not name, names in it that are no module)."""
    named, stale = set(), set()
    for first, row in table_rows(text):
        packages = re.findall(r"`(\w+)/`", first)
        for name in re.findall(r"`([\w/]+\.py)`", row):
            if "/" in name or not packages:
                candidates = [name]
            else:
                candidates = [f"{pkg}/{name}" for pkg in packages]
            found = [c for c in candidates if c in existing]
            named.update(found)
            if not found:
                stale.add(name)
    return existing - named, stale


def test_every_module_is_on_the_map_and_every_name_on_it_exists():
    missing, stale = missing_and_stale(MAP.read_text(), modules())
    assert not missing, f"add to docs/architecture.md's table: {sorted(missing)}"
    assert not stale, f"docs/architecture.md's table names modules that do not exist: {stale}"


def test_the_reader_sees_packages_and_top_level_modules():
    text = MAP.read_text()
    existing = modules()
    assert {"checkpoint.py", "infer/controller.py", "train/loop.py",
            "export/to_onnx.py"} <= existing
    _, stale = missing_and_stale(text, existing)
    assert not stale
    # A module added without a row, and a row left behind by a removed module.
    missing, _ = missing_and_stale(text, existing | {"infer/new_engine.py", "newmodule.py"})
    assert missing == {"infer/new_engine.py", "newmodule.py"}
    _, stale = missing_and_stale(text, existing - {"infer/guided.py", "hostmem.py"})
    assert stale == {"guided.py", "hostmem.py"}
