"""SIGTERM and Ctrl-C, for every command: exit 143 / 130 with one line, nothing left behind.

The mechanism is cyclegan.stopping (shared with training's graceful stop, tested in
test_stopping.py, and cyclegan-infer's, tested in test_infer.py). Here every console
command is stopped in the middle of its work, in a real process: the ones that leave
temporary folders (int8 calibration) or child processes (a sweep's trainings) for real, and
the others at a known point of their body.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import cyclegan
from cyclegan.checkpoint import load_checkpoint
from cyclegan.fileio import is_temp
from cyclegan.models import ModelConfig

from conftest import summer_generator_and_photos, wait_until

PKG_ROOT = str(Path(cyclegan.__file__).resolve().parents[1])


def env_with(tmp: Path) -> dict:
    """The child imports this cyclegan and keeps its temporary files under `tmp`."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1"}
    if not os.environ.get("CYCLEGAN_TEST_INSTALLED"):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [PKG_ROOT, env.get("PYTHONPATH")]))
    return env


def start(args: list[str], tmp: Path, cwd: Path) -> subprocess.Popen:
    tmp.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, *args], env=env_with(tmp), cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 120) -> tuple[str, str]:
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running {timeout} s after {sig.name}")


def assert_one_line(proc, err: str, prog: str, code: int = 143, name: str = "SIGTERM"):
    assert proc.returncode == code, (proc.returncode, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"{prog}: {name}")]
    assert len(lines) == 1, err


def leftovers(*folders: Path) -> list[Path]:
    return [p for f in folders for p in f.rglob("*") if is_temp(p) or p.suffix == ".lock"]


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """A checkpoint and enough photos that int8 calibration runs for seconds."""
    root = tmp_path_factory.mktemp("sig")
    summer_generator_and_photos(root, ModelConfig(ngf=16, n_blocks=3), photos=64, size=96,
                                seed=7)
    return root


def test_sigterm_during_int8_calibration_leaves_no_temp_folder(calibration, tmp_path):
    # Issue 22: onnxruntime's ort.quant.* (a copy of the model) and our cyclegan-int8-*
    # stayed in the temp folder for good.
    tmp, out = tmp_path / "tmp", tmp_path / "out"
    proc = start(["-m", "cyclegan.cli.export", str(calibration / "g.pt"), "--out", str(out),
                  "--int8", "--calibrate", str(calibration / "photos"), "--calibrate-size",
                  "256", "--quiet"], tmp, tmp_path)
    wait_until(lambda: any(tmp.iterdir()), proc, "calibration started")
    _, err = stop(proc)
    assert_one_line(proc, err, "cyclegan-export")
    # onnxruntime's import writes one `.ses` (an id it reuses, not per run) into the temp
    # folder; anything else there is a leftover of the quantization.
    assert [p.name for p in tmp.iterdir() if p.name != ".ses"] == []
    assert not leftovers(out) and not (out / "G_A2B.int8.onnx").exists()


def test_sigterm_to_a_sweep_stops_its_training_with_a_checkpoint(tmp_path):
    report = tmp_path / "report"
    proc = start(["-m", "cyclegan.cli.sweep", "--data", "builtin:seasons", "--out",
                  str(report), "--config", "lambda_cyc=10", "--quiet", "--", "--image-size",
                  "32", "--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--workers", "0",
                  "--device", "cpu", "--no-fused", "--epochs", "1000", "--log-every", "1"],
                 tmp_path / "tmp", tmp_path)
    log = report / "runs" / "lambda_cyc-10" / "log.jsonl"
    wait_until(lambda: log.exists() and log.read_text().count("\n") >= 2, proc,
               "the training logged two steps")
    _, err = stop(proc)
    assert_one_line(proc, err, "cyclegan-sweep")
    # The training got the signal too: it finished its step and saved a checkpoint.
    saved = load_checkpoint(log.parent / "checkpoints" / "latest.pt")
    assert saved["step"] >= 2
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline")
                if str(log.parent) in p.read_bytes().decode(errors="replace")]
    assert not leftovers(report)


# Every command at a known point of its work: its body's entry point is replaced by one
# that says it started and then waits, in the real console command's process.
HARNESS = """
import importlib, pathlib, sys, time
module, name, marker, cli = sys.argv[1:5]
def started(*args, **kwargs):
    pathlib.Path(marker).touch()
    time.sleep(300)
setattr(importlib.import_module(module), name, started)
sys.exit(importlib.import_module("cyclegan.cli." + cli).main(sys.argv[5:]))
"""
COMMANDS = [
    # (console command, module and function its body calls, arguments)
    ("export", "cyclegan.export.to_onnx", "export_checkpoint", ["ckpt.pt", "--out", "o"]),
    ("eval", "cyclegan.evaluation.evaluate", "evaluate", ["run", "--data", "builtin:seasons"]),
    ("convert", "cyclegan.export.convert", "convert_file", ["a.pth", "--out", "c.pt"]),
    ("sweep", "cyclegan.evaluation.sweep", "run_sweep", ["--data", "builtin:seasons", "--out", "o",
                                              "--grid", "lambda_cyc=1,2"]),
    ("infer", "cyclegan.infer", "run", ["in", "out"]),
    ("train", "cyclegan.train.loop", "train", ["--data", "builtin:seasons", "--out", "r"]),
]


@pytest.mark.parametrize("cmd, module, name, args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_stops_with_one_line_on_sigterm(cmd, module, name, args, tmp_path):
    marker = tmp_path / "started"
    proc = start(["-c", HARNESS, module, name, str(marker), cmd, *args], tmp_path / "tmp",
                 tmp_path)
    wait_until(marker.exists, proc, f"cyclegan-{cmd} started its work")
    _, err = stop(proc)
    assert_one_line(proc, err, f"cyclegan-{cmd}")
