import os
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "summer2winter_mini"

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
needs_real_data = pytest.mark.skipif(
    not REAL_DATA.is_dir(), reason=f"real photos not found at {REAL_DATA}"
)


def wait_until(ready, proc, what: str, timeout: float = 120) -> None:
    """Poll until ready() while subprocess proc runs; fail (killing it) if it ends first or
    `what` has not happened within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            pytest.fail(f"ended before {what}: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{what} did not happen within {timeout} s")


def pytest_report_header(config):
    import cyclegan

    return f"cyclegan {cyclegan.__version__} imported from {Path(cyclegan.__file__).parent}"


def pytest_sessionstart(session):
    # CI sets this when testing the installed wheel: importing the source tree instead
    # would test files the wheel may not contain.
    if os.environ.get("CYCLEGAN_TEST_INSTALLED"):
        import cyclegan

        where = Path(cyclegan.__file__).resolve()
        if REPO in where.parents:
            raise pytest.UsageError(
                f"expected the installed cyclegan, got the source tree: {where}"
            )


@pytest.fixture
def real_data():
    if not REAL_DATA.is_dir():
        pytest.skip(f"real photos not found at {REAL_DATA}")
    return REAL_DATA
