"""cyclegan-infer as a command: --help and --version, interrupts (Ctrl-C, SIGTERM) and
resuming, and the paths that must never import torch."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import cyclegan
from cyclegan.cli.infer import main
from cyclegan.models import ModelConfig

from conftest import (
    FIXTURE_0_1_0,
    SEASON_DOMAINS,
    decodes_fully,
    noise,
    run_cli,
    smooth,
    tiny_onnx,
    wait_until,
)


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--model", "--device", "--batch-size", "--format", "--quality", "--size",
                 "--max-size", "--overwrite", "--shard", "exported to ONNX in memory",
                 "default: 8", "exit status"):
        assert flag in text, flag
    with pytest.raises(SystemExit):
        main(["--version"])
    assert cyclegan.__version__ in capsys.readouterr().out


# Interrupted runs: a real process, a model slow enough to be caught mid-way.


@pytest.fixture(scope="module")
def slow_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("slow")
    model, _ = tiny_onnx(root / "slow.onnx", ModelConfig(ngf=16, n_blocks=3), seed=1,
                         domains=SEASON_DOMAINS)
    src = root / "in"
    src.mkdir()
    for i in range(40):
        smooth(192, 160).save(src / f"img {i:03d}.jpg", quality=80)
    return model, src


def _start(model, src, out):
    env = dict(os.environ)
    if not os.environ.get("CYCLEGAN_TEST_INSTALLED"):
        pkg_root = str(Path(cyclegan.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_root, env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "cyclegan.cli.infer", str(src), str(out), "--model",
           str(model), "--workers", "1", "--threads", "1", "--batch-size", "1"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_outputs(proc, out: Path, n: int) -> None:
    wait_until(lambda: out.is_dir() and len(list(out.glob("*.jpg"))) >= n, proc,
               f"{n} outputs were written")


def _check_outputs(out: Path) -> list[Path]:
    outputs = sorted(out.glob("*.jpg"))
    assert all(decodes_fully(p) for p in outputs)
    return outputs


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupted_run_then_rerun_completes(slow_job, tmp_path, sig, capsys):
    model, src = slow_job
    out = tmp_path / "out"
    proc = _start(model, src, out)
    _wait_for_outputs(proc, out, 3)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    done = _check_outputs(out)
    assert 3 <= len(done) < 40
    if sig != signal.SIGKILL:
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], stderr
        assert f"interrupted by {sig.name}" in stdout and "run the same command again" in stdout
        assert "Traceback" not in stderr, stderr
        assert not list(out.glob(".*"))  # in-flight writes finished or discarded
    else:
        assert proc.returncode == -signal.SIGKILL
    assert run_cli("infer", src, out, "--model", model, "--quiet") == 0
    assert f"translated {40 - len(done)}, skipped {len(done)}" in capsys.readouterr().out
    assert len(_check_outputs(out)) == 40
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in src.iterdir())


def test_a_second_ctrl_c_aborts_at_once_with_one_line(slow_job, tmp_path, monkeypatch,
                                                      capsys):
    """The first Ctrl-C asks the pipeline to wind down (it finishes the writes in flight);
    a second one stops the command at once: 130 and one line, no summary, no traceback."""
    from cyclegan.infer import inprocess as plan_mod

    model, src = slow_job
    seen = {}

    def translate(model, jobs, opts, on_result):
        os.kill(os.getpid(), signal.SIGINT)
        seen["stop after the first"] = opts.stop.is_set()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the second Ctrl-C raises here
        seen["not aborted"] = True

    monkeypatch.setattr(plan_mod, "translate", translate)
    assert run_cli("infer", src, tmp_path / "out", "--model", model) == 130
    assert seen == {"stop after the first": True}
    out, err = capsys.readouterr()
    assert "stopping; finishing writes in progress" in err
    assert [line for line in err.splitlines() if line.startswith("cyclegan-infer:")] == [
        "cyclegan-infer: SIGINT: aborted; run the same command again to finish"], err
    assert "Traceback" not in err and "interrupted by" not in out  # no summary


# The ONNX path is torch-free; files written by 0.1.0 still work.

TORCH_FREE = """
import sys
from cyclegan.cli.{cli} import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exc:
    rc = exc.code
torch = [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
print("TORCH-IMPORTED" if torch else "TORCH-FREE", file=sys.stderr)
sys.exit(rc)
"""


def run_torch_free(cli_name: str, *args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if not os.environ.get("CYCLEGAN_TEST_INSTALLED"):
        pkg_root = str(Path(cyclegan.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_root, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", TORCH_FREE.format(cli=cli_name),
                           *map(str, args)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_onnx_model_run_never_imports_torch(tiny, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    smooth(20, 12).save(src / "a.png")
    noise(9, 7, "RGBA").save(src / "b.png")
    done = run_torch_free("infer", src, tmp_path / "out", "--model", tiny[0], "--quiet")
    assert done.returncode == 0, done.stderr
    assert "TORCH-FREE" in done.stderr and "translated 2" in done.stdout
    assert Image.open(tmp_path / "out" / "b.png").size == (9, 7)


@pytest.mark.parametrize("args", [["--help"], ["--list-models"], ["--version"]])
def test_infer_help_never_imports_torch(args):
    done = run_torch_free("infer", *args)
    assert done.returncode == 0, done.stderr
    assert "TORCH-FREE" in done.stderr


def test_usage_error_without_torch(tmp_path):
    done = run_torch_free("infer", tmp_path / "absent", tmp_path / "out", "--model",
                          FIXTURE_0_1_0)
    assert done.returncode == 2 and "input not found" in done.stderr
    assert "TORCH-FREE" in done.stderr


NO_PYARROW = """
import builtins, sys
real = builtins.__import__
def guard(name, *args, **kwargs):
    if name.split(".")[0] == "pyarrow":
        raise ImportError(f"No module named {name!r}")
    return real(name, *args, **kwargs)
builtins.__import__ = guard
from cyclegan.cli.infer import main
sys.exit(main(sys.argv[1:]))
"""


def test_local_runs_need_no_pyarrow(tiny, tmp_path):
    # pyarrow comes with the ray extra only: a plain install's run with a failure (the
    # failures file written), then the same run once the bad file is gone (that file
    # removed), and a contact sheet, all on local paths. Red when storage's local branches
    # go through pyarrow (the installed wheel's smoke check caught that once).
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noise(24, 16).save(src / "a.png")
    (src / "bad.jpg").write_text("not a picture")
    args = [str(src), str(out), "--model", str(tiny[0]), "--quiet", "--contact-sheet"]

    def run_blocked():
        return subprocess.run([sys.executable, "-c", NO_PYARROW, *args], capture_output=True,
                              text=True, timeout=120)

    r = run_blocked()
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert (out / "cyclegan-failures.tsv").is_file() and (out / "a.png").is_file()
    (src / "bad.jpg").unlink()
    r = run_blocked()
    assert r.returncode == 0, r.stderr
    assert not (out / "cyclegan-failures.tsv").exists() and (out / "contact_sheet.png").is_file()
