"""The quick preset's time is one figure (train/config.py), the same in --help and README."""

import subprocess
import sys
from pathlib import Path

from cyclegan.train.config import BUSY_MACHINE_NOTE, PRESETS, QUICK_TIME, TrainConfig

README = Path(__file__).resolve().parent.parent / "README.md"


def _words(text: str) -> str:
    return " ".join(text.split())


def test_help_and_readme_give_the_one_figure():
    # Issue 30: README said 10 minutes, --help 15. Red when either text is edited alone.
    r = subprocess.run([sys.executable, "-m", "cyclegan.train", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for text in (_words(r.stdout), _words(README.read_text())):
        assert QUICK_TIME in text and BUSY_MACHINE_NOTE.split(", ")[1] in text
    assert "minutes" in QUICK_TIME


def test_the_figure_is_for_1000_steps_on_the_builtin_seasons():
    """QUICK_TIME was measured per step over the run the preset makes on builtin:seasons:
    2 epochs of 1,000 frames per domain at its batch size (its steps cap does not bind)."""
    from cyclegan.data import make_dataset

    q = {**TrainConfig().__dict__, **PRESETS["quick"]}
    frames = len(make_dataset("builtin:seasons", "A", "train", q["image_size"],
                              q["load_size"], augment=True))
    steps = (q["epochs"] + q["decay_epochs"]) * frames // q["batch_size"]
    assert steps == 1000 and q["steps"] >= steps
