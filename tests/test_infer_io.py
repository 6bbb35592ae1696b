"""cyclegan.infer.io: model input/output conversion and output names; the format table."""

from pathlib import Path

import numpy as np
import pytest

from cyclegan import images
from cyclegan.cli.infer import build_parser
from cyclegan.contract import Geometry
from cyclegan.errors import UsageError
from cyclegan.infer import config, controller, io

RNG = np.random.default_rng(0)


def _format_action():
    return next(a for a in build_parser()._actions if a.dest == "format")


def test_padding_round_trip():
    assert [Geometry().padded(n) for n in (1, 7, 8, 9, 12, 13)] == [8, 8, 8, 12, 12, 16]
    rgb = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = io.to_model_input(rgb)
    assert x.shape == (3, 8, 8) and x.dtype == np.float32 and -1 <= x.min() <= x.max() <= 1
    assert np.array_equal(io.from_model_output(x, 5, 7), rgb)
    assert io.target_size(100, 50, None, 200) == (100, 50)
    assert io.target_size(100, 50, 25, None) == (50, 25)


def test_shard_parsing():
    assert config.parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "-1/2", "a/b", "1"):
        with pytest.raises(UsageError):
            config.parse_shard(bad)


def test_output_names():
    root = Path("/o")
    assert io.output_path(Path("x/a.JPG"), Path("a.JPG"), root, "keep") == root / "a.JPG"
    assert io.output_path(Path("a.gif"), Path("a.gif"), root, "keep") == root / "a.png"
    assert io.output_path(Path("a.b.png"), Path("a.b.png"), root, "jpg") == root / "a.b.jpg"
    assert io.output_path(Path("a.png"), Path("a.png"), root, "tiff") == root / "a.tif"


def test_format_choices_extensions_and_writer_come_from_one_table(monkeypatch, tmp_path):
    assert tuple(_format_action().choices) == ("keep", *images.FORMATS)
    assert io.format_choices() == ("keep", *images.FORMATS)
    help_text = _format_action().help
    assert all(name in help_text for name in images.FORMATS)
    # One new entry: a --format choice, an output extension and a writer, nothing else.
    monkeypatch.setitem(images.FORMATS, "pcx",
                        images.OutputFormat((".pcx",), "PCX", alpha=False))
    assert "pcx" in _format_action().choices and "pcx" in _format_action().help
    assert io.output_path(Path("a.png"), Path("a.png"), tmp_path, "pcx") == tmp_path / "a.pcx"
    assert io.output_path(Path("a.pcx"), Path("a.pcx"), tmp_path, "keep") == tmp_path / "a.pcx"
    assert images.write_image(np.zeros((4, 4, 3), np.uint8), None, tmp_path / "a.pcx")
    cfg = controller.with_defaults(config.InferConfig(format="pcx", model=tmp_path / "m.onnx"))
    assert cfg.format == "pcx"
    with pytest.raises(UsageError, match="--format must be one of keep, png"):
        controller.with_defaults(config.InferConfig(format="gif", model=tmp_path / "m.onnx"))
