import csv
import json
import re

import numpy as np
import pytest
from PIL import Image

from cyclegan import grids
from cyclegan.checkpoint import new_checkpoint, save_checkpoint
from cyclegan.cli import sweep as sweep_cli
from cyclegan.evaluation import report, sweep, sweepgrid
from cyclegan.models import ModelConfig, ResnetGenerator


def test_run_summary_from_log(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"train": {"batch_size": 2},
                                                      "world_size": 1}))
    records = [{"step": 10, "images_per_s": 4.0}, {"step": 30, "images_per_s": 8.0}]
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n{\"st")
    info = sweep.run_summary(tmp_path)
    # 10 steps x 2 images at 4/s + 20 steps x 2 images at 8/s = 5 + 5 s.
    assert info["steps"] == 30 and info["train_time_s"] == pytest.approx(10.0)
    assert sweep.run_summary(tmp_path / "missing")["steps"] is None


def _fake_run(run, step, finished):
    cfg = ModelConfig(ngf=4, ndf=4, n_blocks=1)
    state = new_checkpoint(cfg, {"A": "summer", "B": "winter"})
    g = ResnetGenerator(cfg, fused=False).state_dict()
    state.update(G_A2B=g, G_B2A=g, step=step, finished=finished,
                 train_config={"data": "builtin:seasons", "image_size": 16})
    save_checkpoint(run / "checkpoints" / "latest.pt", state)


def test_resumability_with_a_recording_runner(tmp_path):
    configs = sweepgrid.parse_grid(["lambda_cyc=10,5,1"])
    runs = tmp_path / "runs"
    _fake_run(runs / "lambda_cyc-10", 3, finished=True)
    _fake_run(runs / "lambda_cyc-5", 2, finished=False)
    calls = []

    def runner(cmd, env):
        calls.append(cmd)
        return 0

    what = sweep.train_all("builtin:seasons", tmp_path, configs, ["--steps", "4"], runner,
                           quiet=True)
    assert what == {"lambda_cyc-10": "skipped", "lambda_cyc-5": "resumed",
                    "lambda_cyc-1": "trained"}
    assert len(calls) == 2
    assert calls[0][-2:] == ["--resume", str(runs / "lambda_cyc-5")]
    assert calls[0][1:3] == ["-m", "cyclegan.train"]
    assert "--resume" not in calls[1] and "--out" in calls[1]
    assert calls[1][calls[1].index("--lambda-cyc") + 1] == "1"
    # A run that reached the asked-for --steps counts as done.
    _fake_run(runs / "lambda_cyc-1", 4, finished=False)
    assert sweep.run_state(runs / "lambda_cyc-1", 4) == ("done", 4)
    assert sweep.run_state(runs / "lambda_cyc-1", 8) == ("partial", 4)

    def failing(cmd, env):
        return 3

    with pytest.raises(sweepgrid.SweepError, match="exit status 3"):
        sweep.train_all("builtin:seasons", tmp_path, configs, ["--steps", "8"], failing,
                        quiet=True)


def test_bad_probe_fails_before_training(tmp_path):
    bad = tmp_path / "probe.png"
    bad.write_bytes(b"not an image")

    def runner(cmd, env):
        raise AssertionError("must not train")

    with pytest.raises(sweepgrid.SweepError, match="probe"):
        sweep.run_sweep("builtin:seasons", tmp_path / "r", sweepgrid.parse_grid(["lambda_cyc=1"]),
                        probes=[str(bad)], runner=runner, quiet=True)


def test_green_probe_is_green_and_round():
    img = np.asarray(report.green_probe(64)).astype(int)
    assert img.shape == (64, 64, 3)
    green = (img[..., 1] > img[..., 0] + 40) & (img[..., 1] > img[..., 2] + 100)
    assert 0.2 < green.mean() < 0.4
    assert green[31, 19] and not green[31, 32]  # flesh between rim and seeds; pale core
    corner = img[2, 2]
    assert corner.min() > 200  # light background


def _links(html: str) -> list[str]:
    return re.findall(r"(?:src|href)='([^']+)'", html)


TRAIN = ["--steps", "2", "--image-size", "32", "--ngf", "4", "--ndf", "4", "--n-blocks", "1",
         "--workers", "0", "--log-every", "1", "--no-fused", "--device", "cpu"]


def test_end_to_end_tiny_sweep(tmp_path, capsys):
    out = tmp_path / "report"
    probe = tmp_path / "probe photo.png"
    Image.new("RGB", (40, 30), (30, 200, 60)).save(probe)
    argv = ["--data", "builtin:seasons", "--out", str(out), "--config",
            "lambda_cyc=10,d_ratio=2", "--config", "lambda_cyc=5,d_ratio=1", "--probe",
            str(probe), "--test-images", "2", "--eval-images", "4", "--classifier-steps", "20",
            "--device", "cpu", "--", *TRAIN]
    assert sweep_cli.main(argv) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "[1/2] lambda_cyc-10_d_ratio-2: training" in err
    names = ["lambda_cyc-10_d_ratio-2", "lambda_cyc-5_d_ratio-1"]
    for f in ("grid_A2B.png", "grid_B2A.png", "probes_A2B.png", "probes_B2A.png", "metrics.md",
              "metrics.csv", "metrics.json", "index.html"):
        assert (out / f).is_file(), f
    for n in names:
        assert (out / "runs" / n / "checkpoints" / "latest.pt").is_file()

    # Grids: a header plus one row per test image / probe, a column per config + input.
    grid = Image.open(out / "grid_A2B.png")
    probes = Image.open(out / "probes_B2A.png")
    tile = grids.MIN_TILE
    assert grid.size[0] >= 3 * tile and grid.size[1] >= 2 * tile
    assert 2 * tile <= probes.size[1] < 3 * tile + 80

    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [(r["config"], r["direction"][:3]) for r in rows] == [
        (names[0], "A2B"), (names[0], "B2A"), (names[1], "A2B"), (names[1], "B2A")]
    for r in rows:
        assert 0 <= float(r["domain_score"]) <= 1 and r["psnr"] and r["steps"] == "2"
        assert float(r["train_time_s"]) > 0
    md = (out / "metrics.md").read_text()
    assert md.count("\n") == 6 and "paired PSNR dB" in md
    full = json.loads((out / "metrics.json").read_text())
    assert full["probe_names"] == ["green probe", "probe photo.png"]

    page = (out / "index.html").read_text()
    links = _links(page)
    assert "grid_A2B.png" in links and "probes_B2A.png" in links and "metrics.csv" in links
    for link in links:
        assert not re.match(r"[a-z]+:|/", link), link
        assert (out / link).exists(), link
    assert "http" not in page.lower()
    assert "Rows: green probe, probe photo.png" in page

    # Second invocation: nothing is retrained, the checkpoints are untouched.
    ckpts = [out / "runs" / n / "checkpoints" / "latest.pt" for n in names]
    mtimes = [p.stat().st_mtime_ns for p in ckpts]

    def runner(cmd, env):
        raise AssertionError(f"retrained: {cmd}")

    summary = sweep.run_sweep("builtin:seasons", out, sweepgrid.parse_configs(
        ["lambda_cyc=10,d_ratio=2", "lambda_cyc=5,d_ratio=1"]), TRAIN, test_images=2,
        eval_images=4, classifier_steps=20, device="cpu", runner=runner, quiet=True)
    assert [p.stat().st_mtime_ns for p in ckpts] == mtimes
    assert [r["this_invocation"] for r in summary["results"]] == ["skipped", "skipped"]
    again = [r["domain_score"] for r in summary["rows"]]
    assert again == [float(r["domain_score"]) for r in rows]
