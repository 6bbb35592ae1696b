import subprocess
import sys

import cyclegan
from cyclegan import _C, info


def test_info_runs_and_reports_the_build():
    out = subprocess.run(
        [sys.executable, "-m", "cyclegan.info"], capture_output=True, text=True, check=True
    ).stdout
    assert cyclegan.__version__ in out
    assert _C.build_info()["cpu_isa"] in out
    assert "gpu usable now" in out
    assert ("compiled for" in out) == bool(_C.has_cuda)


def test_build_info_agrees_with_package():
    build = _C.build_info()
    assert build["version"] == cyclegan.__version__
    assert build["cpu_isa"] in build["cpu_isas"].split(",")
    assert isinstance(build["cuda_devices"], int) and build["cuda_devices"] >= 0
    assert info.collect()["cyclegan"] == cyclegan.__version__
