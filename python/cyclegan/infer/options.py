"""The per-image and per-clip settings of a run: an InferConfig and the model it loaded
turned into PipelineOptions (every engine's per-image path, and Translator) and
VideoOptions. Below the run controller, so that Translator (one picture, no run) and the
Ray actors take the same settings without depending on what a run is."""

from __future__ import annotations

from cyclegan.infer import scale, video
from cyclegan.infer.config import InferConfig
from cyclegan.infer.pipeline import PipelineOptions, default_batch_size, default_workers
from cyclegan.infer.runtime import OrtGenerator


def work_size(cfg: InferConfig, model: OrtGenerator) -> int | None:
    """The scale the generator runs at: --work-size N, the model's own without it; None
    (each photo's own size) with --work-size native."""
    if cfg.work_size == scale.NATIVE:
        return None
    return cfg.work_size or model.work_size


def pipeline_options(cfg: InferConfig, model: OrtGenerator, cores: int, warn,
                     stop) -> PipelineOptions:
    """The per-image settings for `cfg` with `model` loaded and `cores` CPU cores to use;
    every engine runs the per-image path with these (the Ray actors too)."""
    ngf, device = scale.model_width(model.meta), model.device
    return PipelineOptions(batch_size=cfg.batch_size or default_batch_size(device),
                           workers=cfg.workers or default_workers(device, cores),
                           size=cfg.size, max_size=cfg.max_size, max_pixels=cfg.max_pixels,
                           quality=cfg.quality, geometry=model.geometry,
                           work_size=work_size(cfg, model), detail=cfg.detail,
                           fits=lambda h, w: scale.memory_problem(h, w, ngf, device),
                           warn=warn, stop=stop)


def video_options(cfg: InferConfig, model: OrtGenerator, stop) -> video.VideoOptions:
    """The per-clip settings for `cfg` with `model` loaded (the video twin of
    pipeline_options)."""
    ngf, device = scale.model_width(model.meta), model.device
    return video.VideoOptions(work_size=work_size(cfg, model), geometry=model.geometry,
                              detail=cfg.detail, keep=cfg.temporal, codec=cfg.video_codec,
                              crf=cfg.crf, stop=stop,
                              fits=lambda h, w: scale.memory_problem(h, w, ngf, device))
