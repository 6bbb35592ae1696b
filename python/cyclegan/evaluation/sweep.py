"""`cyclegan-sweep`: train several configurations, then compare them in one report folder.

Each configuration trains in its own `python -m cyclegan.train` process into
REPORT/runs/<name>; a rerun skips finished ones and resumes unfinished ones, so an
interrupted sweep continues where it stopped. The report (report.py) then shows every
configuration's translations of the same test and probe images beside its metrics
(evaluate.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

import cyclegan
from cyclegan import data, grids, images
from cyclegan.checkpoint import CheckpointError, load_checkpoint, load_generator, train_config
from cyclegan.contract import DIRECTIONS
from cyclegan.errors import CycleganError
from cyclegan.evaluation import evaldata, evaluate, report
from cyclegan.evaluation.sweepconfig import SweepConfig
from cyclegan.runlayout import config_path, latest_checkpoint, log_path
from cyclegan.stopping import Terminated

_S = SweepConfig  # the flags' defaults, written once there
RESERVED = ("data", "out", "resume")


class SweepError(CycleganError):
    """A problem with the user's input or a failed training, reported without a traceback."""


def _train_fields() -> dict:
    from cyclegan.train.config import TrainConfig

    return {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _normalise(key: str, value: str, default) -> str:
    """One canonical spelling per value, so "10", "10.0" and "1e1" name the same run."""
    value = value.strip()
    if not value:
        raise SweepError(f"empty value for {key}")
    if isinstance(default, bool):
        low = value.lower()
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise SweepError(f"{key} is a switch: use true or false, got {value!r}")
        return "true" if low in ("true", "1", "yes") else "false"
    if isinstance(default, (int, float)) or default is None:
        try:
            number = float(value)
        except ValueError:
            if default is None:
                return value
            raise SweepError(f"{key} needs a number, got {value!r}") from None
        if isinstance(default, int) and not number.is_integer():
            raise SweepError(f"{key} needs a whole number, got {value!r}")
        return str(int(number)) if number.is_integer() else repr(number)
    return value


@dataclass
class Config:
    params: dict  # train field name -> canonical value string, in the user's order

    @property
    def name(self) -> str:
        return "_".join(f"{k}-{re.sub(r'[^A-Za-z0-9.+-]', '', v)}"
                        for k, v in self.params.items())

    def label(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.params.items()]

    def flags(self) -> list[str]:
        out = []
        for key, value in self.params.items():
            if key == "fused":
                out += [] if value == "true" else ["--no-fused"]
            elif value in ("true", "false") and isinstance(_train_fields().get(key), bool):
                out += [f"--{key.replace('_', '-')}"] if value == "true" else []
            else:
                out += [f"--{key.replace('_', '-')}", value]
        return out


def _key(raw: str, fields: dict) -> str:
    key = raw.strip().replace("-", "_")
    if key in RESERVED:
        raise SweepError(f"{raw} cannot be swept: the sweep sets --data/--out/--resume itself")
    if key not in fields:
        raise SweepError(f"unknown training option {raw!r}; options: "
                         + ", ".join(k for k in fields if k not in RESERVED))
    return key


def _setting(text: str, fields, seen, where: str, form: str, given: str) -> tuple[str, str]:
    """(field name, value text) of one KEY=VALUE in `where` (a flag, and its argument for
    --config); SweepError if it has no "=", or names a key already in `seen`."""
    if "=" not in text:
        raise SweepError(f"{where.split()[0]} expects {form}, got {given!r}")
    raw, value = text.split("=", 1)
    key = _key(raw, fields)
    if key in seen:
        raise SweepError(f"{where} names {key} twice")
    return key, value


def parse_grid(tokens: list[str]) -> list[Config]:
    """["lambda_cyc=10,5", "d_ratio=2,1"] -> the 4 combinations, first key varying slowest."""
    fields = _train_fields()
    axes: dict[str, list[str]] = {}
    for token in tokens:
        key, values = _setting(token, fields, axes, "--grid", "KEY=V1,V2,...", token)
        vals = [_normalise(key, v, fields[key]) for v in values.split(",")]
        axes[key] = list(dict.fromkeys(vals))
    if not axes:
        raise SweepError("--grid needs at least one KEY=V1,V2,...")
    return _unique([Config(dict(zip(axes, combo))) for combo in itertools.product(*axes.values())])


def parse_configs(specs: list[str]) -> list[Config]:
    """["lambda_cyc=10,d_ratio=2", ...] -> one Config each."""
    fields = _train_fields()
    configs = []
    for spec in specs:
        params = {}
        for item in spec.split(","):
            key, value = _setting(item, fields, params, f"--config {spec!r}",
                                  "KEY=VALUE,KEY=VALUE", spec)
            params[key] = _normalise(key, value, fields[key])
        configs.append(Config(params))
    if not configs:
        raise SweepError("give --grid or at least one --config")
    return _unique(configs)


def _unique(configs: list[Config]) -> list[Config]:
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SweepError(f"configurations repeat: {', '.join(dupes)}")
    return configs


def _flag_value(args: list[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def check_train_args(train_args: list[str], configs: list[Config]) -> int | None:
    """Reject pass-through flags the sweep owns or varies; returns --steps if given."""
    swept = {f"--{k.replace('_', '-')}" for c in configs for k in c.params}
    swept |= {"--no-fused"} if any("fused" in c.params for c in configs) else set()
    for a in train_args:
        flag = a.split("=", 1)[0]
        if flag in ("--data", "--out", "--resume"):
            raise SweepError(f"{flag} cannot be passed to training: the sweep sets it")
        if flag in swept:
            raise SweepError(f"{flag} is swept by --grid/--config and cannot also be passed "
                             "after --")
    steps = _flag_value(train_args, "--steps")
    try:
        return None if steps is None else int(steps)
    except ValueError:
        raise SweepError(f"--steps needs a whole number, got {steps!r}") from None


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
