"""The scale the generator runs at (--work-size), and what running at a photo's own scale costs.

A generator learns objects at the scale of its training frames (its working scale, recorded
in the model file: contract.work_size_of). A photo larger than that is translated there: it
is resized so its short side is the working size (aspect kept; the size rule's padding comes
after), and the change the generator makes is carried back to the photo's own size by
cyclegan.infer.detail. A photo no larger runs at its own size, as does every photo with
--work-size native, which first checks that the generator's activations fit in memory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from cyclegan import hostmem
from cyclegan.errors import UsageError

NATIVE = "native"
# Bytes the generator run takes per input pixel, per channel of its first layer (ngf), plus
# the pipeline's own arrays per pixel (float input, batch, output, uint8 copies). Measured
# peak RSS with onnxruntime's CPU provider (docs/benchmarks.md, "Working scale"): 27-41
# bytes per pixel and ngf for fp32 and int8 files from 0.25 to 4 megapixels (the arena grows
# in steps), and a 12-megapixel photo through the whole pipeline at 1,706 bytes per pixel
# with ngf 32; the estimate is set near that worst case.
BYTES_PER_PIXEL_AND_CHANNEL = 48
PIPELINE_BYTES_PER_PIXEL = 128
DEFAULT_NGF = 64  # files that do not record their model config: the official width
ALWAYS_FITS = 2**29  # estimates below 512 MiB run without asking the system


def parse_work_size(text: str | int | None) -> int | str | None:
    """--work-size: a whole number of pixels (the short side), or native; None: the model's."""
    if text is None or text == NATIVE:
        return text
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"--work-size must be a number of pixels or {NATIVE}, got "
                         f"{text!r}") from None
    if value < 1:
        raise UsageError(f"--work-size must be >= 1 (or {NATIVE}), got {value}")
    return value


def work_dims(width: int, height: int, work_size: int | None) -> tuple[int, int] | None:
    """(width, height) the generator runs at for a photo of this size, short side
    `work_size` and aspect kept; None when it runs at the photo's own size (work_size None
    means native, and a photo no larger than the working scale is not enlarged)."""
    short = min(width, height)
    if work_size is None or short <= work_size:
        return None
    s = work_size / short
    return max(1, round(width * s)), max(1, round(height * s))


def estimate_bytes(height: int, width: int, ngf: int) -> int:
    """Memory the generator of width `ngf` needs for one H x W (padded) input."""
    return height * width * (BYTES_PER_PIXEL_AND_CHANNEL * ngf + PIPELINE_BYTES_PER_PIXEL)


def smi_free_bytes(device: str) -> int | None:
    """Memory a model run may take now, read without torch: free GPU memory with CUDA (from
    nvidia-smi), else the kernel's MemAvailable; None when it cannot be found out (then
    nothing is refused)."""
    if device == "cuda":
        return _free_gpu_bytes()
    return hostmem.host_available_bytes()


def _free_gpu_bytes() -> int | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip() or "0"
    try:
        out = subprocess.run([smi, "--query-gpu=memory.free", "--format=csv,noheader,nounits",
                              "-i", visible], capture_output=True, text=True, timeout=10)
        return int(out.stdout.split()[0]) * 1024 * 1024 if out.returncode == 0 else None
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def model_width(meta: dict[str, str]) -> int:
    """The generator's first-layer width (ngf) from a file's model_config metadata."""
    try:
        ngf = json.loads(meta.get("model_config") or "{}").get("ngf", DEFAULT_NGF)
    except (ValueError, AttributeError):
        return DEFAULT_NGF
    return ngf if isinstance(ngf, int) and ngf > 0 else DEFAULT_NGF


def memory_problem(height: int, width: int, ngf: int, device: str) -> str | None:
    """The one-line reason a run at this (padded) size would not fit in what the machine
    has now, or None when it would (or when small enough not to ask)."""
    need = estimate_bytes(height, width, ngf)
    if need < ALWAYS_FITS:
        return None
    available = smi_free_bytes(device)
    if available is None or need <= available:
        return None
    where = "GPU memory" if device == "cuda" else "memory"
    return (f"running the generator at {width} x {height} needs about {_amount(need)} of "
            f"{where}, more than the {_amount(available)} available; translate at the model's "
            f"working scale (no --work-size {NATIVE}) or a smaller --work-size N")


def _amount(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"
