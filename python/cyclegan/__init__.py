"""Unpaired image-to-image translation (CycleGAN) with fused CPU/CUDA kernels.

`from cyclegan import Translator` translates pictures from Python (cyclegan.translator).
It is imported on first use, so `import cyclegan` stays light: no numpy, Pillow,
onnxruntime or torch until something needs them.
"""

from __future__ import annotations

# typing.TYPE_CHECKING without importing typing (20 ms); type checkers read it as True.
TYPE_CHECKING = False
__version__ = "0.1.0"
__all__ = ["Translator", "TranslateError", "__version__"]

if TYPE_CHECKING:
    from cyclegan.translator import TranslateError, Translator


def __getattr__(name: str):
    if name in ("Translator", "TranslateError"):
        from cyclegan import translator

        return getattr(translator, name)
    raise AttributeError(f"module 'cyclegan' has no attribute {name!r}")
