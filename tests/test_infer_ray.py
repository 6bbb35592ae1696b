"""cyclegan-infer --engine ray on a local Ray instance (2 CPUs, as in CI): the same files as
the in-process engine, resume, a killed actor, file:// URIs; and the actor's work
(ray_worker.TranslateActor) on its own, without Ray."""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclegan.cli.infer import main
from cyclegan.fileio import is_temp
from cyclegan.infer import InferConfig, bundled, ray_engine, run, storage
from cyclegan.infer.failures import read_failures
from cyclegan.infer.ray_engine import Actors, RayEngineError, RayOptions, plan_actors
from cyclegan.infer.ray_engine import run as run_ray
from cyclegan.infer.ray_worker import FAILED, SKIPPED, TRANSLATED, TranslateActor

from conftest import s3_standin

MODEL = "demo"  # the bundled demo generator: small and quick on a CPU
RNG = np.random.default_rng(0)


def photos(root: Path, n: int = 6, size: int = 48) -> Path:
    """Mixed sizes, formats and folders, an alpha channel and one broken file."""
    (root / "sub").mkdir(parents=True)
    for i in range(n):
        w, h = size + 8 * (i % 3), size - 4 * (i % 2)
        arr = RNG.integers(0, 256, (h, w, 4 if i == 1 else 3), dtype=np.uint8)
        name = ("sub/" if i % 2 else "") + f"p{i}" + (".png" if i < 2 else ".jpg")
        Image.fromarray(arr).save(root / name)
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_actor_translates_skips_and_stages_uris_without_ray(tmp_path):
    src = photos(tmp_path / "in", n=3)
    ref = tmp_path / "ref"
    run(InferConfig(input=src, output=ref, model=MODEL, quiet=True))
    model = bundled.model_path(MODEL)
    cfg = InferConfig(model=model, threads=1)
    started = time.time()
    actor = TranslateActor(model.name, model.read_bytes(), "auto", cfg, "cpu", 1, started)
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "p1.png").write_bytes(b"written by an earlier try")
    rows = {"src": np.array([str(src / "p0.png"), f"file://{src}/sub/p1.png",
                             f"file://{src}/p2.jpg", str(src / "broken.jpg")], dtype=object),
            "dst": np.array([str(out / "p0.png"), f"file://{out}/sub/p1.png",
                             f"file://{out}/p2.jpg", str(out / "broken.jpg")], dtype=object)}
    got = actor(rows)
    assert list(got["status"]) == [TRANSLATED, SKIPPED, TRANSLATED, FAILED]
    assert "Pillow can read" in got["reason"][3] and "demo" in got["model"][0]
    assert (out / "sub" / "p1.png").read_bytes() == b"written by an earlier try"
    for name in ("p0.png", "p2.jpg"):  # a local path and a URI: the in-process bytes
        assert (out / name).read_bytes() == (ref / name).read_bytes()
    assert not list(actor.scratch.glob("*/**/*.*"))  # staged files are gone

    # --overwrite: what the run wrote is kept, what was there before it is redone.
    old = time.time() - 3600
    os.utime(out / "p0.png", (old, old))
    redo = TranslateActor(model.name, model.read_bytes(), "auto",
                      InferConfig(model=model, overwrite=True), "cpu", 1, started)
    again = redo({k: v[:3] for k, v in rows.items()})
    assert list(again["status"]) == [TRANSLATED, SKIPPED, SKIPPED]


def test_actor_plan_follows_the_cluster():
    cpu_node, gpu_node = {"CPU": 16.0}, {"CPU": 32.0, "GPU": 4.0}
    assert plan_actors([cpu_node, cpu_node], "auto", RayOptions()) == Actors(8, 4, 0)
    assert plan_actors([{"CPU": 2.0}], "auto", RayOptions()) == Actors(1, 2, 0)
    assert plan_actors([cpu_node, gpu_node], "auto", RayOptions()) == Actors(4, 8, 1)
    assert plan_actors([gpu_node], "cpu", RayOptions(cpus_per_actor=3)) == Actors(10, 3, 0)
    assert plan_actors([gpu_node], "auto", RayOptions(actors=2)).count == 2
    with pytest.raises(Exception, match="no GPUs"):
        plan_actors([cpu_node], "cuda", RayOptions())


def test_actors_the_cluster_cannot_hold_are_refused():
    """Ray would wait for the resources forever at 0 images/s, without a word."""
    two = [{"CPU": 2.0}]
    with pytest.raises(RayEngineError, match="no live node of the Ray cluster has 1000 CPU "
                                             r"cores for an actor \(the largest has 2"):
        plan_actors(two, "auto", RayOptions(cpus_per_actor=1000))
    with pytest.raises(RayEngineError, match="--actors 3: the live nodes of the Ray cluster "
                                             "hold 2 actors of 1 CPU cores; ask for at most 2"):
        plan_actors(two, "cpu", RayOptions(actors=3, cpus_per_actor=1))
    gpus = [{"CPU": 8.0, "GPU": 2.0}]
    with pytest.raises(RayEngineError, match="hold 2 actors of 4 CPU cores and a GPU"):
        plan_actors(gpus, "auto", RayOptions(actors=3))
    assert plan_actors(two, "cpu", RayOptions(actors=2, cpus_per_actor=1)) == Actors(2, 1, 0)


def _infer(*args, timeout=120):
    """cyclegan-infer in a child process: (exit status, stderr, seconds)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "cyclegan.cli.infer", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stderr, time.monotonic() - start


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("cyclegan-infer:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_an_address_nobody_answers_at_fails_at_once(tmp_path):
    """A typo or a dead head node: Ray alone retries for minutes (over 400 s here)."""
    src = photos(tmp_path / "in", n=1)
    code, err, seconds = _infer(src, tmp_path / "out", "--model", MODEL, "--engine", "ray",
                                "--ray-address", "127.0.0.1:1")
    assert code == 2 and seconds < 60, (seconds, err)
    assert "cannot connect to the Ray cluster at 127.0.0.1:1: nothing answers there" in \
        _error_line(err)


@pytest.mark.slow  # about 45 s of waiting on Ray's one try (little CPU)
def test_an_address_that_is_not_ray_fails_within_a_minute(tmp_path):
    """Something answers, but not Ray (e.g. the dashboard's port): one try, not twenty."""
    src = photos(tmp_path / "in", n=1)
    with socket.create_server(("0.0.0.0", 0), backlog=64) as server:
        port = server.getsockname()[1]
        code, err, seconds = _infer(src, tmp_path / "out", "--model", MODEL, "--engine",
                                    "ray", "--ray-address", f"127.0.0.1:{port}")
    assert code == 2 and seconds < 90, (seconds, err)
    assert f"cannot connect to the Ray cluster at 127.0.0.1:{port}" in _error_line(err)


def test_without_ray_one_line_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main([str(tmp_path), str(tmp_path / "o"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "cyclegan[ray]"' in err


def test_ray_flags_and_uris_need_the_ray_engine(tmp_path, capsys):
    assert main([str(tmp_path), str(tmp_path / "o"), "--actors", "2"]) == 2
    assert "--actors is for --engine ray" in capsys.readouterr().err
    assert main([f"file://{tmp_path}", str(tmp_path / "o")]) == 2
    assert "--engine ray" in capsys.readouterr().err


# On a local Ray instance from here on: one for the module (starting it takes seconds).


@pytest.fixture(scope="module")
def s3():
    """S3 (moto's server) when moto[server] is installed, else None; ray_local starts after
    it, so that Ray's workers inherit its settings from the environment."""
    if importlib.util.find_spec("moto") is None:
        yield None
        return
    with s3_standin(["cg-ray"]) as requests:
        yield requests


@pytest.fixture(scope="module")
def ray_local(s3):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    yield ray
    ray.shutdown()


def test_same_files_as_the_in_process_engine(ray_local, tmp_path, capsys):
    src = photos(tmp_path / "in")
    main([str(src), str(tmp_path / "a"), "--model", MODEL, "--threads", "1", "--quiet"])
    capsys.readouterr()
    code = main([str(src), str(tmp_path / "b"), "--model", MODEL, "--threads", "1",
                 "--engine", "ray", "--actors", "2", "--cpus-per-actor", "1"])
    out = capsys.readouterr()
    assert code == 1  # the broken file, as in-process
    assert files(tmp_path / "a") == files(tmp_path / "b")  # outputs and failures table
    assert len(files(tmp_path / "b")) == 7
    assert "translated 6, skipped 0 (already done), failed 1" in out.out
    assert "2 actors x (1 CPU), model on cpu" in out.err


def test_rerun_resumes(ray_local, tmp_path):
    src = photos(tmp_path / "in")
    out = tmp_path / "out"
    first = run(InferConfig(input=src, output=out, model=MODEL, quiet=True))
    before = files(out)
    (out / "p0.png").unlink()
    (out / "sub" / "p3.jpg").unlink()
    cfg = InferConfig(input=src, output=out, model=MODEL, quiet=True)
    s = run_ray(cfg, RayOptions(cpus_per_actor=1))
    assert (first.translated, s.translated, s.skipped, s.failed) == (6, 2, 4, 1)
    assert files(out) == before
    s = run_ray(InferConfig(input=src, output=out, model=MODEL, quiet=True))
    assert (s.translated, s.skipped, s.failed) == (0, 6, 1)


def test_file_uris_in_and_out(ray_local, tmp_path):
    src = photos(tmp_path / "in")
    run(InferConfig(input=src, output=tmp_path / "ref", model=MODEL, quiet=True))
    uri = f"file://{tmp_path}/out"
    cfg = InferConfig(input=f"file://{src}", output=uri, model=MODEL, quiet=True)
    s = run_ray(cfg, RayOptions(actors=2, cpus_per_actor=1))
    assert (s.translated, s.skipped, s.failed) == (6, 0, 1)
    assert s.failures_file == f"{uri}/cyclegan-failures.tsv"
    assert read_failures(tmp_path / "out" / "cyclegan-failures.tsv") == \
        [(Path(f"file://{src}/broken.jpg"), "not an image Pillow can read (unknown or "
          "corrupt header)")]
    ref, got = files(tmp_path / "ref"), files(tmp_path / "out")
    assert {k: v for k, v in got.items() if k.endswith(("png", "jpg"))} == \
           {k: v for k, v in ref.items() if k.endswith(("png", "jpg"))}
    s = run_ray(InferConfig(input=f"file://{src}", output=uri, model=MODEL, quiet=True))
    assert (s.translated, s.skipped) == (0, 6)  # resumed through the URI listing


def test_s3_in_and_out(s3, ray_local, tmp_path):
    """Through moto's S3 server: the path a real bucket takes (pyarrow's S3 filesystem)."""
    if s3 is None:
        pytest.skip("moto[server] is not installed")
    src = photos(tmp_path / "in")
    run(InferConfig(input=src, output=tmp_path / "ref", model=MODEL, quiet=True))
    for name, data in files(src).items():
        storage.write_bytes(f"s3://cg-ray/photos/{name}", data)
    cfg = InferConfig(input="s3://cg-ray/photos", output="s3://cg-ray/winter", model=MODEL,
                      quiet=True)
    s = run_ray(cfg, RayOptions(actors=2, cpus_per_actor=1))
    assert (s.translated, s.skipped, s.failed) == (6, 0, 1)
    assert s.failures == [("s3://cg-ray/photos/broken.jpg", "not an image Pillow can read "
                           "(unknown or corrupt header)")]
    ref = {k: v for k, v in files(tmp_path / "ref").items() if not k.endswith(".tsv")}
    got = {name: storage.read_bytes(f"s3://cg-ray/winter/{name}")
           for name in storage.list_files("s3://cg-ray/winter") if not name.endswith(".tsv")}
    assert got == ref
    assert storage.list_files("s3://cg-ray/winter").count("cyclegan-failures.tsv") == 1
    storage.remove("s3://cg-ray/winter/p0.png")
    s = run_ray(cfg, RayOptions(actors=1, cpus_per_actor=1))
    assert (s.translated, s.skipped, s.failed) == (1, 5, 1)
    assert storage.read_bytes("s3://cg-ray/winter/p0.png") == ref["p0.png"]


def test_impossible_actor_size_is_refused_before_any_work(ray_local, tmp_path, capsys):
    src = photos(tmp_path / "in", n=2)
    result = {}
    call = threading.Thread(target=lambda: result.setdefault("code", main(
        [str(src), str(tmp_path / "out"), "--model", MODEL, "--engine", "ray",
         "--cpus-per-actor", "1000"])), daemon=True)
    call.start()
    call.join(60)  # without the check, Ray waits for the cores forever
    assert result == {"code": 2}
    assert "no live node of the Ray cluster has 1000 CPU cores" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []  # nothing written


def test_interrupted_run_counts_the_outputs_on_disk(ray_local, tmp_path):
    """Results come back a batch at a time: stopped mid-batch, the summary still counts
    the outputs the actors wrote (not 0 of them)."""
    src = photos(tmp_path / "in", n=12, size=160)
    out = tmp_path / "out"
    out.mkdir()

    def interrupt_at_first_output():
        while not [p for p in out.rglob("*.*") if not is_temp(p) and p.suffix != ".lock"]:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_at_first_output, daemon=True).start()
    s = run_ray(InferConfig(input=src, output=out, model=MODEL, quiet=True),
                RayOptions(actors=1, cpus_per_actor=1, rows_per_call=4))
    # Returned only once the killed actor's process is gone: it can write nothing more.
    assert _map_workers() == []
    written = [p for p in out.rglob("*") if p.suffix in (".png", ".jpg")]
    assert s.interrupted == signal.SIGINT
    assert 0 < s.translated == len(written) < 12, (s.translated, written)
    assert f"{s.planned - s.finished} of {s.planned} images not done" in s.report()
    assert not [p for p in out.rglob("*") if is_temp(p)]


@pytest.mark.parametrize("planted", ["ray error", "bare interrupt"])
def test_a_failed_job_leaves_no_actor_writing(ray_local, tmp_path, monkeypatch, planted):
    """A Ray error while results stream in (planted once the actor is writing) ends the
    run with one clear error, and no actor goes on writing after it; so does a
    KeyboardInterrupt that is not our stop request (one raised inside Ray, say), which
    is passed on as it came."""
    src = photos(tmp_path / "in", n=12, size=160)
    out = tmp_path / "out"
    error, expected = {"ray error": (ray_local.exceptions.RayError("planted"),
                                     pytest.raises(RayEngineError,
                                                   match="the Ray job failed: planted")),
                       "bare interrupt": (KeyboardInterrupt(),
                                          pytest.raises(KeyboardInterrupt))}[planted]

    def fail_once_writing(results, job, *_):
        next(iter(results.iter_batches(batch_size=None)), None)  # the actor has started
        raise error

    monkeypatch.setattr(ray_engine, "_collect", fail_once_writing)
    with expected:
        run_ray(InferConfig(input=src, output=out, model=MODEL, quiet=True),
                RayOptions(actors=1, cpus_per_actor=1, rows_per_call=4))
    assert _map_workers() == []


def _map_workers() -> list[int]:
    """Our Ray instance's TranslateActor actors: processes below this one."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::MapWorker(MapBatches(TranslateActor))") and _ours(int(pid)):
            found.append(int(pid))
    return found


def _ours(pid: int) -> bool:
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid == os.getpid():
            return True
    return False


class Watch(threading.Thread):
    """Records every inode each output has had (a rewrite is a new one, the atomic
    rename's), and kills the actor when the first output appears."""

    def __init__(self, out: Path):
        super().__init__(daemon=True)
        self.out, self.inodes, self.killed = out, {}, None
        self.at_kill, self.done = 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            for p in self.out.rglob("*"):
                try:
                    st = p.stat()
                except OSError:
                    continue
                if p.suffix in (".png", ".jpg") and not is_temp(p):
                    self.inodes.setdefault(p.name, set()).add(st.st_ino)
            if self.killed is None and self.inodes:
                workers = _map_workers()
                if workers:
                    self.at_kill = len(self.inodes)
                    os.kill(workers[0], signal.SIGKILL)
                    self.killed = workers[0]
            time.sleep(0.005)


def test_killed_actor_is_replaced_and_nothing_is_written_twice(ray_local, tmp_path):
    src = photos(tmp_path / "in", n=12, size=160)
    run(InferConfig(input=src, output=tmp_path / "ref", model=MODEL, quiet=True))
    out = tmp_path / "out"
    out.mkdir()
    assert _map_workers() == []  # else the watch could kill an earlier run's dying actor
    watch = Watch(out)
    watch.start()
    lines = []
    try:
        # All 13 files in one call: the kill, at the first output, then always lands
        # mid-batch. With 4 per call a kill under load could land between two batches, and
        # the retried batch then had nothing to keep (CI, 2026-12-06).
        s = run_ray(InferConfig(input=src, output=out, model=MODEL, quiet=True),
                    RayOptions(actors=1, cpus_per_actor=1, rows_per_call=13), log=lines.append)
    finally:
        watch.done.set()
        watch.join()
    assert watch.killed is not None and 0 < watch.at_kill < 12  # killed with work left
    assert not Path(f"/proc/{watch.killed}").exists()
    assert (s.translated, s.failed) == (12, 1)
    assert all(len(inodes) == 1 for inodes in watch.inodes.values()), watch.inodes
    # Mid-batch: the retried batch found outputs the dead actor had written, and kept them.
    assert any("written by an actor that died mid-batch were kept" in m for m in lines), lines
    assert not [p for p in out.rglob("*") if is_temp(p)]  # no partial file left
    got, ref = files(out), files(tmp_path / "ref")
    assert got == ref


def test_clips_are_failure_rows_not_ray_rows():
    """A folder's videos are planned like its images; the Ray engine, which maps batches of
    rows, lists them as failures naming the engine that translates them."""
    from cyclegan.infer import ray_engine
    from cyclegan.infer.controller import Run, Summary
    from cyclegan.infer.io import Job
    from cyclegan.infer.planning import Plan
    from cyclegan.infer.video import FORMAT

    clip = Job(Path("in/a.mp4"), Path("out/a.mp4"), FORMAT)
    summary = Summary(Path("out"), planned=1)
    job = Run(InferConfig(), Plan(Path("in"), Path("out"), [clip], [], [], None), None,
              summary, print)
    ray_engine._execute(None, job, None, None, print, print)  # no images: Ray is not used
    assert summary.failures == [(clip.src, ray_engine.CLIPS_STAY_HOME)]
