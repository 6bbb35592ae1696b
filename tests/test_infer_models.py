"""cyclegan-infer, which model runs where: checkpoints through ONNX, devices and providers,
the bundled models and samples, files written by older versions."""


import numpy as np
import pytest
from PIL import Image

from cyclegan import contract
from cyclegan.infer import bundled
from cyclegan.infer.runtime import choose_providers, gpu_present

from conftest import FIXTURE_0_1_0, bundle, noise, run_cli, smooth


def test_checkpoint_model_runs_through_onnx(tiny, tmp_path):
    from cyclegan.checkpoint import new_checkpoint, save_checkpoint

    state = new_checkpoint(tiny[1].config, {"A": "summer", "B": "winter"})
    state["G_A2B"] = tiny[1].state_dict()
    save_checkpoint(tmp_path / "c.pt", state)
    src = tmp_path / "in"
    src.mkdir()
    noise(20, 12).save(src / "a.png")
    assert run_cli("infer", src, tmp_path / "o1", "--model", tmp_path / "c.pt", "--quiet") == 0
    assert run_cli("infer", src, tmp_path / "o2", "--model", tiny[0], "--quiet") == 0
    a, b = (np.asarray(Image.open(tmp_path / o / "a.png")).astype(int) for o in ("o1", "o2"))
    assert np.abs(a - b).max() <= 1
    assert run_cli("infer", src, tmp_path / "o3", "--model", tmp_path / "c.pt", "--direction",
                   "B2A") == 2


def test_device_choice(monkeypatch, tiny, tmp_path, capsys):
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not gpu_present()
    assert choose_providers("auto") == ["CPUExecutionProvider"]
    smooth(8, 8).save(tmp_path / "a.png")
    assert run_cli("infer", tmp_path / "a.png", tmp_path / "o", "--model", tiny[0], "--device",
                   "cuda") == 2
    assert "--device cuda" in capsys.readouterr().err


def test_cuda_provider_matches_cpu(tiny, tmp_path):
    if not gpu_present() or len(choose_providers("auto")) < 2:
        pytest.skip("no GPU with onnxruntime's CUDA provider here")
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        noise(40 + 4 * i, 36).save(src / f"{i}.png")
    assert run_cli("infer", src, tmp_path / "cpu", "--model", tiny[0], "--device", "cpu",
                   "--quiet") == 0
    assert run_cli("infer", src, tmp_path / "gpu", "--model", tiny[0], "--device", "cuda",
                   "--quiet") == 0
    for i in range(5):
        a, b = (np.asarray(Image.open(tmp_path / d / f"{i}.png")).astype(int)
                for d in ("cpu", "gpu"))
        assert np.abs(a - b).max() <= 2


def test_default_run_with_stand_in_model(tiny, tmp_path, monkeypatch, capsys):
    """The no-argument run end to end, with the tiny model standing in for the demo one."""
    bundle(monkeypatch, tiny[0], bundled.DEMO_MODEL)
    monkeypatch.chdir(tmp_path)
    assert run_cli("infer") == 0
    out = tmp_path / "cyclegan-output"
    samples = sorted(p.name for p in bundled.SAMPLES.iterdir())
    assert 6 <= len(samples) <= 10
    assert sorted(p.name for p in out.iterdir()) == sorted(samples + ["contact_sheet.png"])
    for name in samples:
        assert Image.open(out / name).size == Image.open(bundled.SAMPLES / name).size
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.format == "PNG" and sheet.width > 300 and sheet.height > 160 * len(samples)
    text = capsys.readouterr().out
    assert "cyclegan-output" in text and "contact_sheet.png" in text
    assert "bundled generators" in text and all(f"{n} " in text for n in bundled.MODELS)


def test_input_without_model_uses_the_real_photo_generator(tiny, tmp_path, monkeypatch,
                                                            capsys):
    bundle(monkeypatch, tiny[0])
    smooth(16, 12).save(tmp_path / "a.png")
    assert run_cli("infer", tmp_path / "a.png", tmp_path / "o") == 0
    assert f"model: {tiny[0].name}" in capsys.readouterr().out
    assert bundled.DEFAULT_MODEL == "summer2winter"


def test_real_photos_keep_names_and_sizes(tiny, tmp_path, real_data):
    src = real_data / "testA"
    out = tmp_path / "out"
    assert run_cli("infer", src, out, "--model", tiny[0], "--shard", "0/10", "--quiet") == 0
    inputs = sorted(p for p in src.iterdir() if p.suffix.lower() == ".jpg")[0::10]
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in inputs]
    for p in inputs:
        assert Image.open(out / p.name).size == Image.open(p).size


def test_bundled_samples_are_small_and_varied():
    files = sorted(bundled.SAMPLES.iterdir())
    assert sum(p.stat().st_size for p in files) < 300_000
    sizes = {Image.open(p).size for p in files}
    modes = {Image.open(p).mode for p in files}
    assert (256, 256) in sizes and any(w != h for w, h in sizes) and "RGBA" in modes


def test_default_run_with_bundled_demo_model(tmp_path, monkeypatch):
    demo = bundled.MODELS[bundled.DEMO_MODEL].path
    if not demo.is_file():
        pytest.skip(f"demo model not yet bundled at {demo}")
    monkeypatch.chdir(tmp_path)
    assert run_cli("infer", "--quiet") == 0
    assert (tmp_path / "cyclegan-output" / "contact_sheet.png").is_file()


def test_onnx_file_from_0_1_0_still_translates(tmp_path):
    meta = contract.read_metadata(FIXTURE_0_1_0)
    assert meta["format"] == contract.FORMAT and meta["package_version"] == "0.1.0"
    src = tmp_path / "in"
    src.mkdir()
    smooth(37, 29).save(src / "photo.jpg", quality=95)
    assert run_cli("infer", src, tmp_path / "out", "--model", FIXTURE_0_1_0, "--quiet") == 0
    out = Image.open(tmp_path / "out" / "photo.jpg")
    assert out.format == "JPEG" and out.size == (37, 29)
    assert np.abs(np.asarray(out).astype(int) - np.asarray(Image.open(src / "photo.jpg"))).max() > 0


def test_bundled_model_by_name_and_list(tiny, tmp_path, capsys, monkeypatch):
    bundle(monkeypatch, tiny[0])
    smooth(8, 8).save(tmp_path / "a.png")
    assert run_cli("infer", tmp_path / "a.png", tmp_path / "o", "--model", bundled.DEFAULT_MODEL,
               "--quiet") == 0
    assert (tmp_path / "o" / "a.png").is_file()
    capsys.readouterr()
    assert run_cli("infer", tmp_path / "a.png", tmp_path / "o2", "--model", "summer2autumn") == 2
    err = capsys.readouterr().err
    assert err.startswith("cyclegan-infer: error: unknown model 'summer2autumn'")
    assert all(name in err for name in bundled.MODELS)
    assert run_cli("infer", "--list-models") == 0
    listing = capsys.readouterr().out
    assert all(f"{name} " in listing for name in bundled.MODELS) and "(default)" in listing
