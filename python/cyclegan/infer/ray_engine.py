"""cyclegan-infer --engine ray: the same translation on a Ray cluster, through Ray Data.

    driver: the run (cyclegan.infer.controller, as the in-process engine)
            -> a resource check against the live cluster -> Dataset of (src, dst, format)
            -> map_batches(TranslateActor) on a pool of actors -> result rows -> progress,
               summary, one failures table
    actor:  cyclegan.infer.ray_worker.TranslateActor: one onnxruntime session, and the
            in-process pipeline on each batch (decode, model, encode, atomic write)

No image crosses the driver: rows hold paths or URIs, and each actor reads and writes the
files itself. `ray.init()` connects to the cluster RAY_ADDRESS (or --ray-address) names,
else starts a local instance; inside a Ray program that already called it, that connection
is used (and left open). A named address is tried first with a plain TCP connection
(CONNECT_TIMEOUT_S): Ray itself retries an address nobody answers at for minutes. Actors
ask for one GPU each when the cluster has GPUs (the model runs on onnxruntime's CUDA
provider there), else for CPU cores.

A retried batch is safe (the actor skips outputs that are already written, see
ray_worker), so Ray Data's fault tolerance (an actor whose process dies is restarted, and
its batches run again) gives "nothing lost, nothing done twice". A bad image is a failure
row, never an exception; an exception is a bug or a broken cluster, and ends the run
(finished outputs stay, and a re-run skips them).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from cyclegan.errors import CycleganError, UsageError, first_line
from cyclegan.infer import bundled, variants
from cyclegan.infer.config import InferConfig
from cyclegan.infer.controller import Run, Summary, open_run, with_defaults
from cyclegan.infer.ray_worker import FAILED, SKIPPED, TranslateActor
from cyclegan.infer.runtime import ONNX_SUFFIXES
from cyclegan.progress import Progress

INSTALL = 'pip install "cyclegan[ray]"'
CPU_ACTOR_CORES = 4  # cores per CPU actor by default (fewer on smaller nodes)
CONNECT_TIMEOUT_S = 10.0  # a head node that does not answer a TCP connection in this time
SETTLE_S = 1.0  # after an interrupt: no new output for this long, and the actors are gone
EXIT_WAIT_S = 30.0  # for the processes of the actors killed at the end to exit (_await_exit)
ROLL_WAIT_S = 10.0  # for the roll of actors to answer (a broken cluster may never: _release)
ACTOR_CLASS = f"MapWorker(MapBatches({TranslateActor.__name__}))"  # as Ray Data names it
RAY_GCS_TRIES = "RAY_gcs_server_port_wait_time_s"  # Ray's tries at its head node (default 20)


class RayEngineError(CycleganError):
    """Ray is missing, or the cluster cannot run the job (no GPU for --device cuda, ...)."""


@dataclass
class RayOptions:
    address: str | None = None  # None: $RAY_ADDRESS, else start a local instance
    actors: int | None = None  # None: one per GPU, or as many as the CPU cores hold
    cpus_per_actor: int | None = None  # None: see plan_actors
    rows_per_call: int | None = None  # images per actor call; None: rows_per_call()


def require_ray():
    """The ray module, or a one-line error saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401  (the extra brings it; plain `ray` lacks pandas, pyarrow)
    except ImportError:
        raise RayEngineError(f"--engine ray needs Ray Data, which is not installed: "
                             f"{INSTALL}") from None
    return ray


@dataclass(frozen=True)
class Actors:
    """What the actor pool asks Ray for."""

    count: int
    cpus: int  # per actor: its onnxruntime threads and its decode/encode pools
    gpus: int  # per actor: 0 or 1

    @property
    def device(self) -> str:
        return "cuda" if self.gpus else "cpu"

    def describe(self) -> str:
        each = f"{self.cpus} CPU" + ("s" if self.cpus > 1 else "")
        each += " + 1 GPU" if self.gpus else ""
        return f"{self.count} actor{'s' if self.count > 1 else ''} x ({each}), model on " \
               f"{self.device}"


def plan_actors(nodes: list[dict], device: str, opts: RayOptions) -> Actors:
    """One actor per GPU (with the cores its node has per GPU) when the cluster has GPUs
    and --device allows; else actors of CPU_ACTOR_CORES cores (or a node's all, if fewer),
    as many as fit. `nodes`: the Resources of each live node (ray.nodes()). An actor no
    live node can hold, or more actors than they hold, is refused here: Ray would wait for
    the resources, at 0 images/s, without a word."""
    gpu_nodes = [n for n in nodes if n.get("GPU", 0) >= 1]
    if device == "cuda" and not gpu_nodes:
        raise RayEngineError("--device cuda: the Ray cluster has no GPUs; use --device auto "
                             "or cpu")
    if gpu_nodes and device != "cpu":
        per_gpu = min(int(n.get("CPU", 0) // n["GPU"]) for n in gpu_nodes)
        actors = Actors(opts.actors or int(sum(n["GPU"] for n in gpu_nodes)),
                        opts.cpus_per_actor or max(1, per_gpu), 1)
    else:
        largest = max((int(n.get("CPU", 0)) for n in nodes), default=0)
        cpus = opts.cpus_per_actor or max(1, min(CPU_ACTOR_CORES, largest))
        fit = sum(int(n.get("CPU", 0)) // cpus for n in nodes)
        actors = Actors(opts.actors or max(1, fit), cpus, 0)
    _check_fits(actors, nodes)
    return actors


def _check_fits(actors: Actors, nodes: list[dict]) -> None:
    """RayEngineError unless the live nodes hold `actors.count` actors of that size."""
    def holds(n: dict) -> int:
        k = int(n.get("CPU", 0)) // actors.cpus
        return min(k, int(n.get("GPU", 0))) if actors.gpus else k

    fit = sum(holds(n) for n in nodes)
    if fit >= actors.count:
        return
    size = f"{actors.cpus} CPU cores" + (" and a GPU" if actors.gpus else "")
    if fit == 0:
        largest = max((int(n.get("CPU", 0)) for n in nodes), default=0)
        raise RayEngineError(f"no live node of the Ray cluster has {size} for an actor (the "
                             f"largest has {largest} CPU cores): lower --cpus-per-actor")
    raise RayEngineError(f"--actors {actors.count}: the live nodes of the Ray cluster hold "
                         f"{fit} actors of {size}; ask for at most {fit}")


def rows_per_call(actors: Actors, cfg: InferConfig) -> int:
    """Images per actor call: enough to keep the actor's pipeline busy (decode, model and
    encode overlap within a call), few enough for a live progress bar and a short tail."""
    return 64 if actors.gpus else 16


def model_payload(cfg: InferConfig, device: str) -> tuple[str, bytes, str]:
    """(file name, bytes, --precision) the actors load: the .onnx variant chosen for their
    device (its name says its precision), or a checkpoint, which each actor exports."""
    path = Path(cfg.model)
    if path.suffix.lower() in ONNX_SUFFIXES:
        chosen = variants.choose(path, cfg.precision, device)
        return chosen.name, chosen.read_bytes(), "auto"
    return path.name, path.read_bytes(), cfg.precision


def _map(ds, cfg: InferConfig, actors: Actors, opts: RayOptions, started: float,
         roll=None):
    import ray

    # The model travels with the constructor's arguments, which Ray Data puts in the
    # object store once for every actor (and keeps for restarts) for the whole run.
    name, data, precision = model_payload(cfg, actors.device)
    return ds.map_batches(
        TranslateActor, batch_size=opts.rows_per_call or rows_per_call(actors, cfg),
        batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors.count),
        fn_constructor_kwargs=dict(model_name=name, model_data=data, precision=precision,
                                   cfg=cfg, device=actors.device, cores=actors.cpus,
                                   started=started, roll=roll),
        num_cpus=actors.cpus, num_gpus=actors.gpus)


class Roll:
    """The run's actors, each added by its constructor, for the driver to kill at the end:
    on an interrupt Ray Data releases its busy actors to finish their batches (its shutdown
    on an exception in the wait is not forced), and they went on writing after the summary
    had counted the outputs (ray 2.60)."""

    def __init__(self):
        self.handles = []

    def add(self, handle) -> None:
        self.handles.append(handle)

    def members(self) -> list:
        return self.handles


def _live_nodes(ray) -> list[dict]:
    return [n["Resources"] for n in ray.nodes() if n.get("Alive")]


def translate_dataset(ds, cfg: InferConfig, opts: RayOptions | None = None):
    """Translate the images a Ray Dataset names, inside a Ray program (after ray.init()).

    `ds` has string columns "src" and "dst": local paths (on every node: a shared folder)
    or URIs, and may have "format" (a FORMATS name; without it, dst's extension names
    it). Returns a lazy Dataset with one row per input: src, dst, status
    ("translated", "skipped": dst was already there, or "failed"), reason (why it failed),
    warning, model. `cfg` supplies the model and the per-image settings (direction,
    device, precision, quality, size, max_size, max_pixels, overwrite, batch_size,
    workers, threads); its input and output are not used.

        import ray
        from cyclegan.infer import InferConfig
        from cyclegan.infer.ray_engine import translate_dataset
        ds = ray.data.from_items([{"src": "s3://b/in/1.jpg", "dst": "s3://b/out/1.jpg"}])
        for row in translate_dataset(ds, InferConfig(model="G_A2B.onnx")).iter_rows():
            ...
    """
    ray = require_ray()
    opts = opts or RayOptions()
    cfg = replace(cfg, model=bundled.resolve_model(cfg.model))
    actors = plan_actors(_live_nodes(ray), cfg.device, opts)
    return _map(ds, cfg, actors, opts, math.floor(time.time()))


def reachable(address: str) -> None:
    """RayEngineError within CONNECT_TIMEOUT_S when nothing accepts a TCP connection at a
    HOST:PORT address (ray:// too); "auto" and the like are left to Ray."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RayEngineError(f"cannot connect to the Ray cluster at {address}: nothing "
                             f"answers there ({exc.strerror or first_line(exc)}, tried for "
                             f"up to {CONNECT_TIMEOUT_S:g} s)") from None


@contextlib.contextmanager
def _bounded_connect(where: str | None, log):
    """Connecting to `where` (None: starting a local instance, left as Ray does it) fails
    within about a minute: the address must accept a TCP connection, and Ray tries its
    head node once (about 40 s when something answers that is not Ray, e.g. the dashboard's
    port), not 20 times, unless the user set RAY_GCS_TRIES."""
    if where is None:
        yield
        return
    reachable(where)
    log(f"ray: connecting to {where}")
    saved = os.environ.get(RAY_GCS_TRIES)
    os.environ.setdefault(RAY_GCS_TRIES, "1")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(RAY_GCS_TRIES, None)


@contextlib.contextmanager
def connected(address: str | None, log):
    """A Ray connection for the run: the caller's if it has one, else ray.init() (and
    ray.shutdown() at the end, which also stops a local instance it started)."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    where = address or os.environ.get("RAY_ADDRESS")
    extra = {} if where else {"include_dashboard": False}  # a local instance, for this run
    try:
        with _bounded_connect(where, log):
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False,
                     **extra)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayEngineError(f"cannot connect to the Ray cluster at {where}: "
                             f"{first_line(exc)}") from None
    log(f"ray: connected to {where}" if where else "ray: started a local instance "
        f"({int(ray.cluster_resources().get('CPU', 0))} CPUs)")
    try:
        yield ray
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _quiet_console():
    """Ray Data reports each execution on the console; the progress bar and summary are
    ours. Its log file in the Ray session folder still gets everything."""
    consoles = [h for h in logging.getLogger("ray.data").handlers
                if isinstance(h, logging.StreamHandler)]
    levels = [h.level for h in consoles]
    for h in consoles:
        h.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for h, level in zip(consoles, levels):
            h.setLevel(level)


def _collect(results, job: Run, bar: Progress, log, warn) -> None:
    """Count the result rows as they stream in, and show each distinct warning once."""
    summary, warned, kept = job.summary, set(), 0
    batches = iter(results.iter_batches(batch_size=None, batch_format="numpy"))
    try:
        for batch in batches:
            for src, status, reason, warning, model in zip(
                    batch["src"], batch["status"], batch["reason"], batch["warning"],
                    batch["model"]):
                summary.model = model
                # SKIPPED here: written by an earlier try of a batch Ray retried.
                summary.count(src, reason if status == FAILED else None)
                kept += status == SKIPPED
                for line in filter(None, warning.split("\n")):
                    if line not in warned:
                        warned.add(line)
                        (bar.write if bar.enabled else warn)(line)
            bar.update(len(batch["src"]), failed=len(summary.failures))
    finally:
        batches.close()  # on an interrupt: Ray Data stops its actors now, not when collected
    if kept:
        log(f"ray: {kept} output{'s' if kept > 1 else ''} written by an actor that died "
            "mid-batch were kept (Ray ran the batch again for the rest)")


CLIPS_STAY_HOME = "videos are translated by the default engine: run without --engine ray"


def _stop() -> None:
    raise KeyboardInterrupt  # out of Ray's wait for the next batch


def _execute(ray, job: Run, actors: Actors, opts: RayOptions, log, warn) -> None:
    for clip in job.clips:  # a clip is one long stream, not a batch of rows
        job.summary.count(clip.src, CLIPS_STAY_HOME)
    if not job.images:
        return
    start = time.perf_counter()
    ds = ray.data.from_items([{"src": str(j.src), "dst": str(j.dst), "format": j.format}
                              for j in job.images])
    roll = ray.remote(num_cpus=0)(Roll).remote()
    results = _map(ds, job.cfg, actors, opts, job.started, roll)
    ctx = results.context
    ctx.enable_progress_bars = False  # ours is the one progress bar
    ctx.print_on_execution_start = False
    failure = None
    try:
        with job.progress() as bar, _quiet_console():
            try:
                with job.stopping(_stop):
                    _collect(results, job, bar, log, warn)
            except KeyboardInterrupt:
                if job.summary.interrupted is None:  # not our stop request: passed on
                    raise
            except ray.exceptions.RayError as exc:
                failure = RayEngineError(f"the Ray job failed: {first_line(exc)} "
                                         "(see Ray's logs)")
    finally:  # whatever ends the run, no actor of it goes on writing (the roll's ask is
        _release(ray, roll, job.started)  # time-boxed, so a broken cluster cannot hang this)
    if failure is not None:
        raise failure
    if job.summary.interrupted is not None:
        _count_when_settled(job)
    job.summary.seconds = time.perf_counter() - start


def _release(ray, roll, started: float) -> None:
    """Kill the run's actors (idle at the end, busy after an interrupt or a failure) and
    the roll, and wait for their processes to exit. Where the roll does not answer within
    ROLL_WAIT_S (a broken cluster) its actors are left to Ray Data's own shutdown."""
    try:
        members = ray.get(roll.members.remote(), timeout=ROLL_WAIT_S)
    except ray.exceptions.RayError:  # GetTimeoutError included
        members = []
    for handle in members + [roll]:
        ray.kill(handle, no_restart=True)
    _await_exit(ray, started)


def _await_exit(ray, started: float) -> None:
    """Return once the processes of this run's actors on this node are gone: Ray marks an
    actor dead when its kill is asked for, not when its process exits, and a run that
    returned with its actors still there left them to the next run (an earlier run's dying
    actor). Actors on other nodes cannot be seen exit from here; after an interrupt
    _count_when_settled covers them."""
    try:
        # Ray's own actor table: no public way to read it without the dashboard (ray 2.60).
        from ray._private import state
        ctx = ray.get_runtime_context()
        node, job = ctx.get_node_id(), ctx.get_job_id()
        pids = [a["Pid"] for a in state.actors().values()
                if a.get("ActorClassName") == ACTOR_CLASS and a.get("JobID") == job
                and a.get("Address", {}).get("NodeID") == node
                and a.get("StartTime", 0) >= started * 1000 and a.get("Pid")]  # ms: this run's
    except Exception:  # noqa: BLE001 - a Ray without that table (or a client): nothing to see
        return
    deadline = time.monotonic() + EXIT_WAIT_S
    while any(map(_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.02)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process, so not the actor's any more
        return False
    return True


def _count_when_settled(job: Run) -> None:
    """Results arrive a batch at a time, and a batch cut short returns none: after an
    interrupt the summary counts the outputs on disk, once the actors Ray Data was told to
    stop have stopped writing (no new output for SETTLE_S; the kill is asynchronous)."""
    last, since = job.count_outputs(), time.monotonic()
    deadline = since + 10 * SETTLE_S
    while time.monotonic() - since < SETTLE_S and time.monotonic() < deadline:
        time.sleep(SETTLE_S / 5)
        now = job.count_outputs()
        if now != last:
            last, since = now, time.monotonic()


def run(cfg: InferConfig, opts: RayOptions | None = None, log=None, warn=None) -> Summary:
    """cyclegan-infer --engine ray: translate cfg.input into cfg.output on a Ray cluster.
    Either may be a local path (a shared folder, for a cluster of several machines) or a
    URI (cyclegan.infer.storage). Raises UsageError before any work on a bad setup."""
    log = log or (lambda m: print(m, file=sys.stderr))
    warn = warn or (lambda m: print(m, file=sys.stderr))
    opts = opts or RayOptions()
    require_ray()
    if with_defaults(cfg).shard != (0, 1):
        raise UsageError("--shard splits a job between machines by hand; --engine ray "
                         "spreads it over the cluster itself: use one or the other")
    with contextlib.ExitStack() as stack:
        # The driver checks the model on its CPU; the actors load it for their device.
        job = open_run(cfg, stack, log, warn, "cpu", 1)
        ray = stack.enter_context(connected(opts.address, log))
        actors = plan_actors(_live_nodes(ray), job.cfg.device, opts)
        if not job.cfg.quiet:
            log(f"ray: {actors.describe()}")
        _execute(ray, job, actors, opts, log, warn)
        job.finish()
    return job.summary
