"""`cyclegan-sweep`: train several configurations, then compare them in one report folder.

Each configuration (read from --grid / --config by sweepgrid.py) trains in its own
`python -m cyclegan.train` process into REPORT/runs/<name>; a rerun skips finished ones and
resumes unfinished ones, so an interrupted sweep continues where it stopped. The report
(report.py) then shows every configuration's translations of the same test and probe
images beside its metrics (evaluate.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from PIL import Image

import cyclegan
from cyclegan import data, grids, images
from cyclegan.checkpoint import CheckpointError, load_checkpoint, load_generator, train_config
from cyclegan.contract import DIRECTIONS
from cyclegan.evaluation import evaldata, evaluate, report
from cyclegan.evaluation.sweepconfig import SweepConfig
from cyclegan.evaluation.sweepgrid import Config, SweepError, check_train_args
from cyclegan.runlayout import config_path, latest_checkpoint, log_path
from cyclegan.stopping import Terminated

_S = SweepConfig  # the flags' defaults, written once there


def run_state(run: Path, steps: int | None) -> tuple[str, int]:
    """("new" | "partial" | "done", step) of a configuration's run folder."""
    latest = latest_checkpoint(run)
    if not latest.is_file():
        return "new", 0
    try:
        state = load_checkpoint(latest)
    except CheckpointError as exc:
        raise SweepError(f"{exc}; delete {run} to retrain that configuration") from exc
    step = state.get("step", 0)
    if not isinstance(step, int):
        raise SweepError(f"{latest} has a damaged step ({step!r}); delete {run} to retrain "
                         "that configuration")
    # A run stopped by --steps is not "finished" (epochs remain); reaching the asked-for
    # step count is done for a sweep, which always passes the same --steps.
    done = bool(state.get("finished")) or (steps is not None and step >= steps)
    return ("done" if done else "partial"), step


def run_summary(run: Path) -> dict:
    """Steps and training time from the run's log.jsonl (sum of the logged intervals)."""
    info = {"steps": None, "train_time_s": None, "finished": None}
    try:
        cfg = json.loads(config_path(run).read_text())
        per_step = cfg["train"]["batch_size"] * cfg.get("world_size", 1)
    except (OSError, ValueError, KeyError, TypeError):
        per_step = None
    prev, total = 0, 0.0
    try:
        lines = log_path(run).read_text().splitlines()
    except OSError:
        return info
    for line in lines:
        try:
            rec = json.loads(line)
            step, rate = int(rec["step"]), float(rec["images_per_s"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by an interrupted run
        if per_step and rate > 0 and step > prev:
            total += (step - prev) * per_step / rate
        prev = step
        info["steps"] = step
    if per_step and info["steps"]:
        info["train_time_s"] = round(total, 1)
    return info


def _env() -> dict:
    """The child must import this same cyclegan package (a source tree or an install)."""
    env = dict(os.environ)
    root = str(Path(cyclegan.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in
                                                  env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def default_runner(cmd: list[str], env: dict) -> int:
    """Run one training and return its exit status. The child has its own process group,
    so a terminal's Ctrl-C reaches the sweep only, and the sweep passes each signal on:
    the first lets the training finish its step and checkpoint, a second aborts it."""
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, process_group=0)
    try:
        return proc.wait()
    except (KeyboardInterrupt, Terminated) as first:
        _pass_on(proc, first)
        try:
            proc.wait()
        except (KeyboardInterrupt, Terminated) as second:
            _pass_on(proc, second)
            raise
        raise


def _pass_on(proc: subprocess.Popen, exc: BaseException) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def train_all(spec: str, out: Path, configs: list[Config], train_args: list[str],
              runner=default_runner, quiet: bool = False) -> dict[str, str]:
    """Train every configuration that is not done yet; returns name -> what happened."""
    steps = check_train_args(train_args, configs)
    what = {}
    for i, c in enumerate(configs, 1):
        run = out / "runs" / c.name
        state, step = run_state(run, int(c.params["steps"]) if "steps" in c.params else steps)
        head = f"[{i}/{len(configs)}] {c.name}"
        if state == "done":
            _log(f"{head}: already trained (step {step}), skipped", quiet)
            what[c.name] = "skipped"
            continue
        cmd = [sys.executable, "-m", "cyclegan.train", "--data", spec, "--out", str(run),
               *c.flags(), *train_args]
        if state == "partial":
            cmd += ["--resume", str(run)]
        _log(f"{head}: {'resuming from step ' + str(step) if state == 'partial' else 'training'}"
             f": {shlex.join(cmd[1:])}", quiet)
        start = time.monotonic()
        rc = runner(cmd, _env())
        if rc != 0:
            raise SweepError(f"training {c.name} failed (exit status {rc}); rerun the same "
                             "command to continue: finished configurations are kept")
        _log(f"{head}: done in {time.monotonic() - start:.0f} s", quiet)
        what[c.name] = "resumed" if state == "partial" else "trained"
    return what


def load_probe(path, size: int) -> torch.Tensor:
    """A probe image, centre-cropped to a square and resized to size x size, in [-1, 1]."""
    try:
        img = images.load_image_rgb(path)
    except images.ImageError as exc:
        raise SweepError(f"--probe {exc}") from exc
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return data.from_pil(img.resize((size, size), Image.Resampling.BICUBIC))


def _eval_cached(ed, name, direction, model, ckpt: Path, cache: Path, settings: dict):
    """evaluate_generator, reusing a stored result while the checkpoint is unchanged."""
    st = ckpt.stat()
    key = {**settings, "ckpt": [st.st_size, st.st_mtime_ns], "direction": direction}
    path = cache / f"eval-{name}-{direction}.json"
    try:
        stored = json.loads(path.read_text())
        if stored.get("key") == key:
            return stored["result"]
    except (OSError, ValueError, AttributeError):
        pass
    result, _ = evaluate.evaluate_generator(ed, model, direction)
    report.write_text(path, json.dumps({"key": key, "result": result}) + "\n")
    return result


def _summary(spec: str, ed, image_size: int, command: str, configs, train_args, probe_files,
             grid_files, probe_names) -> dict:
    """What the report says about the sweep as a whole (its index.html header and JSON)."""
    clf = ed.classifier_info
    return {
        "data": spec, "domains": ed.domains, "image_size": image_size,
        "command": command or "cyclegan-sweep", "configs": [c.name for c in configs],
        "train_args": train_args, "probes": probe_files, "grids": grid_files,
        "probe_names": probe_names,
        "classifier": clf,
        "classifier_note": f"Domain classifier accuracy on real test images: "
                           f"{clf['accuracy']:.3f} (A {clf['accuracy_A']:.3f}, "
                           f"B {clf['accuracy_B']:.3f}).",
        "notes": [f"Paired metrics: {ed.pair_note}."] + (
            [] if ed.extractor else [f"FID/KID skipped: {evaldata.FID_SKIPPED}."]),
        "eval_images": {d: len(ed.test[d]) for d in "AB"},
        "version": cyclegan.__version__,
    }


def run_sweep(spec: str, out, configs: list[Config], train_args: list[str] | None = None,
              probes: list[str] | None = _S.probe, test_images: int = _S.test_images,
              eval_images: int = _S.eval_images, device: str | None = _S.device,
              inception: str | None = _S.inception, classifier_steps: int = _S.classifier_steps,
              command: str = "", runner=default_runner,
              quiet: bool = _S.quiet) -> dict:
    """Train what is missing, then write the report into `out`; returns its summary. The
    keywords are cyclegan-sweep's flags (SweepConfig), checked as the command checks them."""
    SweepConfig(data=str(spec), out=str(out), probe=probes, test_images=test_images,
                eval_images=eval_images, classifier_steps=classifier_steps, inception=inception,
                device=device, quiet=quiet).checked()
    out = Path(out)
    train_args = list(train_args or [])
    spec = str(spec)
    try:
        data.make_dataset(spec, "A", "test", 8, 8, augment=False)
    except ValueError as exc:
        raise SweepError(f"--data {spec}: {exc}") from exc
    for p in probes or []:
        load_probe(p, 8)
    out.mkdir(parents=True, exist_ok=True)
    trained = train_all(spec, out, configs, train_args, runner, quiet)

    ckpts = {c.name: latest_checkpoint(out / "runs" / c.name) for c in configs}
    first = load_checkpoint(ckpts[configs[0].name])
    image_size = int(train_config(ckpts[configs[0].name], first).get("image_size", 256))
    del first
    device = device or evaldata.default_device()
    cache = out / "cache"
    ed = evaldata.prepare(spec, image_size, eval_images, cache_dir=cache, device=device,
                          inception=inception, classifier_steps=classifier_steps, quiet=quiet)
    probe_imgs = [("green probe", data.from_pil(report.green_probe(image_size)))]
    probe_imgs += [(Path(p).name, load_probe(p, image_size)) for p in probes or []]
    probe_batch = torch.stack([t for _, t in probe_imgs])
    # Stored metrics stay valid while the checkpoint, the test images and these settings do.
    digest = hashlib.sha256()
    for d in "AB":
        digest.update(ed.test[d].numpy().tobytes())
    settings = {"data": spec, "image_size": image_size, "eval_images": eval_images,
                "test_images": digest.hexdigest(), "classifier": ed.classifier_info["steps"],
                "inception": str(inception), "version": cyclegan.__version__}

    results, grid_files, probe_files = [], {}, {}
    for direction in DIRECTIONS:
        src = direction[0]
        idx = evaldata.spread(len(ed.test[src]), test_images)
        inputs = ed.test[src][idx]
        cols = [[data.to_pil(t) for t in inputs]]
        pcols = [[data.to_pil(t) for t in probe_batch]]
        for c in configs:
            model, _ = load_generator(ckpts[c.name], direction, fused=False, device=device)
            _log(f"evaluating {c.name} {direction}", quiet)
            m = _eval_cached(ed, c.name, direction, model, ckpts[c.name], cache, settings)
            entry = next((r for r in results if r["name"] == c.name), None)
            if entry is None:
                entry = {"name": c.name, "params": c.params, "metrics": {},
                         "run": run_summary(out / "runs" / c.name), "this_invocation":
                         trained[c.name]}
                results.append(entry)
            entry["metrics"][direction] = m
            cols.append([data.to_pil(t) for t in evaluate.translate(model, inputs, device)])
            pcols.append([data.to_pil(t) for t in evaluate.translate(model, probe_batch, device)])
        doms = f"{ed.domains[src]} -> {ed.domains[direction[2]]}"
        labels = [["input", doms]] + [c.label() for c in configs]
        grid_files[direction] = f"grid_{direction}.png"
        images.write_png(out / grid_files[direction],
                         grids.labelled_grid(labels, [list(r) for r in zip(*cols)]))
        plabels = [["probe", doms]] + [c.label() for c in configs]
        probe_files[direction] = f"probes_{direction}.png"
        images.write_png(out / probe_files[direction],
                         grids.labelled_grid(plabels, [list(r) for r in zip(*pcols)]))

    summary = _summary(spec, ed, image_size, command, configs, train_args, probe_files,
                       grid_files, [n for n, _ in probe_imgs])
    rows = report.metric_rows(results)
    report.write_metrics(out, rows, {**summary, "results": results})
    report.write_text(out / "index.html", report.index_html(summary, rows))
    _log(f"report written: {out / 'index.html'}", quiet)
    return {**summary, "results": results, "rows": rows}
