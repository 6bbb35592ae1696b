"""cyclegan.infer.pipeline: batching by size, failure isolation, alpha warnings."""

import numpy as np
from PIL import Image

from cyclegan.infer.io import Job
from cyclegan.infer.pipeline import PipelineOptions, translate


def smooth(w, h):
    yy, xx = np.mgrid[:h, :w]
    arr = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                    (xx + yy) * 127 // max(w + h - 2, 1)], -1)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def test_pipeline_batches_by_size_and_isolates_model_failures(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    jobs = []
    for i in range(23):
        w = (16, 20, 24)[i % 3]
        smooth(w, 12 if i != 7 else 13).save(src / f"{i}.png")
        jobs.append(Job(src / f"{i}.png", tmp_path / "out" / f"{i}.png"))
    batches = []

    def model(x):  # stands in for onnxruntime: negates, and chokes on 13-row images
        batches.append(x.shape)
        if x.shape[2] == 16:
            raise RuntimeError("out of memory")
        return -x

    results = []
    translate(model, jobs, PipelineOptions(batch_size=4, workers=2), results.append)
    assert sorted(r.job.src.name for r in results) == sorted(j.src.name for j in jobs)
    failed = [r for r in results if r.error]
    assert [r.job.src.name for r in failed] == ["7.png"] and "out of memory" in failed[0].error
    assert all(n <= 4 for n, *_ in batches) and max(n for n, *_ in batches) == 4
    got = np.asarray(Image.open(tmp_path / "out" / "0.png")).astype(int)
    assert np.abs(got - (255 - np.asarray(Image.open(src / "0.png")).astype(int))).max() <= 1


def test_alpha_dropped_once_with_the_formats_name(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    jobs = []
    for i, ext in enumerate((".jpg", ".bmp", ".jpg")):
        Image.new("RGBA", (8, 8), (10, 20, 30, 40)).save(src / f"{i}.png")
        jobs.append(Job(src / f"{i}.png", tmp_path / "out" / f"{i}{ext}"))
    warnings, results = [], []
    opts = PipelineOptions(batch_size=1, workers=1, warn=warnings.append)
    translate(lambda x: x, jobs, opts, results.append)
    assert all(r.error is None for r in results) and len(results) == 3
    assert len(warnings) == 1 and "output has no alpha channel" in warnings[0]
    assert warnings[0].split()[1] in ("JPEG", "BMP")


def test_default_workers_leave_cpu_cores_to_the_model():
    from cyclegan.infer.pipeline import default_workers

    assert [default_workers("cpu", n) for n in (1, 2, 8, 64)] == [1, 1, 1, 8]
    assert [default_workers("cuda", n) for n in (2, 64)] == [2, 64]


def test_inputs_are_padded_by_the_models_own_size_rule(tmp_path):
    from cyclegan.contract import Geometry

    src = tmp_path / "in"
    src.mkdir()
    sizes = [(13, 9), (30, 17), (5, 40)]
    jobs = []
    for i, (w, h) in enumerate(sizes):
        smooth(w, h).save(src / f"{i}.png")
        jobs.append(Job(src / f"{i}.png", tmp_path / "out" / f"{i}.png", "png"))
    shapes = []

    def model(x):
        shapes.append(x.shape[2:])
        return x

    opts = PipelineOptions(batch_size=1, workers=1, geometry=Geometry(multiple=8, min_size=24))
    translate(model, jobs, opts, lambda r: None)
    assert sorted(shapes) == sorted([(24, 24), (24, 32), (40, 24)])
    for i in range(len(sizes)):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"{i}.png")),
                              np.asarray(Image.open(src / f"{i}.png")))
