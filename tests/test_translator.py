"""cyclegan.Translator: the command's per-image path for pictures held in Python.

The reference for every result is the file cyclegan-infer writes for the same picture (PNG,
lossless): the object must give the same pixels, bit for bit, whatever kind it is handed.
"""

import os
import re
import subprocess
import sys
import threading
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan import TranslateError, Translator
from cyclegan.cli.infer import main as infer_main
from cyclegan.errors import CycleganError, UsageError
from cyclegan.export.to_onnx import export_generator
from cyclegan.images import EXIF_ORIENTATION
from cyclegan.models import ModelConfig, build_generator

REPO = Path(__file__).resolve().parents[1]
WORK = 16  # the tiny model's working scale: every test picture is larger, so guided runs
RNG = np.random.default_rng(0)
MAKE = 0x010F  # an EXIF tag that outputs keep


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A tiny exported generator with a 16 px working scale."""
    torch.manual_seed(0)
    cfg = ModelConfig(ngf=8, n_blocks=1, work_size=WORK)
    data, _ = export_generator(build_generator(cfg, fused=False).eval(),
                               {"domains": {"A": "summer", "B": "winter"},
                                "config": cfg.to_dict()}, "A2B")
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    path.write_bytes(data)
    return path


def picture(w: int, h: int, channels: int = 3) -> np.ndarray:
    """Smooth gradients plus noise: structure for the guided fit, and no two pixels alike."""
    yy, xx = np.mgrid[:h, :w]
    base = np.stack([xx * 200 // w, yy * 200 // h, (xx + yy) * 100 // (w + h)] +
                    ([255 * (xx > w // 3)] if channels == 4 else []), -1)
    noise = RNG.integers(0, 50, (h, w, channels))
    if channels == 4:
        noise[..., 3] = 0
    return np.clip(base + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """A folder of the kinds the command reads: an RGB JPEG turned by EXIF, an RGBA PNG, a
    grayscale PNG and a palette GIF, all larger than the working scale."""
    root = tmp_path_factory.mktemp("photos")
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # stored sideways: the upright picture is 30 x 44
    exif[MAKE] = "cam"
    Image.fromarray(picture(44, 30)).save(root / "turned.jpg", exif=exif.tobytes(),
                                          quality=90)
    Image.fromarray(picture(37, 29, 4), "RGBA").save(root / "alpha.png")
    Image.fromarray(picture(33, 41)[..., 0], "L").save(root / "gray.png")
    Image.fromarray(picture(40, 24)).convert("P").save(root / "palette.gif")
    return root


def infer_outputs(src: Path, out: Path, *model_args) -> dict[str, np.ndarray]:
    assert infer_main([str(src), str(out), "--format", "png", "--quiet", *model_args]) == 0
    return {p.stem: np.asarray(Image.open(p)) for p in out.glob("*.png")}


def test_every_kind_of_picture_equals_the_commands_output_bit_for_bit(tiny, photos,
                                                                      tmp_path):
    want = infer_outputs(photos, tmp_path / "out", "--model", str(tiny))
    t = Translator(tiny)
    files = sorted(photos.iterdir())
    assert len(want) == len(files) == 4
    for path in files:
        expected = want[path.stem]
        assert np.array_equal(np.asarray(t(Image.open(path))), expected), path.name
        assert np.array_equal(np.asarray(t(path)), expected), path.name
        assert np.array_equal(np.asarray(t(str(path))), expected), path.name
    # The upright picture, as the command reads it, handed over as an array and a tensor.
    upright = np.asarray(Image.open(photos / "alpha.png"))
    assert np.array_equal(t(upright), want["alpha"])
    tensor = t(torch.from_numpy(upright.copy()).permute(2, 0, 1))
    assert tensor.dtype == torch.uint8 and tensor.shape == (4, 29, 37)
    assert np.array_equal(tensor.permute(1, 2, 0).numpy(), want["alpha"])
    streamed = list(t.map(files))
    assert all(np.array_equal(np.asarray(s), want[p.stem]) for s, p in zip(streamed, files))


def test_the_bundled_default_matches_the_command_without_flags(tmp_path):
    # No --model and no model=: the same generator, variant (int8 on a CPU) and scale.
    Image.fromarray(picture(300, 200)).save(tmp_path / "in.png")
    want = infer_outputs(tmp_path / "in.png", tmp_path / "out")["in"]
    t = Translator()
    assert "summer2winter" in t.describe() and t.work_size == 128
    assert np.array_equal(np.asarray(t(Image.open(tmp_path / "in.png"))), want)


def test_each_kind_comes_back_as_itself_with_alpha_untouched(tiny):
    t = Translator(tiny)
    rgba = picture(37, 29, 4)
    out = t(rgba)
    assert out.shape == rgba.shape and out.dtype == np.uint8
    assert np.array_equal(out[..., 3], rgba[..., 3])
    assert not np.array_equal(out[..., :3], rgba[..., :3])
    pil = t(Image.fromarray(rgba, "RGBA"))
    assert pil.mode == "RGBA" and pil.size == (37, 29)
    assert np.array_equal(np.asarray(pil), out)
    # A float tensor in [0, 1] comes back as floats on the 8-bit grid, on its device.
    floats = torch.from_numpy(rgba).permute(2, 0, 1).double() / 255
    back = t(floats)
    assert back.dtype == torch.float64 and back.device == floats.device
    assert torch.equal((back * 255).round().to(torch.uint8).permute(1, 2, 0),
                       torch.from_numpy(out))
    batch = t(torch.stack([floats, floats.flip(-1)]).float())
    assert batch.shape == (2, 4, 29, 37) and batch.dtype == torch.float32
    assert torch.allclose(batch[0].double(), back, atol=1e-6)
    assert t(Image.fromarray(rgba[..., :3])).mode == "RGB"


def test_a_pil_picture_is_turned_upright_and_left_as_it_was(tiny, photos):
    img = Image.open(photos / "turned.jpg")
    before = (img.size, dict(img.info), img.getexif().get(EXIF_ORIENTATION))
    out = Translator(tiny)(img)
    assert out.size == (30, 44)  # upright, as the command writes it
    assert (img.size, dict(img.info), img.getexif().get(EXIF_ORIENTATION)) == before
    exif = out.getexif()  # the EXIF comes along, without the turn already applied
    assert exif.get(MAKE) == "cam" and exif.get(EXIF_ORIENTATION) in (None, 1)


@pytest.mark.parametrize("bad, message", [
    ([[1, 2, 3]], r"^image: Translator takes a PIL image.*got a list$"),
    (np.zeros((8, 8, 3), np.float32), r"uint8, got float32 of shape \(8, 8, 3\)"),
    (np.zeros((8, 8), np.uint8), r"got uint8 of shape \(8, 8\)"),
    (np.zeros((0, 8, 3), np.uint8), r"empty picture \(8 x 0\)"),
    (torch.full((3, 8, 8), 2.0), r"values in \[0, 1\], got 2 to 2"),
    (torch.zeros(5, 8, 8, dtype=torch.uint8), r"3 or 4 channels, got shape \(5, 8, 8\)"),
    (torch.zeros(3, 8, 8, dtype=torch.int32), r"uint8 or float, got torch.int32"),
    ("no/such/photo.jpg", r"^no/such/photo.jpg: file not found$"),
    ("truncated", r"^image: cannot decode the picture: "),
])
def test_bad_pictures_are_one_line_errors(tiny, bad, message):
    if isinstance(bad, str) and bad == "truncated":
        buf = BytesIO()
        Image.fromarray(picture(64, 48)).save(buf, format="PNG")
        bad = Image.open(BytesIO(buf.getvalue()[:300]))  # header read, pixels cut off
    with pytest.raises(TranslateError, match=message) as info:
        Translator(tiny)(bad)
    assert isinstance(info.value, CycleganError) and "\n" not in str(info.value)


def test_options_take_the_commands_defaults_and_checks(tiny):
    with pytest.raises(UsageError, match=r"^--device must be one of auto, cpu, cuda, got 'gpu'$"):
        Translator(tiny, device="gpu")
    with pytest.raises(UsageError, match=r"^--work-size must be >= 1"):
        Translator(tiny, work_size=0)
    with pytest.raises(CycleganError, match="unknown model 'nope'"):
        Translator("nope")
    with pytest.raises(CycleganError, match="model not found"):
        Translator("missing.onnx")
    assert Translator(tiny).work_size == WORK
    assert Translator(tiny, work_size=24).work_size == 24
    assert Translator(tiny, work_size="native").work_size is None


def test_a_run_folder_or_checkpoint_is_a_model(tmp_path):
    from cyclegan.checkpoint import new_checkpoint, save_checkpoint
    from cyclegan.runlayout import latest_checkpoint

    torch.manual_seed(1)
    cfg = ModelConfig(ngf=8, n_blocks=1, work_size=WORK)
    state = new_checkpoint(cfg, {"A": "summer", "B": "winter"})
    state["G_B2A"] = build_generator(cfg, fused=False).state_dict()
    latest = latest_checkpoint(tmp_path / "run")
    latest.parent.mkdir(parents=True)
    save_checkpoint(latest, state)
    t = Translator(tmp_path / "run", direction="B2A")
    assert "B2A" in t.describe() or "winter -> summer" in t.describe()
    assert t(picture(30, 20)).shape == (20, 30, 3)


def test_map_keeps_order_across_sizes_and_batches(tiny):
    t = Translator(tiny, batch_size=4, workers=2)
    pictures = [picture(20 + 4 * (i % 3), 18 + 2 * (i % 2)) for i in range(14)]
    want = [t(p) for p in pictures]
    got = list(t.map(pictures))
    assert len(got) == len(want)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert list(t.map([])) == []


def test_map_reads_only_a_few_pictures_ahead(tiny):
    t = Translator(tiny, batch_size=1, workers=1)
    pulled = []

    def stream():
        for i in range(60):
            pulled.append(i)
            yield picture(24, 20)

    results = t.map(stream())
    next(results)
    time.sleep(1.0)  # room for a feeder that does not wait to run far ahead
    # 2 * (batch_size + workers) + 1 in flight, and the one handed out.
    assert len(pulled) <= 6, len(pulled)
    assert sum(1 for _ in results) == 59


def test_map_raises_at_the_failing_picture_after_those_before_it(tiny):
    t = Translator(tiny)
    good = picture(24, 20)
    results = t.map([good, good, np.zeros((4, 4), np.uint8), good])
    assert next(results).shape == good.shape and next(results).shape == good.shape
    with pytest.raises(TranslateError, match=r"^image 2: a numpy picture must be"):
        next(results)

    def broken():
        yield good
        raise OSError("camera unplugged")

    results = t.map(broken())
    assert next(results).shape == good.shape
    with pytest.raises(OSError, match="camera unplugged"):
        next(results)


def test_leaving_a_map_early_stops_its_threads(tiny):
    t = Translator(tiny)
    before = threading.active_count()
    results = t.map(picture(24, 20) for _ in range(100))
    next(results)
    results.close()
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before


def test_one_translator_serves_many_threads(tiny):
    # Same-size pictures share the model's bound input buffer: without the lock around the
    # generator, one thread's picture is overwritten by another's mid-run.
    t = Translator(tiny, work_size="native")  # long model calls: a wide window for a race
    pictures = [picture(160, 128) for _ in range(6)]
    want = [t(p) for p in pictures]
    got: dict[tuple[int, int], np.ndarray] = {}

    def work(k: int) -> None:
        for r in range(8):
            i = (k + r) % len(pictures)
            got[k, r] = t(pictures[i])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    streamed = []
    threads.append(threading.Thread(target=lambda: streamed.extend(t.map(pictures * 2))))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 32
    assert all(np.array_equal(v, want[(k + r) % len(pictures)]) for (k, r), v in got.items())
    assert all(np.array_equal(s, w) for s, w in zip(streamed, want * 2))


def test_eval_scores_the_pictures_the_command_writes(tiny, tmp_path):
    from cyclegan.evaluation import evaluate

    src = tmp_path / "in"
    src.mkdir()
    arrays = [picture(40, 40) for _ in range(3)]
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(src / f"{i}.png")
    want = infer_outputs(src, tmp_path / "out", "--model", str(tiny), "--precision", "fp32")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1
    t = Translator(tiny, device="cpu", precision="fp32")
    out = evaluate.translate(t, images, batch_size=1)
    got = ((out + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert all(np.array_equal(got[i], want[str(i)]) for i in range(3))


def test_import_cyclegan_stays_light():
    code = ("import sys, cyclegan; heavy = [m for m in ('numpy', 'PIL', 'onnxruntime', "
            "'torch') if m in sys.modules]; from cyclegan import Translator; "
            "print(heavy, [m for m in ('onnxruntime', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(REPO / "python")})
    assert out.stdout.strip() == "[] []"


def test_the_readme_example_runs(tmp_path, monkeypatch):
    text = (REPO / "README.md").read_text()
    found = re.search(r"<!-- translator-example[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert found, "README.md lost its Translator example"
    snippet = found.group(1)
    assert len(snippet.strip().splitlines()) <= 14  # a short example stays short
    monkeypatch.chdir(tmp_path)
    Image.fromarray(picture(300, 200)).save("photo.jpg")
    Path("photos").mkdir()
    for name in ("a.jpg", "b b:1.jpg"):
        Image.fromarray(picture(200, 260)).save(Path("photos") / name)
    exec(compile(snippet, "README.md", "exec"), {})
    assert Image.open("winter.jpg").size == (300, 200)
    assert sorted(p.name for p in Path("winter").iterdir()) == ["a.jpg", "b b:1.jpg"]
    assert Image.open("winter/a.jpg").size == (200, 260)


def test_a_failing_generator_is_a_one_line_error_and_map_says_which_picture():
    def boom(x):
        raise RuntimeError("out of memory\nat alloc.cpp:12")

    cases = [(lambda x: x * np.nan, "model output holds NaN or inf"),
             (lambda x: x[:, :, :-1], r"model output has shape \(3, 19, 24\), expected its "
                                      r"input's \(3, 20, 24\)"),
             (boom, "model failed: RuntimeError: out of memory$")]
    for generator, message in cases:
        t = Translator.around(generator, work_size=None)
        with pytest.raises(TranslateError, match=f"^image: {message}"):
            t(picture(24, 20))
        with pytest.raises(TranslateError, match=f"^image 0: {message}"):
            list(t.map([picture(24, 20)]))
