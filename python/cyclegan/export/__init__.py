"""Model files: a checkpoint into ONNX, int8 variants, official weights into ours.

    to_onnx.py     ONNX export of generators, verified against torch with onnxruntime
    quantize.py    int8 variants calibrated on the user's photos, the PSNR gate (torch-free)
    int8_graph.py  graph rewrites that make a generator quantize well (torch-free)
    convert.py     the official CycleGAN weights into our checkpoint format

Importing the package imports nothing heavy: `cyclegan-export --help` stays torch-free.
"""
