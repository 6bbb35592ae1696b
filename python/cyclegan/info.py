"""``python -m cyclegan.info``: what this build of cyclegan contains and what it can use now."""

from __future__ import annotations

import platform
import sys


def _probe(fn, fallback="unavailable"):
    # Each probe is independent: a missing driver or library must not hide the rest.
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - report any failure as text
        return f"{fallback} ({type(exc).__name__}: {exc})"


def collect() -> dict[str, object]:
    """Build and runtime facts as a flat dict (also used by benchmarks to name the machine)."""
    import cyclegan

    info: dict[str, object] = {"cyclegan": cyclegan.__version__, "python": sys.version.split()[0]}
    info["platform"] = f"{platform.system()} {platform.machine()}"
    try:
        from cyclegan import _C
    except ImportError as exc:
        info["compiled module"] = f"missing ({exc}); reinstall the package"
        return info
    build = _C.build_info()
    info["compiler"] = build["compiler"]
    info["cpu kernels"] = (
        f"{build['cpu_isa']} (compiled: {build['cpu_isas']}), {build['cpu_threads']} threads"
    )
    if build["cuda"]:
        info["cuda kernels"] = f"compiled for {build['cuda_archs']} (nvcc {build['cuda_compiler']})"
        info["cuda runtime"] = _version(build["cuda_runtime"])
        info["cuda driver"] = _version(build["cuda_driver"]) if build["cuda_driver"] else "none"
    else:
        info["cuda kernels"] = "not compiled (CPU-only build)"
    info["torch"] = _probe(_torch_version)
    info["gpu usable now"] = _probe(lambda: _gpu_now(build), "no")
    info["onnxruntime"] = _probe(_ort, "not installed")
    return info


def _version(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}" if v else "unavailable"


def _torch_version() -> str:
    import torch

    return f"{torch.__version__} (intra-op threads {torch.get_num_threads()})"


def _gpu_now(build: dict) -> str:
    import torch

    if not torch.cuda.is_available():
        return "no (torch sees no CUDA device)"
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    if not build["cuda"]:
        return f"torch sees {names}, but these kernels are CPU-only: fused ops need fused=False"
    if build["cuda_devices"] == 0:
        return f"torch sees {names}, but the kernels' CUDA runtime found no device"
    return f"yes: {names}"


def _ort() -> str:
    import onnxruntime as ort

    return f"{ort.__version__}, providers {', '.join(ort.get_available_providers())}"


def main() -> int:
    info = collect()
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
