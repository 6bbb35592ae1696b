"""Unpaired image-to-image translation (CycleGAN) with fused CPU/CUDA kernels."""

__version__ = "0.1.0"
