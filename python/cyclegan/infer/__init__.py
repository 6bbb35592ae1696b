"""cyclegan-infer's engine: translate a folder of images with an ONNX generator (torch-free).

    controller.py  a run, for either engine: plan (paths, URIs), lock, skips, signals,
                   summary, failures file
    inprocess.py   the default engine: the pipeline in this process
    pipeline.py  decode pool -> batches -> onnxruntime -> encode pool
    io.py        model input/output conversion and output names
    runtime.py   the onnxruntime session and its providers
    bundled.py   the generators and sample images shipped in the package
    ray_engine.py, ray_worker.py   --engine ray: the same per-image path on Ray actors
    storage.py   local paths and URIs (s3://, gs://, file://), written atomically

Torch is imported only when a checkpoint (not an .onnx file) is given as the model.
"""

from cyclegan.infer.config import InferConfig
from cyclegan.infer.controller import Summary
from cyclegan.infer.inprocess import run

__all__ = ["InferConfig", "Summary", "run"]
