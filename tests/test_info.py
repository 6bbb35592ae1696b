import shutil
import subprocess
import sys
from pathlib import Path

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


def test_one_version_everywhere():
    # __version__ in cyclegan/__init__.py is the single source: the wheel metadata, the
    # compiled module, checkpoints, ONNX metadata and the --version flags all read it.
    from importlib.metadata import version

    from cyclegan.checkpoint import new_checkpoint
    from cyclegan.export.to_onnx import build_metadata
    from cyclegan.models import ModelConfig

    v = cyclegan.__version__
    assert version("cyclegan") == v
    ckpt = new_checkpoint(ModelConfig(ngf=8, n_blocks=2))
    assert ckpt["version"] == v
    meta = {"config": ckpt["model_config"], "version": v, "domains": ckpt["domains"]}
    assert build_metadata(meta, "A2B", "fp32")["package_version"] == v
    bindir = Path(sys.executable).parent
    for cmd in ("cyclegan-infer", "cyclegan-train", "cyclegan-export"):
        exe = shutil.which(cmd) or str(bindir / cmd)
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
        assert out.stdout.split() == [cmd, v]
