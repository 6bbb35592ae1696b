"""CYCLEGAN_REQUIRE (tests/conftest.py): skips for a required reason fail, others stay skips."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = '''
import pytest
def test_photos():
    pytest.skip("real photos not found at /nowhere")
def test_gpu():
    pytest.skip("no CUDA device")
'''


def _run(tmp_path: Path, require: str) -> subprocess.CompletedProcess:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_planted.py").write_text(TESTS)
    env = {**os.environ, "CYCLEGAN_REQUIRE": require}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=120)


def test_a_required_skip_fails_and_says_why(tmp_path):
    r = _run(tmp_path, "data")
    assert r.returncode == 1, r.stdout
    assert "1 failed, 1 skipped" in r.stdout
    assert "CYCLEGAN_REQUIRE has data: Skipped: real photos not found" in r.stdout


def test_without_the_variable_skips_stay_skips(tmp_path):
    r = _run(tmp_path, "")
    assert r.returncode == 0 and "2 skipped" in r.stdout, r.stdout


def test_an_unknown_requirement_is_a_usage_error(tmp_path):
    r = _run(tmp_path, "dat")
    assert r.returncode != 0 and "unknown ['dat']" in r.stdout + r.stderr
