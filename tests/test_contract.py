"""cyclegan.contract: the facts export and inference share, each written once."""

import re
from pathlib import Path

import pytest

import cyclegan
from cyclegan import contract

from conftest import FIXTURE_0_1_0

PACKAGE = Path(cyclegan.__file__).resolve().parent


def test_size_rule():
    rule = contract.Geometry()
    assert rule.error(8, 12) is None and rule.error(256, 320) is None
    for h, w in ((4, 8), (8, 10), (9, 12), (0, 8)):
        err = rule.error(h, w)
        assert err and f"{h} x {w}" in err and "multiples of 4" in err and "at least 8" in err
    assert all(rule.error(rule.padded(n), 8) is None for n in range(1, 40))
    other = contract.Geometry(multiple=16, min_size=32)
    assert [other.padded(n) for n in (1, 32, 33, 48, 49)] == [32, 32, 48, 48, 64]
    assert "multiples of 16 and at least 32" in other.error(48, 40)


def test_geometry_metadata_round_trip_and_fallback():
    g = contract.Geometry(multiple=8, min_size=24)
    assert contract.Geometry.from_metadata(g.to_metadata()) == g
    # Files that record no size rule get the constants (the ResNet generator's).
    assert contract.Geometry.from_metadata({}) == contract.Geometry(contract.SIZE_MULTIPLE,
                                                                    contract.MIN_SIZE)
    for bad in ({"size_multiple": "four"}, {"min_size": "0"}):
        with pytest.raises(ValueError, match="metadata"):
            contract.Geometry.from_metadata(bad)


def test_directions():
    assert contract.DIRECTIONS == ("A2B", "B2A")
    assert contract.direction_error("A2B") is None
    assert "A2B, B2A" in contract.direction_error("both")


def test_directions_defined_once():
    """No other module spells the two directions out (e.g. `("A2B", "B2A")` or as choices)."""
    literal = re.compile(r"""[(\[]\s*["']A2B["']\s*,\s*["']B2A["']\s*[)\]]""")
    hits = [f"{p.relative_to(PACKAGE)}:{text.count(chr(10), 0, m.start()) + 1}"
            for p in sorted(PACKAGE.rglob("*.py")) for text in [p.read_text()]
            for m in literal.finditer(text)]
    source = (PACKAGE / "contract.py").read_text().splitlines()
    owner = next(i for i, line in enumerate(source, 1) if line.startswith("DIRECTIONS = "))
    assert hits == [f"contract.py:{owner}"], hits


def test_read_metadata_of_a_0_1_0_file():
    meta = contract.read_metadata(FIXTURE_0_1_0)
    assert meta["format"] == contract.FORMAT and meta["normalization"] == contract.NORMALIZATION
    assert meta["size_multiple"] == str(contract.SIZE_MULTIPLE)
    assert meta["min_size"] == str(contract.MIN_SIZE)
    assert contract.read_metadata(FIXTURE_0_1_0.read_bytes()) == meta


def test_working_scale_read_back_with_a_documented_fallback():
    assert contract.work_size_of({"work_size": "300"}) == 300
    # Files that predate it (0.1.0 exports, converted official weights) get the default.
    assert contract.work_size_of(contract.read_metadata(FIXTURE_0_1_0)) == 256
    assert contract.DEFAULT_WORK_SIZE == 256
    for bad in ("big", "0", "-5"):
        with pytest.raises(ValueError, match="metadata work_size"):
            contract.work_size_of({"work_size": bad})
