"""The int8 quality gate: int8 output pixels against fp32's on photos held back from calibration.

Each held-back photo runs whole, at the calibration size and its own shape (not cut into
calibration windows): the gate judges what cyclegan-infer will run. The file is written only
if the median PSNR and the worst image clear GATE_MEDIAN_DB and GATE_WORST_DB.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from cyclegan.export.int8_calibration import Photo, model_geometry
from cyclegan.infer.io import Job, decode, from_model_output

GATE_MEDIAN_DB = 30.0
GATE_WORST_DB = 25.0
PSNR_CAP_DB = 99.0  # identical outputs: a finite number that prints and sorts


@dataclass
class GateResult:
    psnr_db: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.psnr_db)

    @property
    def worst(self) -> float:
        return min(self.psnr_db)

    @property
    def ok(self) -> bool:
        return self.median >= GATE_MEDIAN_DB and self.worst >= GATE_WORST_DB

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAIL"
        return (f"int8 vs fp32 on {len(self.psnr_db)} held-back photos: median PSNR "
                f"{self.median:.1f} dB (gate {GATE_MEDIAN_DB:g}), worst {self.worst:.1f} dB "
                f"(gate {GATE_WORST_DB:g}) {verdict}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * np.log10(255.0 ** 2 / mse))


def gate(fp32: bytes, int8: bytes, held: list[Photo], size: int) -> GateResult:
    """PSNR of int8 output pixels against fp32's, one number per held-back photo, each
    scaled so its shorter side is `size`."""
    from cyclegan.infer.runtime import OrtGenerator

    geometry = model_geometry(fp32)
    ref, low = OrtGenerator(fp32, device="cpu"), OrtGenerator(int8, device="cpu")
    scores = []
    for photo in held:
        p = decode(Job(photo.path, photo.path), size=size, geometry=geometry)
        x = p.x[None]
        want = from_model_output(ref(x)[0], p.height, p.width)
        got = from_model_output(low(x)[0], p.height, p.width)
        scores.append(psnr(want, got))
    return GateResult(scores)
