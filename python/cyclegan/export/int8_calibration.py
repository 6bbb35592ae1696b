"""int8 calibration input: the user's photos, at the model's working scale, on a fixed canvas.

Activation ranges are collected by running the fp32 model on photos scaled so their shorter
side is the calibration size (the scale cyclegan-infer runs the model at), then cut into
square windows of that side: one for a square photo, ceil(long / short) evenly spaced ones
covering a portrait or landscape photo (at most MAX_WINDOWS, spread along a panorama).
Every calibration input has the same shape, which onnxruntime's calibrators need (they
stack each chunk's activations: two shapes in a chunk fail with "inhomogeneous shape"), and
every pixel of every photo short of a panorama is seen at the scale the model works at. A
square photo's one window is the whole photo, so calibrating on square photos (the bundled
int8 files') is what it was before windows existed.

Photos are read one at a time, when onnxruntime asks for them, in chunks sized to a memory
budget (percentile and entropy hold every activation of a chunk).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclegan.contract import MIN_SIZE, Geometry, read_metadata, work_size_of
from cyclegan.errors import QuantizeError
from cyclegan.images import ImageError, extension_list, list_images, load_image
from cyclegan.infer.io import Job, read_photo, target_size, to_model_input

DEFAULT_IMAGES = 64
HELD_BACK = 4  # every HELD_BACK-th calibration photo is kept for the gate, not calibration
# percentile and entropy hold every activation of a chunk of windows until the chunk ends
# (~4 KB per pixel for the bundled generators: 275 MB per 256 x 256 window).
CHUNK_BYTES = 2 << 30
# A panorama (or a strip of film) would otherwise give one window per shorter side of its
# length: a 12:1 panorama twelve, as much as twelve photos, and a 1000:1 strip 1000, which
# also cost as long to calibrate. Four cover a 4:1 panorama whole; a longer photo is
# sampled by four evenly spaced windows, its ends included.
MAX_WINDOWS = 4
# Smaller photos (as stored, before scaling) are icons or thumbnails, not photos like the
# ones the model will translate: scaled up, they would calibrate it on blur.
MIN_PHOTO_SIDE = 32


def working_size(meta: dict[str, str]) -> int:
    """The size calibration scales photos to by default: the scale the fp32 model works
    at, as cyclegan-infer runs it (contract.work_size_of)."""
    try:
        return work_size_of(meta)
    except ValueError as exc:
        raise QuantizeError(f"the model's {exc}: pass --calibrate-size") from None


def model_geometry(model: bytes) -> Geometry:
    """How the model pads its input (its size multiple and minimum, in its metadata)."""
    try:
        return Geometry.from_metadata(read_metadata(model))
    except ValueError as exc:
        raise QuantizeError(f"the model's {exc}") from None


def check_size(size: int | None) -> None:
    if size is not None and size < MIN_SIZE:
        raise QuantizeError(f"--calibrate-size must be at least {MIN_SIZE} (pixels, the "
                            f"shorter side), got {size}")


def window_starts(long: int, side: int) -> list[int]:
    """Where the square windows of `side` start along a side of `long` pixels: as few as
    cover it, evenly spaced, the first at 0 and the last ending at `long`; at most
    MAX_WINDOWS, spread evenly, for a photo longer than that (it is then sampled)."""
    n = min(-(-long // side), MAX_WINDOWS)
    return [0] if n == 1 else [round(i * (long - side) / (n - 1)) for i in range(n)]


def windows(rgb: np.ndarray) -> list[np.ndarray]:
    """Square windows (of the shorter side) covering an H x W x C image."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    if h > w:
        return [rgb[s:s + side] for s in window_starts(h, side)]
    return [rgb[:, s:s + side] for s in window_starts(w, side)]


@dataclass(frozen=True)
class Photo:
    """A calibration photo, checked readable; its pixels are read again when needed."""

    path: Path
    width: int  # as stored
    height: int

    def scaled(self, size: int) -> tuple[int, int]:
        """(width, height) with the shorter side scaled to `size`."""
        return target_size(self.width, self.height, size, None)

    def window_count(self, size: int) -> int:
        w, h = self.scaled(size)
        return len(window_starts(max(w, h), min(w, h)))

    def inputs(self, size: int, geometry: Geometry) -> list[np.ndarray]:
        """Its calibration inputs: 3 x S' x S' model inputs, one per window (S = size,
        S' padded by the model's size rule)."""
        rgb, _ = read_photo(Job(self.path, self.path), size=size)
        return [to_model_input(win, geometry) for win in windows(np.asarray(rgb))]


def load_photos(folder: str | Path, count: int = DEFAULT_IMAGES, log=print) -> list[Photo]:
    """Up to `count` photos spread evenly over the sorted folder, each read once to check
    it (one at a time: memory stays that of one photo); unreadable and tiny files are
    skipped with a note, and too few usable ones is an error saying why."""
    folder = Path(folder)
    if not folder.is_dir():
        raise QuantizeError(f"--calibrate {folder}: not a folder")
    paths = list_images(folder)
    if not paths:
        raise QuantizeError(f"--calibrate {folder}: no images (extensions read: "
                            f"{extension_list()})")
    if len(paths) > count:
        paths = [paths[i * len(paths) // count] for i in range(count)]
    photos, unreadable, tiny = [], [], []
    for path in paths:
        try:
            rgb, _ = load_image(path)
        except ImageError as exc:  # a bad file is the user's to fix, not a reason to stop
            unreadable.append(f"{path.name}: {exc.reason}")
            continue
        w, h = rgb.size
        rgb.close()
        if min(w, h) < MIN_PHOTO_SIDE:
            tiny.append(f"{path.name} is {w} x {h}")
        else:
            photos.append(Photo(path, w, h))
    skipped = []
    if unreadable:
        skipped.append(f"{len(unreadable)} unreadable (e.g. {unreadable[0]})")
    if tiny:
        skipped.append(f"{len(tiny)} smaller than {MIN_PHOTO_SIDE} pixels on a side "
                       f"(e.g. {tiny[0]})")
    if len(photos) < 2:
        raise QuantizeError(f"--calibrate {folder}: {len(photos)} of {len(paths)} images "
                            f"can calibrate ({'; '.join(skipped)}); int8 needs at least 2 "
                            "photos like the ones you will translate (some to calibrate, "
                            "some to check the result)")
    if skipped:
        log(f"calibration: skipped {'; '.join(skipped)}")
    return photos


def split(photos: list[Photo]) -> tuple[list[Photo], list[Photo]]:
    """(calibration, held back for the gate): every HELD_BACK-th photo is held back."""
    held = photos[HELD_BACK - 1::HELD_BACK] or photos[-1:]
    return [p for p in photos if p not in held], held


class Reader:
    """onnxruntime's CalibrationDataReader protocol: one window per batch, decoded when
    asked for, in ranges of windows (set_range) so only a chunk's activations are held at
    a time. A photo's windows are decoded together and kept until the next photo's turn."""

    def __init__(self, input_name: str, photos: list[Photo], size: int, geometry: Geometry):
        self.input_name, self.size, self.geometry = input_name, size, geometry
        self.windows = [(photo, k) for photo in photos for k in range(photo.window_count(size))]
        self.decoded: tuple[Photo | None, list[np.ndarray]] = (None, [])
        self.set_range(0, len(self.windows))

    def __len__(self) -> int:
        return len(self.windows)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.items = iter(self.windows[start_index:end_index])

    def get_next(self):
        item = next(self.items, None)
        if item is None:
            return None
        photo, k = item
        if self.decoded[0] != photo:
            self.decoded = (photo, photo.inputs(self.size, self.geometry))
        return {self.input_name: self.decoded[1][k][None]}


def activation_bytes_per_pixel(proto) -> float:
    """Bytes of every float tensor the model computes, per input pixel: what calibration
    holds for each window. Measured by running it once on a small input with every
    intermediate tensor made an output (shapes inferred statically stop at dynamic pads)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, shape_inference

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    inferred = shape_inference.infer_shapes(model)
    have = {o.name for o in model.graph.output}
    model.graph.output.extend(
        helper.make_tensor_value_info(v.name, TensorProto.FLOAT, None)
        for v in inferred.graph.value_info
        if v.type.tensor_type.elem_type == TensorProto.FLOAT and v.name not in have)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    side = 4 * MIN_SIZE
    x = np.zeros((1, 3, side, side), np.float32)
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    return sum(o.nbytes for o in outputs) / side**2


def chunk_size(count: int, size: int, bytes_per_pixel: float, available: int | None) -> int:
    """Windows (of `size` x `size`) per collection pass, of `count` in all: their
    activations within CHUNK_BYTES (and half the free memory, `available` bytes; None:
    unknown), and dividing the count evenly (onnxruntime's strided calibration needs that).
    QuantizeError when one window alone would not fit."""
    one = size * size * bytes_per_pixel
    if available is None:
        available = 2 * CHUNK_BYTES
    elif one > available:
        raise QuantizeError(
            f"calibrating at {size} pixels needs about {one / 2**30:.1f} GB per {size} x "
            f"{size} window with this model ({available / 2**30:.1f} GB free): use a "
            f"smaller --calibrate-size (default: the size the model works at)")
    chunk = max(1, min(count, int(min(CHUNK_BYTES, available / 2) // one)))
    while count % chunk:
        chunk -= 1
    return chunk
