"""cyclegan-infer at the model's working scale: which size the generator sees, --work-size,
and the memory check of --work-size native."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image, ImageOps

from cyclegan.infer import scale
from cyclegan.infer.failures import read_failures
from cyclegan.models import ModelConfig

from conftest import generator_reference, peak_kib, run_cli, tiny_onnx, with_peak_rss

RNG = np.random.default_rng(3)
WORK = 16  # the tiny model's working scale


@pytest.fixture(scope="module")
def tiny_work(tmp_path_factory):
    """(onnx path, torch generator) of a tiny generator whose working scale is WORK."""
    return tiny_onnx(tmp_path_factory.mktemp("scale") / "tiny_work.onnx",
                     ModelConfig(ngf=8, n_blocks=2, work_size=WORK))


def photo(w, h):
    """Smooth colours plus a little noise: a stand-in for a photo."""
    yy, xx = np.mgrid[:h, :w] / max(w, h)
    base = np.stack([np.sin(5 * xx + 1), np.cos(4 * yy), np.sin(3 * (xx + yy))], -1)
    arr = 127.5 + 100 * base + RNG.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def test_work_dims_keep_the_aspect_and_never_enlarge():
    assert scale.work_dims(4032, 3024, 256) == (341, 256)
    assert scale.work_dims(3024, 4032, 256) == (256, 341)
    assert scale.work_dims(8000, 300, 256) == (6827, 256)
    assert scale.work_dims(256, 900, 256) is None  # no larger than the working scale
    assert scale.work_dims(4032, 3024, None) is None  # native


@pytest.mark.parametrize("text, value", [("native", "native"), ("300", 300), (None, None)])
def test_work_size_flag_values(text, value):
    assert scale.parse_work_size(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "big", "1.5", "Native"])
def test_bad_work_size_values_are_one_line_usage_errors(text, tiny_work, tmp_path, capsys):
    photo(20, 20).save(tmp_path / "a.png")
    assert run_cli("infer", tmp_path / "a.png", tmp_path / "out", "--model", tiny_work[0],
               "--work-size", text) == 2
    err = capsys.readouterr().err
    assert err.startswith("cyclegan-infer: error: --work-size must be") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_photo_at_the_working_size_gives_the_generators_own_output(tiny_work, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    photo(27, WORK).save(src / "wide.png")
    photo(WORK, 23).save(src / "tall.png")
    photo(11, 9).save(src / "small.png")  # smaller: never enlarged
    assert run_cli("infer", src, tmp_path / "out", "--model", tiny_work[0], "--quiet") == 0
    for name in ("wide.png", "tall.png", "small.png"):
        got = np.asarray(Image.open(tmp_path / "out" / name)).astype(int)
        want = generator_reference(tiny_work[1], np.asarray(Image.open(src / name)))
        assert np.abs(got - want).max() <= 1, name


def test_larger_photos_run_at_the_working_scale_and_keep_their_size(tiny_work, tmp_path,
                                                                      monkeypatch):
    from cyclegan.infer import runtime

    seen = []
    real_call = runtime.OrtGenerator.__call__

    def spy(self, x):
        seen.append(x.shape[2:])
        return real_call(self, x)

    monkeypatch.setattr(runtime.OrtGenerator, "__call__", spy)
    src = tmp_path / "in"
    src.mkdir()
    photo(61, 40).save(src / "a.png")
    assert run_cli("infer", src, tmp_path / "out", "--model", tiny_work[0], "--quiet") == 0
    assert seen == [(16, 24)]  # 24 x 16 (short side 16, aspect kept), padded: 24 x 16
    assert Image.open(tmp_path / "out" / "a.png").size == (61, 40)
    seen.clear()
    assert run_cli("infer", src, tmp_path / "n", "--model", tiny_work[0], "--quiet", "--work-size",
               "native") == 0
    assert seen == [(40, 64)]  # the photo's own size, padded to the size rule
    got = np.asarray(Image.open(tmp_path / "n" / "a.png")).astype(int)
    want = generator_reference(tiny_work[1], np.asarray(Image.open(src / "a.png")))
    assert np.abs(got - want).max() <= 1  # today's behaviour, exactly
    seen.clear()
    assert run_cli("infer", src, tmp_path / "w", "--model", tiny_work[0], "--quiet", "--work-size",
                   "20") == 0
    assert seen == [(20, 32)]  # 30 x 20, padded to 32 x 20


def test_native_refuses_photos_that_would_not_fit_and_goes_on(tiny_work, tmp_path, monkeypatch,
                                                              capsys):
    monkeypatch.setattr(scale, "ALWAYS_FITS", 0)
    monkeypatch.setattr(scale, "smi_free_bytes", lambda device: 8 * 2**20)
    src = tmp_path / "in"
    src.mkdir()
    photo(40, 30).save(src / "small.png")  # 40 x 32 padded: about 0.6 MiB
    photo(160, 120).save(src / "large.png")  # 160 x 120: about 10 MiB
    assert run_cli("infer", src, tmp_path / "out", "--model", tiny_work[0], "--work-size",
                   "native") == 1
    (path, reason), = read_failures(tmp_path / "out" / "cyclegan-failures.tsv")
    assert path.name == "large.png"
    assert reason.startswith("running the generator at 160 x 120 needs about 9 MiB of "
                             "memory, more than the 8 MiB available")
    assert "--work-size" in reason and "\n" not in reason
    assert (tmp_path / "out" / "small.png").is_file()
    assert not (tmp_path / "out" / "large.png").exists()
    # At the working scale the same photo runs.
    assert run_cli("infer", src, tmp_path / "ws", "--model", tiny_work[0], "--quiet") == 0


def test_memory_estimate_follows_the_model_width():
    meta = {"model_config": json.dumps({"ngf": 32})}
    assert scale.model_width(meta) == 32 and scale.model_width({}) == scale.DEFAULT_NGF
    # The 12-megapixel photo of the issue (int8, ngf 32): 20.8 GB measured.
    need = scale.estimate_bytes(3024, 4032, 32)
    assert 19e9 < need < 23e9


def test_model_without_a_recorded_scale_uses_the_default(tiny_work, tmp_path, monkeypatch):
    model = onnx.load(str(tiny_work[0]))
    props = [p for p in model.metadata_props if p.key != "work_size"]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    onnx.save(model, str(tmp_path / "old.onnx"))
    from cyclegan.infer.runtime import OrtGenerator

    assert OrtGenerator(tmp_path / "old.onnx", "cpu").work_size == 256


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    """An ONNX 'generator' that returns its input, with working scale WORK."""
    from onnx import TensorProto, helper

    dims = ["batch", 3, "height", "width"]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])], "identity",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    for key, value in {"work_size": str(WORK), "direction": "A2B"}.items():
        model.metadata_props.add(key=key, value=value)
    path = tmp_path_factory.mktemp("identity") / "identity.onnx"
    onnx.save(model, str(path))
    return path


def _rotated(img):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    return img, {"exif": exif}


def test_identity_generator_gives_every_photo_back_at_full_resolution(identity, tmp_path):
    """Odd and extreme sizes, EXIF rotation, grayscale, 16-bit, palette and alpha: the
    output has the photo's exact size and, through the working scale and the guided step,
    its pixels within one grey level."""
    src = tmp_path / "in"
    src.mkdir()
    wide = photo(8000, 300)
    cases = {
        "odd.png": (photo(101, 67), {}),
        "wide.png": (wide, {}),
        "tall.png": (wide.transpose(Image.Transpose.ROTATE_90), {}),
        "rotated.jpg": _rotated(photo(96, 40)),
        "gray.png": (photo(77, 51).convert("L"), {}),
        "gray16.png": (Image.fromarray(np.asarray(photo(77, 51).convert("L"), np.uint16) * 257),
                       {}),
        "palette.png": (photo(64, 48).convert("P", palette=Image.Palette.ADAPTIVE), {}),
        "alpha.png": (Image.merge("RGBA", (*photo(90, 70).split(),
                                           Image.fromarray(RNG.integers(0, 256, (70, 90),
                                                                        np.uint8)))), {}),
    }
    for name, (img, kw) in cases.items():
        img.save(src / name, **kw)
    assert run_cli("infer", src, tmp_path / "out", "--model", identity, "--format", "png",
                   "--quiet") == 0
    for name in cases:
        with Image.open(src / name) as im:
            want = ImageOps.exif_transpose(im)
            want_rgb = np.asarray(want.convert("RGB") if want.mode != "I;16" else
                                  Image.fromarray((np.asarray(want) // 257).astype(np.uint8))
                                  .convert("RGB")).astype(int)
        got = Image.open(tmp_path / "out" / Path(name).with_suffix(".png"))
        assert got.size == want.size, name
        rgb = np.asarray(got.convert("RGB")).astype(int)
        assert np.abs(rgb - want_rgb).max() <= 1, name
        if name == "alpha.png":
            assert np.array_equal(np.asarray(got)[..., 3], np.asarray(want)[..., 3])


def test_bad_detail_values_are_refused(identity, tmp_path, capsys):
    from cyclegan.errors import UsageError
    from cyclegan.infer.config import InferConfig

    with pytest.raises(UsageError, match="--detail must be one of guided, resize"):
        InferConfig(detail="sharp").checked()
    photo(20, 20).save(tmp_path / "a.png")
    with pytest.raises(SystemExit) as exit_:
        run_cli("infer", tmp_path / "a.png", tmp_path / "out", "--model", identity, "--detail",
                "sharp")
    assert exit_.value.code == 2
    assert "argument --detail: invalid choice: 'sharp'" in capsys.readouterr().err


def test_resize_detail_enlarges_the_generators_output(tiny_work, tmp_path):
    photo(64, 48).save(tmp_path / "a.png")
    assert run_cli("infer", tmp_path / "a.png", tmp_path / "r.png", "--model", tiny_work[0],
                   "--detail", "resize", "--quiet") == 0
    small = np.asarray(Image.open(tmp_path / "a.png").resize((21, 16), Image.Resampling.LANCZOS,
                                                            reducing_gap=3.0))
    want = Image.fromarray(generator_reference(tiny_work[1], small)).resize(
        (64, 48), Image.Resampling.BICUBIC)
    got = np.asarray(Image.open(tmp_path / "r.png")).astype(int)
    assert np.abs(got - np.asarray(want)).max() <= 2


def test_texture_detail_reaches_the_command(tiny_work, tmp_path):
    """The command's --detail texture is Translator's texture finish, not guided's."""
    from cyclegan import Translator

    photo(64, 48).save(tmp_path / "a.png")
    for mode in ("texture", "guided"):
        assert run_cli("infer", tmp_path / "a.png", tmp_path / f"{mode}.png", "--model",
                       tiny_work[0], "--detail", mode, "--quiet") == 0
    got = np.asarray(Image.open(tmp_path / "texture.png")).astype(int)
    want = np.asarray(Translator(tiny_work[0], detail="texture", device="cpu")(
        Image.open(tmp_path / "a.png"))).astype(int)
    assert np.abs(got - want).max() <= 1
    assert np.abs(got - np.asarray(Image.open(tmp_path / "guided.png"))).mean() > 2


def test_a_12_megapixel_photo_stays_under_1_gb(tmp_path):
    """The issue's case: a phone photo (4032 x 3024) through the bundled default model in a
    fresh process, whose own peak RSS is what is measured (20.8 GB at the photo's own
    scale before the working scale existed)."""
    import subprocess
    import sys

    h, w = 3024, 4032
    base = np.asarray(photo(w // 8, h // 8).resize((w, h), Image.Resampling.BICUBIC))
    noisy = np.clip(base + RNG.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "phone.jpg", quality=92)
    code = with_peak_rss("from cyclegan.cli.infer import main\n"
                         f"code = main([{str(tmp_path / 'phone.jpg')!r}, "
                         f"{str(tmp_path / 'out.jpg')!r}, '--quiet'])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    peak = peak_kib(r.stderr)
    assert peak < 2**20, f"peak RSS {peak / 2**20:.2f} GiB"
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.size == (w, h)
