"""Memory the host can still give this process: the one reading behind every check that
refuses work before it starts (training's budget, evaluation's test images, inference at a
photo's native size). Torch-free."""

from __future__ import annotations

import os


def host_available_bytes() -> int | None:
    """Linux's MemAvailable (what can be allocated without swapping), else the free physical
    pages; None when neither can be read (callers then refuse nothing)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
