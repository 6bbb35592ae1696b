"""cyclegan-infer's engine: translate a folder of images with an ONNX generator (torch-free).

    plan.py      config, planning (outputs, skips, shards), run, summary
    pipeline.py  decode pool -> batches -> onnxruntime -> encode pool
    io.py        model input/output conversion and output names
    runtime.py   the onnxruntime session and its providers
    bundled.py   the generators and sample images shipped in the package
    ray_engine.py, ray_worker.py   --engine ray: the same per-image path on Ray actors
    storage.py, uri_plan.py        local paths and URIs (s3://, gs://, file://), atomically

Torch is imported only when a checkpoint (not an .onnx file) is given as the model.
"""

from cyclegan.infer.plan import InferConfig, Summary, run

__all__ = ["InferConfig", "Summary", "run"]
