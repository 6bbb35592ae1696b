import json

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan import backbone, hostmem
from cyclegan.checkpoint import new_checkpoint, save_checkpoint
from cyclegan.cli import eval as eval_cli
from cyclegan.evaluation import baselines, evaldata, evaluate, judge, metrics, report
from cyclegan.models import ModelConfig, ResnetGenerator
from cyclegan.translator import Translator

SIZE = 16
N = 6
# The EfficientNet judge has its own tests (test_judge.py) and is slow on a CPU: off here
# except where a test is about it.
FAST = dict(classifier_images=20, classifier_steps=40, quiet=True, device="cpu",
            use_judge=False)
# torch.jit.script is deprecated in recent torch, but TorchScript files are what feature
# extractors such as NVIDIA's inception-2015-12-05.pt ship as.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


class SwapRB(torch.nn.Module):
    """A perfect red -> blue translator for the synthetic data below."""

    def forward(self, x):
        return x[:, [2, 1, 0]]


class Identity(torch.nn.Module):
    def forward(self, x):
        return x.clone()


def _red(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((SIZE, SIZE, 3))
    img[..., 0] = 200
    img[..., 1] = 30
    img[..., 2] = 20
    return np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def red_blue(tmp_path):
    """trainA/testA red, trainB/testB blue; testB[i] is exactly testA[i] with R and B swapped
    (same file names), so the test split is paired and SwapRB translates perfectly."""
    root = tmp_path / "red2blue"
    for split, count, base in (("train", 10, 0), ("test", N, 100)):
        for d in "AB":
            (root / f"{split}{d}").mkdir(parents=True)
        for i in range(count):
            red = _red(base + i)
            Image.fromarray(red).save(root / f"{split}A" / f"img {i}.png")
            other = red if split == "test" else _red(base + 50 + i)
            Image.fromarray(other[..., ::-1].copy()).save(root / f"{split}B" / f"img {i}.png")
    return root


@pytest.fixture
def prepared(red_blue, tmp_path):
    return evaluate.prepare(str(red_blue), SIZE, N, cache_dir=tmp_path / "cache", paired=True,
                            **FAST)


def test_prepare_loads_pairs_and_a_trustworthy_classifier(prepared):
    assert prepared.paired
    assert prepared.domains == {"A": "A", "B": "B"}  # "red2blue" is not parsed into names
    assert prepared.test["A"].shape == (N, 3, SIZE, SIZE)
    assert torch.equal(prepared.test["A"][:, [2, 1, 0]], prepared.test["B"])
    assert prepared.classifier_info["accuracy"] == 1.0
    assert prepared.classifier_info["cached"] is False


def test_perfect_translation_scores(prepared):
    res, out = evaluate.evaluate_generator(prepared, SwapRB(), "A2B")
    assert torch.equal(out, prepared.test["B"])
    assert res["domain_score"] == 1.0
    assert res["input_domain_score"] == 0.0
    assert res["paired"]["psnr"] == metrics.PSNR_CAP
    assert res["paired"]["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert res["paired"]["l1"] == 0.0
    assert res["fid"] is None and res["kid"] is None
    back, _ = evaluate.evaluate_generator(prepared, SwapRB(), "B2A")
    assert back["domain_score"] == 1.0 and back["paired"]["l1"] == 0.0


def test_untranslated_output_scores(prepared):
    res, _ = evaluate.evaluate_generator(prepared, Identity(), "A2B")
    assert res["domain_score"] == 0.0
    assert res["structure_ssim"] == pytest.approx(1.0, abs=1e-6)
    expected_l1 = float(metrics.l1(prepared.test["A"], prepared.test["B"]).mean())
    assert res["paired"]["l1"] == pytest.approx(expected_l1)
    assert res["paired"]["psnr"] < 15


def test_classifier_is_cached_per_data(red_blue, tmp_path, prepared):
    again = evaluate.prepare(str(red_blue), SIZE, N, cache_dir=tmp_path / "cache",
                             paired=True, **FAST)
    assert again.classifier_info["cached"] is True
    assert len(list((tmp_path / "cache").glob("domain-classifier-*.pt"))) == 1
    x = prepared.test["A"]
    assert torch.equal(metrics.prob_domain_b(again.classifier, x),
                       metrics.prob_domain_b(prepared.classifier, x))
    other = evaluate.prepare(str(red_blue), SIZE, N, cache_dir=tmp_path / "cache",
                             **{**FAST, "classifier_steps": 39})
    assert other.classifier_info["cached"] is False


def test_shared_file_names_alone_do_not_pair(red_blue, tmp_path):
    # Issue 22: numbered photos (0001.jpg in both folders) were paired with unrelated ones.
    ed = evaluate.prepare(str(red_blue), SIZE, N, cache_dir="", **FAST)
    assert not ed.paired and ed.pair_note.startswith("unpaired") and "--paired" in ed.pair_note
    res, _ = evaluate.evaluate_generator(ed, SwapRB(), "A2B")
    assert res["paired"] is None and res["paired_note"] == ed.pair_note


def test_paired_needs_the_same_file_names(red_blue):
    ed = evaluate.prepare(str(red_blue), SIZE, N, cache_dir="", paired=True, **FAST)
    assert ed.paired and ed.pair_note.startswith("paired: --paired given")
    (red_blue / "testB" / "img 3.png").rename(red_blue / "testB" / "other.png")
    with pytest.raises(evaluate.EvalError, match="same file names.*'img 3.png'|other.png"):
        evaluate.prepare(str(red_blue), SIZE, N, cache_dir="", paired=True, **FAST)


class _Features(torch.nn.Module):
    """Channel means and spreads; insists on NVIDIA-style uint8 input at 12 x 12."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        if not return_features:
            return torch.zeros(x.shape[0], 1)
        if x.dtype != torch.uint8 or x.shape[-1] != 12 or x.shape[-2] != 12:
            raise RuntimeError("expected uint8 12 x 12 input")
        f = x.float() / 255.0
        return torch.cat([f.mean((2, 3)), f.std((2, 3))], 1)


class _UnitFeatures(torch.nn.Module):
    def forward(self, x: torch.Tensor):
        if x.min() < 0.0 or x.max() > 1.0:
            raise RuntimeError("expected 0..1 input")
        return x.mean((2, 3)), x


def test_fid_kid_with_a_scripted_extractor(red_blue, tmp_path):
    path = tmp_path / "feat.pt"
    torch.jit.script(_Features()).save(str(path))
    ed = evaluate.prepare(str(red_blue), SIZE, N, cache_dir=tmp_path / "c", inception=path,
                          inception_size=12, **FAST)
    good, _ = evaluate.evaluate_generator(ed, SwapRB(), "A2B")
    bad, _ = evaluate.evaluate_generator(ed, Identity(), "A2B")
    assert good["fid"] == pytest.approx(0.0, abs=1e-9)
    assert abs(good["kid"]) < 1e-4
    assert bad["fid"] > 0.3 and bad["kid"] > 100 * abs(good["kid"])
    feats = ed.extractor(ed.test["B"])
    assert feats.shape == (N, 6) and feats.dtype == torch.float64

    unit = tmp_path / "unit.pt"
    torch.jit.script(_UnitFeatures()).save(str(unit))
    ed2 = evaluate.prepare(str(red_blue), SIZE, N, cache_dir=tmp_path / "c", inception=unit,
                           inception_input="unit", inception_size=0, **FAST)
    res, _ = evaluate.evaluate_generator(ed2, SwapRB(), "A2B")
    assert res["fid"] == pytest.approx(0.0, abs=1e-9)


def test_wrong_input_range_is_reported(red_blue, tmp_path):
    unit = tmp_path / "unit.pt"
    torch.jit.script(_UnitFeatures()).save(str(unit))
    ed = evaluate.prepare(str(red_blue), SIZE, N, cache_dir=tmp_path / "c", inception=unit,
                          inception_input="signed", inception_size=0, **FAST)
    with pytest.raises(judge.FeatureError, match="inception-input"):
        evaluate.evaluate_generator(ed, SwapRB(), "A2B")


def test_bad_inception_file(red_blue, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(judge.FeatureError, match="TorchScript"):
        judge.FeatureExtractor(junk)
    with pytest.raises(judge.FeatureError, match="not found"):
        judge.FeatureExtractor(tmp_path / "missing.pt")


def _checkpoint(path, directions=("A2B", "B2A"), domains=None):
    cfg = ModelConfig(ngf=4, ndf=4, n_blocks=1)
    state = new_checkpoint(cfg, domains)
    for d in directions:
        state[f"G_{d}"] = ResnetGenerator(cfg, fused=False).state_dict()
    state.update(step=7, train_config={"data": "builtin:seasons", "image_size": SIZE})
    save_checkpoint(path, state)
    return path


def test_evaluate_checkpoint_on_builtin(tmp_path):
    ckpt = _checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt", ("A2B",))
    res = evaluate.evaluate(tmp_path / "run", max_images=4, cache_dir=tmp_path / "c",
                            classifier_images=8, classifier_steps=10, quiet=True, device="cpu",
                            use_judge=False)
    assert res["checkpoint"] == str(ckpt)
    assert res["data"] == "builtin:seasons" and res["image_size"] == SIZE and res["step"] == 7
    assert res["paired"] is True
    a2b = res["directions"]["A2B"]
    assert set(a2b["paired"]) == {"psnr", "ssim", "l1"}
    assert "skipped" in res["directions"]["B2A"]
    json.dumps(res, allow_nan=False)
    table = report.format_eval(res)
    assert "paired PSNR" in table and "FID/KID skipped" in table and "offline" in table
    assert "paired metrics: paired: builtin:seasons" in table


def test_cli_eval(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "model.pt")
    out = tmp_path / "eval.json"
    rc = eval_cli.main([str(ckpt), "--data", "builtin:seasons", "--max-images", "3",
                        "--classifier-images", "6", "--classifier-steps", "5", "--cache-dir",
                        str(tmp_path / "c"), "--json", str(out), "--quiet", "--device", "cpu",
                        "--direction", "B2A", "--no-judge"])
    assert rc == 0
    res = json.loads(out.read_text())
    assert list(res["directions"]) == ["B2A"]
    assert "B2A (winter -> summer)" in capsys.readouterr().out
    assert eval_cli.main([str(tmp_path / "nothing.pt"), "--quiet"]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert eval_cli.main([str(ckpt), "--max-images", "0"]) == 2
    assert eval_cli.main([str(ckpt), "--data", str(tmp_path / "nope"), "--quiet",
                          "--cache-dir", ""]) == 2
    assert "nope" in capsys.readouterr().err


def test_real_photos(real_data, tmp_path):
    ed = evaluate.prepare(str(real_data), 32, 3, cache_dir="", classifier_images=4,
                          classifier_steps=5, quiet=True, device="cpu", use_judge=False)
    assert ed.domains == {"A": "A", "B": "B"}  # names come from --domains, not the folder
    assert not ed.paired
    assert ed.test["A"].shape == (3, 3, 32, 32) and ed.test["B"].shape == (3, 3, 32, 32)


def test_distribution_distance_tells_translation_from_colour_shift(prepared):
    perfect, _ = evaluate.evaluate_generator(prepared, SwapRB(), "A2B")
    untouched, _ = evaluate.evaluate_generator(prepared, Identity(), "A2B")
    # Outputs equal to the real target photos: zero distance; the inputs: far away.
    assert perfect["fd_clf"] == pytest.approx(0.0, abs=1e-6)
    assert perfect["kid_clf"] < untouched["kid_clf"]
    assert untouched["fd_clf"] > 1.0
    base = evaluate.score_baselines(prepared, "A2B")
    # Red and blue are no seasons: no season look among the baselines.
    assert list(base) == ["untranslated", "grayscale", "colour transfer"]
    assert base["untranslated"]["fd_clf"] == pytest.approx(untouched["fd_clf"])
    # Per-channel statistics transfer is a perfect "translation" of red into blue here,
    # so it must come out far closer than the untranslated input.
    assert base["colour transfer"]["fd_clf"] < 0.1 * base["untranslated"]["fd_clf"]
    assert base["colour transfer"]["domain_score"] == 1.0


def _reference_fd(x: np.ndarray, y: np.ndarray) -> float:
    """Frechet distance in numpy: tr((C1 C2)^1/2) from the eigenvalues of C1 C2."""
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    eig = np.linalg.eigvals(c1 @ c2).real.clip(0, None)
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(c1) + np.trace(c2)
                 - 2 * np.sqrt(eig).sum())


def test_best_baseline_is_the_argmin_of_independently_computed_distances(red_blue, tmp_path):
    # Issue 22: the ratio used to be checked against the same dict that chose the best.
    model = _checkpoint(tmp_path / "model.pt")
    kw = dict(max_images=N, cache_dir=tmp_path / "c", classifier_images=20,
              classifier_steps=40, quiet=True, device="cpu", use_judge=False)
    res = evaluate.evaluate(model, str(red_blue), image_size=SIZE, **kw)
    ed = evaluate.prepare(str(red_blue), SIZE, N, **{k: v for k, v in kw.items()
                                                     if k != "max_images"})
    assert ed.classifier_info["cached"]  # the very classifier evaluate() used

    def embed(x):
        with torch.no_grad():
            return ed.classifier.embed(metrics.resize(x, 64)).double().numpy()

    for direction in ("A2B", "B2A"):
        src, tgt = direction[0], direction[2]
        real = embed(ed.test[tgt])
        stats = ed.train_stats(tgt)
        mine = {name: _reference_fd(embed(fn(ed.test[src], stats)), real)
                for name, fn in baselines.for_direction(direction, ed.domains).items()}
        r = res["directions"][direction]
        oracle = min(mine, key=mine.get)
        assert r["best_baseline"]["fd_clf"] == oracle
        assert r["baselines"][oracle]["fd_clf"] == pytest.approx(mine[oracle], rel=1e-6,
                                                                 abs=1e-9)
        assert r["vs_best_baseline"]["fd_clf"] == pytest.approx(r["fd_clf"] / mine[oracle],
                                                                rel=1e-6)
    table = report.format_eval(res)
    assert "against learning-free baselines" in table and "colour transfer" in table


def test_classifier_cache_is_the_users_own(monkeypatch, tmp_path):
    # Issue 13: a fixed path in the shared temp folder lets another user plant a classifier.
    from cyclegan.evaluation.evaldata import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "cyclegan" / "eval"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "cyclegan" / "eval"


def test_evaluate_an_exported_or_bundled_onnx_model(tmp_path):
    from cyclegan.cli.export import main as export_main

    ckpt = _checkpoint(tmp_path / "model.pt", ("B2A",))
    assert export_main([str(ckpt), "--out", str(tmp_path / "onnx"), "--quiet"]) == 0
    kw = dict(max_images=3, cache_dir=tmp_path / "c", classifier_images=6, classifier_steps=5,
              quiet=True, device="cpu", use_judge=False)
    res = evaluate.evaluate(tmp_path / "onnx" / "G_B2A.onnx", "builtin:seasons",
                            image_size=SIZE, **kw)
    assert "skipped" in res["directions"]["A2B"]
    from_ckpt = evaluate.evaluate(ckpt, "builtin:seasons", image_size=SIZE, **kw)
    got, want = res["directions"]["B2A"], from_ckpt["directions"]["B2A"]
    assert got["fd_clf"] == pytest.approx(want["fd_clf"], rel=1e-3, abs=1e-6)
    # Another generator planted as the int8 variant: infer's `auto` would run it on a CPU,
    # eval must still score the file it was given.
    other = _checkpoint(tmp_path / "other.pt", ("B2A",))
    assert export_main([str(other), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    (tmp_path / "o" / "G_B2A.onnx").rename(tmp_path / "onnx" / "G_B2A.int8.onnx")
    again = evaluate.evaluate(tmp_path / "onnx" / "G_B2A.onnx", "builtin:seasons",
                              image_size=SIZE, **kw)["directions"]["B2A"]
    assert again["fd_clf"] == pytest.approx(want["fd_clf"], rel=1e-3, abs=1e-6)
    planted = evaluate.evaluate(tmp_path / "onnx" / "G_B2A.int8.onnx", "builtin:seasons",
                                image_size=SIZE, **kw)["directions"]["B2A"]
    assert planted["fd_clf"] != pytest.approx(want["fd_clf"], rel=1e-3, abs=1e-6)
    demo = evaluate.evaluate("demo", "builtin:seasons", image_size=SIZE, **kw)
    assert demo["directions"]["A2B"]["domain_score"] >= 0
    assert res["detail"] == "guided"
    # --detail reaches the exported file's Translator (how outputs get their size).
    held = evaluate._generators(tmp_path / "onnx" / "G_B2A.onnx", "texture")[1]
    assert held["B2A"].options.detail == "texture"


def test_images_larger_than_the_working_scale_are_translated_there():
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape[-2:]))
            return x  # identity: the guided step must give the input back

    images = torch.rand(3, 3, 64, 48) * 2 - 1
    images = ((images + 1) * 127.5).round() / 127.5 - 1  # on the 8-bit grid
    out = evaluate.translate(Spy(), images, batch_size=2, work_size=32)
    assert seen == [(44, 32), (44, 32)]  # 42.67 -> 43 rows, padded to 44
    assert out.shape == images.shape
    assert (out - images).abs().max() <= 1.01 / 127.5
    seen.clear()
    evaluate.translate(Spy(), images, batch_size=2, work_size=64)
    assert seen == [(64, 48), (64, 48)]  # no larger than the scale: as before


@pytest.mark.parametrize("detail", ["texture", "resize"])
def test_outputs_get_their_size_as_cyclegan_infer_gives_it_with_each_detail(detail):
    """A generator that paints a white square at the working scale: eval's outputs with
    --detail are cyclegan-infer's (Translator) with it, and differ from guided's."""
    class Snow(torch.nn.Module):
        def forward(self, x):
            y = x.clone()
            y[..., 8:24, 8:24] = 1.0
            return y

    images = torch.rand(3, 3, 64, 48) * 2 - 1
    images = ((images + 1) * 127.5).round() / 127.5 - 1
    got = evaluate.translate(Snow(), images, batch_size=2, work_size=32, detail=detail)
    infer = Translator.around(lambda x: Snow()(torch.from_numpy(x)).numpy(), work_size=32,
                              detail=detail)
    u8 = ((images + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    want = torch.from_numpy(np.stack([infer(im) for im in u8])).permute(0, 3, 1, 2)
    assert torch.equal(((got + 1) * 127.5).round().to(torch.uint8), want)
    guided = evaluate.translate(Snow(), images, batch_size=2, work_size=32)
    assert (got - guided).abs().mean() > 0.05


def test_default_size_is_the_models_working_scale():
    assert evaluate.working_scale({}, {"data": "photos/", "image_size": 128,
                                       "load_size": 256}) == 256
    assert evaluate.working_scale({}, {"data": "builtin:seasons", "image_size": 64}) == 64
    assert evaluate.working_scale({}, {}) == 256  # converted weights: the default


def test_judge_distances_next_to_the_classifiers(red_blue, tmp_path):
    ed = evaluate.prepare(str(red_blue), SIZE, N, cache_dir=tmp_path / "c",
                          **{**FAST, "use_judge": True})
    assert ed.judge is not None and "EfficientNet-Lite0" in ed.judge_note
    perfect, _ = evaluate.evaluate_generator(ed, SwapRB(), "A2B")
    untouched, _ = evaluate.evaluate_generator(ed, Identity(), "A2B")
    for space in evaluate.SPACES:
        # The outputs are the real blue photos themselves: zero distance in every space.
        assert perfect[f"fd_{space}"] == pytest.approx(0.0, abs=1e-6)
        assert untouched[f"fd_{space}"] > 1.0
    # The real photos and every baseline's outputs were cached; the model's were not.
    base = evaluate.score_baselines(ed, "A2B")
    entries = len(list((tmp_path / "c").glob("judge-*.pt")))
    assert entries == 1 + len(base)
    assert base["colour transfer"]["fd_pool"] < base["untranslated"]["fd_pool"]
    halves = evaluate.real_halves(ed, "B")
    assert set(halves) == {"fd_clf", "fd_pool", "fd_s16", "fd_pool_luma", "fd_s16_luma"}
    assert all(v >= 0 for v in halves.values())


def test_eval_without_the_extra_says_how_to_get_the_distances(tmp_path, monkeypatch,
                                                              without_efficientnet):
    monkeypatch.setattr(backbone, "inference_copy", backbone.inference_copy.__wrapped__)
    monkeypatch.setattr(backbone, "version", backbone.version.__wrapped__)
    _checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt", ("A2B",))
    res = evaluate.evaluate(tmp_path / "run", max_images=4, cache_dir=tmp_path / "c",
                            classifier_images=8, classifier_steps=10, quiet=True, device="cpu")
    a2b = res["directions"]["A2B"]
    assert a2b["fd_pool"] is None and a2b["fd_clf"] is not None
    assert set(a2b["best_baseline"]) == {"fd_clf"}
    table = report.format_eval(res)
    skipped = [line for line in table.splitlines() if "EfficientNet-Lite" in line]
    assert len(skipped) == 1 and 'pip install "cyclegan[efficientnet]"' in skipped[0]


def test_baseline_names_come_from_the_domains(tmp_path, capsys):
    # Issue 22: horses got a "winter look" baseline.
    ckpt = _checkpoint(tmp_path / "model.pt", ("A2B",), {"A": "horse", "B": "zebra"})
    kw = dict(max_images=3, cache_dir=tmp_path / "c", classifier_images=6, classifier_steps=5,
              quiet=True, device="cpu", use_judge=False)
    res = evaluate.evaluate(ckpt, "builtin:seasons", image_size=SIZE, **kw)
    a2b = res["directions"]["A2B"]
    assert (a2b["source"], a2b["target"]) == ("horse", "zebra")
    assert list(a2b["baselines"]) == ["untranslated", "grayscale", "colour transfer"]
    assert eval_cli.main([str(ckpt), "--data", "builtin:seasons", "--max-images", "3",
                          "--classifier-images", "6", "--classifier-steps", "5", "--cache-dir",
                          str(tmp_path / "c"), "--quiet", "--device", "cpu", "--no-judge",
                          "--domains", "summer,Winter", "--image-size", str(SIZE)]) == 0
    out = capsys.readouterr().out
    assert "A2B (summer -> Winter)" in out and "Winter look" in out


def _one_test_image(red_blue):
    for p in sorted((red_blue / "testB").iterdir())[1:]:
        p.unlink()
    return red_blue


def test_one_test_image_is_a_clear_error(red_blue, tmp_path, capsys):
    # Issue 22: a traceback from KID.
    ckpt = _checkpoint(tmp_path / "model.pt")
    _one_test_image(red_blue)
    rc = eval_cli.main([str(ckpt), "--data", str(red_blue), "--quiet", "--device", "cpu",
                        "--cache-dir", "", "--no-judge", "--classifier-steps", "5"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "testB holds 1 image" in err and "at least 2" in err


def test_huge_image_size_is_refused_before_loading(tmp_path, capsys, monkeypatch):
    # Issue 22: --image-size 40000 ended in a MemoryError traceback.
    ckpt = _checkpoint(tmp_path / "model.pt")
    monkeypatch.setattr(evaldata, "_load_test", lambda *a: pytest.fail("loaded images"))
    rc = eval_cli.main([str(ckpt), "--data", "builtin:seasons", "--image-size", "40000",
                        "--quiet", "--device", "cpu", "--cache-dir", ""])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "--image-size 40000" in err and "GiB" in err
    # The bound is the memory there is: with 1 GiB free, 256 px x 100 images fits
    # (8 x 100 x 3 x 256^2 x 4 bytes = 0.59 GiB), 512 px does not; the largest that fits
    # is suggested.
    monkeypatch.setattr(hostmem, "host_available_bytes", lambda: 2**30)
    evaldata.check_memory(256, 100)
    with pytest.raises(evaluate.EvalError, match=r"use --image-size 332 or less"):
        evaldata.check_memory(512, 100)


def test_out_of_memory_in_the_generator_is_one_line(prepared):
    class Hungry(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                               "can't allocate memory: you tried to allocate 9999999999 bytes")

    with pytest.raises(evaluate.EvalError, match="out of memory.*--batch-size"):
        evaluate.evaluate_generator(prepared, Hungry(), "A2B")

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):  # a bug stays a bug
        evaluate.evaluate_generator(prepared, Broken(), "A2B")


@pytest.mark.parametrize("where", ["folder", "under a file"])
def test_json_path_is_checked_before_the_run(tmp_path, capsys, monkeypatch, where):
    # Issue 22: --json naming a folder was found only after the whole run.
    ckpt = _checkpoint(tmp_path / "model.pt")
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: pytest.fail("ran"))
    (tmp_path / "file.txt").write_text("x")
    target = tmp_path if where == "folder" else tmp_path / "file.txt" / "eval.json"
    rc = eval_cli.main([str(ckpt), "--json", str(target), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert ("is a folder" in err) if where == "folder" else ("is not a folder" in err)
    # A missing folder is fine: the writer creates it.
    eval_cli.check_output(tmp_path / "new" / "deeper" / "eval.json")
