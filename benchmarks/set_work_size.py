"""Record the working scale in generator files exported before it was recorded.

    python benchmarks/set_work_size.py SIZE MODEL.onnx [MODEL.int8.onnx ...]

Only the metadata changes (work_size, and model_config's work_size): the graph and its
weights are compared byte for byte, and the outputs of onnxruntime on photo-like inputs
must be bit-identical before and after, or the file is left as it was. Used once for the
bundled models (trained with --image-size 128 --load-size 256, so their scale is 256; the
demo generator on builtin:seasons at 128 px); files exported from a checkpoint that records
its scale get it from cyclegan-export.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from cyclegan.export.to_onnx import photo_like
from cyclegan.fileio import atomic_write_bytes


def outputs(data: bytes) -> list[np.ndarray]:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [session.run(None, {name: photo_like(shape, seed)})[0]
            for seed, shape in enumerate([(1, 3, 64, 96), (2, 3, 120, 80)])]


def with_work_size(data: bytes, size: int) -> bytes:
    model = onnx.load_from_string(data)
    meta = {p.key: p.value for p in model.metadata_props}
    config = json.loads(meta.get("model_config") or "{}")
    meta["model_config"] = json.dumps({**config, "work_size": size}, sort_keys=True)
    meta["work_size"] = str(size)
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    return model.SerializeToString()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("size", type=int)
    p.add_argument("models", type=Path, nargs="+")
    args = p.parse_args()
    failed = 0
    for path in args.models:
        before = path.read_bytes()
        after = with_work_size(before, args.size)
        same_graph = (onnx.load_from_string(before).graph.SerializeToString()
                      == onnx.load_from_string(after).graph.SerializeToString())
        same_out = all(np.array_equal(a, b) for a, b in zip(outputs(before), outputs(after)))
        if not (same_graph and same_out):
            print(f"{path}: not changed (graph equal: {same_graph}, outputs equal: {same_out})")
            failed += 1
            continue
        atomic_write_bytes(path, after)
        print(f"{path}: work_size {args.size}; graph and outputs bit-identical")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
