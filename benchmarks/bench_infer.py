"""Batch inference throughput: cyclegan-infer's pipeline against a naive loop, and model-only.

End to end (needs onnxruntime): generated folders of 256x256 and 1024x768 JPEGs translated
by cyclegan-infer (cyclegan.infer.run, in process) with the bundled demo generator, and by
a naive loop (PIL open, eager torch generator of the same configuration, save; one image at
a time). The pipeline's images/s is compared with the model alone (onnxruntime on the same
batches): the pipeline's job is to hide decoding and encoding, so that ratio should be
close to 1.

Model only: the full-size generator (ngf 64, 9 blocks) at 256x256, eager torch against
onnxruntime, batch 1 and 8; --device cuda adds torch CUDA fp32/fp16 and, when
onnxruntime's CUDA provider is usable, onnxruntime CUDA fp32/fp16 and the end-to-end runs
on the GPU.

int8 (--only int8, needs the photos in ../shared/data): fp32 against int8 model only for the
full-size generator (untrained) and the bundled summer2winter at 256x256 and 1024x768
(--int8-batches, capped as cyclegan-infer caps them), in interleaved rounds, with two int8
graphs: cyclegan-export's and onnxruntime's plain QDQ graph (quantize_bytes(tuned=False));
each int8's PSNR to fp32 on held-back photos; --profile adds onnxruntime's per-node-type
times. It prints the tables docs/benchmarks.md quotes.
Interleaved (--only interleaved): cyclegan-infer against the plainest loop (PIL open, one
onnxruntime session, save) in alternating rounds; this machine's speed swings by 2x between
runs, so only the ratio within a round means anything.

  python benchmarks/bench_infer.py --json bench-results/infer_cpu.json
  python benchmarks/bench_infer.py --quick            (a smoke run: small folders, batch 1)
  python benchmarks/bench_infer.py --only int8 --int8-256-only --rounds 5 --profile
  python benchmarks/bench_infer.py --only interleaved --rounds 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_note, machine, median_ms, print_table, spread, time_interleaved, write_json  # noqa: E402

from cyclegan.data import seasons_pairs, to_pil  # noqa: E402
from cyclegan.infer.pipeline import batch_limit, default_batch_size  # noqa: E402
from cyclegan.models import ModelConfig, ResnetGenerator  # noqa: E402

FULL = ModelConfig()
REAL_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "summer2winter_mini"
STAND_IN = ModelConfig(ngf=16, n_blocks=9)


def have_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def make_folder(folder: Path, n: int, width: int, height: int) -> Path:
    """n JPEGs of width x height from a few rendered landscapes, each shifted differently
    (so no two files are identical, which would flatter the decoder's caches)."""
    folder.mkdir(parents=True, exist_ok=True)
    bases = [to_pil(t) for t in seasons_pairs(4, 256, seed=3_000_000)[0]]
    bases = [b.resize((width, height), Image.Resampling.BICUBIC) for b in bases]
    for i in range(n):
        arr = np.roll(np.asarray(bases[i % len(bases)]), shift=(7 * i) % width, axis=1)
        Image.fromarray(arr).save(folder / f"photo {i:04d}.jpg", quality=90)
    return folder


def demo_model(path: Path | None, workdir: Path) -> tuple[Path, str]:
    from cyclegan.export.to_onnx import export_generator
    from cyclegan.infer.bundled import DEFAULT_MODEL, MODELS

    path = path or MODELS[DEFAULT_MODEL].path
    if path.is_file():
        return path, path.name
    torch.manual_seed(0)
    gen = ResnetGenerator(STAND_IN, fused=False).eval()
    data, _ = export_generator(gen, {"config": STAND_IN.to_dict()}, "A2B")
    standin = workdir / "standin.onnx"
    standin.write_bytes(data)
    return standin, f"stand-in (demo model missing; random ngf {STAND_IN.ngf}, " \
                    f"{STAND_IN.n_blocks} blocks)"


def model_config_of(onnx_path: Path) -> ModelConfig:
    from cyclegan.contract import read_metadata

    meta = read_metadata(onnx_path)
    return ModelConfig.from_dict(json.loads(meta.get("model_config") or "{}"))


def run_pipeline(model: Path, src: Path, out: Path, device: str, batch: int,
                 precision: str) -> dict:
    from cyclegan.infer import InferConfig, run

    shutil.rmtree(out, ignore_errors=True)
    summary = run(InferConfig(input=src, output=out, model=model, device=device,
                              precision=precision, batch_size=batch, quiet=True),
                  log=lambda m: None)
    assert summary.failed == 0 and summary.translated > 0, summary.report()
    return {"images": summary.translated, "seconds": summary.seconds,
            "images_per_s": summary.images_per_s}


def naive_loop(cfg: ModelConfig, src: Path, out: Path, device: str) -> dict:
    """What a quick script does: one image at a time, decode, run, save."""
    torch.manual_seed(0)
    gen = ResnetGenerator(cfg, fused=False).to(device).eval()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    files = sorted(src.glob("*.jpg"))
    start = time.perf_counter()
    with torch.no_grad():
        for path in files:
            img = Image.open(path).convert("RGB")
            x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 127.5 - 1
            h, w = x.shape[-2:]
            x = F.pad(x, (0, -w % 4, 0, -h % 4), mode="reflect").to(device)
            y = gen(x)[0, :, :h, :w]
            y = ((y + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy()
            Image.fromarray(y).save(out / path.name, quality=95)
    seconds = time.perf_counter() - start
    return {"images": len(files), "seconds": seconds, "images_per_s": len(files) / seconds}


def ort_session(data_or_path, device: str):
    from cyclegan.infer.runtime import OrtGenerator

    return OrtGenerator(data_or_path, device=device)


def ort_model_only(model, batch: int, h: int, w: int, repeats: int, warmup: int) -> float:
    x = np.random.default_rng(0).uniform(-1, 1, (batch, 3, h, w)).astype(np.float32)
    return median_ms(lambda: model(x), "cpu", repeats, warmup)


def torch_model_only(cfg: ModelConfig, batch: int, size: int, device: str, dtype, repeats,
                     warmup, fused=False, channels_last=False) -> float:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    gen = ResnetGenerator(cfg, fused=fused).to(device, dtype, memory_format=fmt).eval()
    x = (torch.rand(batch, 3, size, size, device=device, dtype=dtype) * 2 - 1).to(
        memory_format=fmt)
    with torch.no_grad():
        return median_ms(lambda: gen(x), device, repeats, warmup)


def ort_cuda_usable() -> bool:
    if not have_onnxruntime():
        return False
    from cyclegan.infer.runtime import choose_providers, gpu_present

    return gpu_present() and len(choose_providers("auto")) > 1


def plain_loop(model: Path, src: Path, out: Path) -> float:
    """The plainest script: PIL open -> one onnxruntime session -> save; returns seconds."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.perf_counter()
    for path in sorted(src.glob("*.jpg")):
        x = np.asarray(Image.open(path).convert("RGB"), np.float32)  # sizes: multiples of 4
        y = sess.run(None, {"input": x.transpose(2, 0, 1)[None] / 127.5 - 1})[0][0]
        pixels = np.clip(np.rint((y.transpose(1, 2, 0) + 1) * 127.5), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(out / path.name, quality=95)
    return time.perf_counter() - start


def model_only_loop(model: Path, src: Path, batch: int | None) -> float:
    """Seconds for the model alone on the folder's images, decoded beforehand, in the
    batches cyclegan-infer makes: the ceiling the pipeline should come within 5% of."""
    from cyclegan.infer.io import to_model_input
    from cyclegan.infer.runtime import OrtGenerator

    gen = OrtGenerator(model, device="cpu")
    xs = [to_model_input(np.asarray(Image.open(p).convert("RGB")))
          for p in sorted(src.glob("*.jpg"))]
    h, w = xs[0].shape[1:]
    batch = batch_limit(batch or default_batch_size("cpu"), h, w)
    batches = [np.stack(xs[i:i + batch]) for i in range(0, len(xs), batch)]
    gen(batches[0])  # the pipeline's session is warm after its first batch too
    start = time.perf_counter()
    for x in batches:
        gen(x)
    return time.perf_counter() - start


def interleaved(model: Path, src: Path, out: Path, rounds: int, batch: int | None) -> dict:
    """cyclegan-infer, the plain loop and the model alone, rotating which goes first, since
    this machine's speed swings between runs; only ratios within a round are compared:
    plain seconds / cyclegan-infer seconds, and cyclegan-infer seconds / model-only seconds."""
    runs = {
        # fp32 like the plain loop: the same model on every side, not its int8 variant.
        "pipe": lambda: run_pipeline(model, src, out, "cpu", batch, "fp32")["seconds"],
        "plain": lambda: plain_loop(model, src, out),
        "model": lambda: model_only_loop(model, src, batch),
    }
    names = list(runs)
    vs_plain, vs_model = [], []
    for r in range(rounds):
        t = {name: runs[name]() for name in names[r % 3:] + names[:r % 3]}
        vs_plain.append(t["plain"] / t["pipe"])
        vs_model.append(t["pipe"] / t["model"])

    def spread(ratios):
        return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}

    return {"rounds": rounds, "vs_plain": spread(vs_plain), "vs_model": spread(vs_model)}


INT8_VARIANTS = {"int8": True, "plain QDQ int8": False}  # label: quantize_bytes(tuned=...)


def session_options_note(sess) -> str:
    """What the timed sessions ran with, read back from one of them."""
    import onnxruntime as ort

    opts = sess.session.get_session_options()
    spin = opts.get_session_config_entry("session.intra_op.allow_spinning") or "default (1)"
    return (f"onnxruntime {ort.__version__}, {sess.session.get_providers()[0]}, "
            f"intra_op_num_threads {opts.intra_op_num_threads}, inter_op_num_threads "
            f"{opts.inter_op_num_threads}, {opts.graph_optimization_level.name}, "
            f"{opts.execution_mode.name}, allow_spinning {spin}")


def op_profile(model: bytes, x: np.ndarray, runs: int, workdir: Path) -> dict[str, float]:
    """ms per run by node type (as onnxruntime runs them, after its fusions), from its
    profiler, with OrtGenerator's options; the first (warm-up) run is left out."""
    import onnxruntime as ort

    from cyclegan.infer.runtime import cpu_count

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads, opts.inter_op_num_threads = cpu_count(), 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
    opts.enable_profiling = True
    opts.profile_file_prefix = str(workdir / "ort_profile")
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for _ in range(runs + 1):
        sess.run(None, {name: x})
    trace = Path(sess.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    runs_ts = sorted(e["ts"] + e["dur"] for e in events if e.get("name") == "model_run")
    by_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and \
                e["ts"] >= runs_ts[0]:
            op = e["args"]["op_name"]
            by_op[op] = by_op.get(op, 0.0) + e["dur"] / 1e3 / runs
    return by_op


def profile_rows(name: str, profiles: dict[str, dict[str, float]], top: int = 10) -> list:
    """One row per node type: ms per run and share of each variant's node time."""
    totals = {k: sum(v.values()) for k, v in profiles.items()}
    ops = sorted({op for v in profiles.values() for op in v},
                 key=lambda op: -max(v.get(op, 0.0) for v in profiles.values()))
    rows = []
    for op in ops[:top]:
        cells = [f"{v[op]:.1f} ({100 * v[op] / totals[k]:.0f}%)" if op in v else "-"
                 for k, v in profiles.items()]
        rows.append([name, op, *cells])
    rows.append([name, "all nodes", *[f"{t:.1f}" for t in totals.values()]])
    return rows


def time_models(models: dict[str, bytes], x: np.ndarray, args, tables: dict) -> dict:
    """ms per round for each model on x, in interleaved rounds (cyclegan-infer's sessions)."""
    sessions = {k: ort_session(v, "cpu") for k, v in models.items()}
    tables["options"] = session_options_note(sessions["fp32"])
    cases = {k: (lambda s=s: s(x)) for k, s in sessions.items()}
    return time_interleaved(cases, "cpu", args.rounds, args.repeats, 1)


def ratios(times: dict[str, list[float]], a: str, b: str) -> list[float]:
    """a's time over b's, round by round."""
    return [p / q for p, q in zip(times[a], times[b])]


def int8_cases(fp32: bytes, name: str, args, sizes, batches, tables: dict, work: Path) -> None:
    """fp32 against int8 (as cyclegan-export makes it) and onnxruntime's plain QDQ int8, model
    only, in interleaved rounds; each int8's PSNR to fp32 on held-back real photos; with
    --profile, where each spends its time at 256x256, batch 1."""
    from cyclegan.contract import read_metadata
    from cyclegan.export import quantize

    size = quantize.working_size(read_metadata(fp32))
    calib = quantize.load_photos(args.photos / "trainA", 32, log=lambda m: None)
    held = quantize.load_photos(args.photos / "testA", 16, log=lambda m: None)
    models = {"fp32": fp32}
    for label, tuned in INT8_VARIANTS.items():
        t0 = time.perf_counter()
        models[label] = quantize.quantize_bytes(fp32, calib, size, tuned=tuned)
        seconds = time.perf_counter() - t0
        g = quantize.gate(fp32, models[label], held, size)
        tables["quality"].append([name, label, f"{g.median:.1f} dB", f"{g.worst:.1f} dB",
                                  f"{len(calib)} / {len(held)}", f"{seconds:.0f} s"])
        print(f"{name}: {label} calibrated in {seconds:.0f} s, {g}", flush=True)
    for (h, w) in sizes:
        # cyclegan-infer's own cap (batch 2 at 1024x768): batch 8 of a full-size generator
        # there needs over 20 GB, more than this machine has.
        for b in sorted({batch_limit(b, h, w) for b in batches}):
            x = np.random.default_rng(0).uniform(-1, 1, (b, 3, h, w)).astype(np.float32)
            times = time_models(models, x, args, tables)
            ms = {k: statistics.median(v) for k, v in times.items()}
            row = [name, f"{w}x{h}, batch {b}", f"{ms['fp32']:.0f}", f"{ms['int8']:.0f}",
                   spread(ratios(times, "fp32", "int8")), f"{ms['plain QDQ int8']:.0f}",
                   spread(ratios(times, "fp32", "plain QDQ int8")),
                   spread(ratios(times, "plain QDQ int8", "int8"))]
            tables["speed"].append(row)
            print(" | ".join(row), flush=True)  # long runs: keep partial results
            if args.profile and (h, w, b) == (256, 256, 1):
                profiles = {k: op_profile(v, x, args.repeats, work) for k, v in models.items()}
                tables["profile"] += profile_rows(name, profiles)


INT8_TABLES = {
    "speed": ["model", "case", "fp32 ms", "int8 ms", "int8 speed-up, median (min, max)",
              "plain QDQ ms", "plain QDQ speed-up", "int8 / plain QDQ"],
    "quality": ["model", "int8 graph", "median PSNR to fp32", "worst", "calibration / held",
                "calibration time"],
    "profile": ["model", "node type", "fp32 ms (share)", "int8 ms (share)",
                "plain QDQ ms (share)"],
}


def extra_cases(args, work: Path, record) -> dict | None:
    """The issue-12 cases: int8 against fp32 (returns its tables), and cyclegan-infer against
    the plain loop."""
    model, model_name = demo_model(args.model, work)
    if args.only == "interleaved":
        n = 24 if args.quick else 150
        src = make_folder(work / "in_256", n, 256, 256)
        r = interleaved(model, src, work / "out", args.rounds, args.batch_size)
        for key, what in (("vs_plain", "plain loop s / cyclegan-infer s"),
                          ("vs_model", "cyclegan-infer s / model-only s")):
            s = r[key]
            record("interleaved 256x256", f"{what}, {model_name}", n, float("nan"),
                   f"median {s['median']:.3f}x, min {s['min']:.3f}x, max {s['max']:.3f}x "
                   f"over {r['rounds']} rounds")
        return None
    if not args.photos.is_dir():
        print(f"int8 cases skipped: no photos at {args.photos}")
        return None
    from cyclegan.export.to_onnx import trace_to_onnx

    torch.manual_seed(0)
    full = trace_to_onnx(ResnetGenerator(FULL, fused=False).eval())
    sizes = ((256, 256),) if args.quick or args.int8_256_only else ((256, 256), (768, 1024))
    tables: dict = {key: [] for key in INT8_TABLES}
    print(load_note(), flush=True)
    for fp32, name in ((full, "full (ngf 64, 9 blocks, untrained)"),
                       (model.read_bytes(), model_name)):
        int8_cases(fp32, name, args, sizes, args.int8_batches, tables, work)
    print(f"\nsessions: {tables.pop('options', 'none timed')}; {args.rounds} interleaved "
          f"rounds, each timing the median of {args.repeats} runs after 1 warm-up")
    for key, headers in INT8_TABLES.items():
        if tables[key]:
            print()
            print_table(headers, tables[key])
    return {key: [dict(zip(headers, row)) for row in tables[key]]
            for key, headers in INT8_TABLES.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda adds the GPU cases (default: cpu)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 24 + 4 images, model-only batch 1, fewer repeats")
    p.add_argument("--model", type=Path, help="ONNX generator for the end-to-end runs "
                   "(default: the bundled demo model; a random stand-in when missing)")
    p.add_argument("--n-small", type=int, default=200, help="256x256 JPEGs (default: 200)")
    p.add_argument("--n-large", type=int, default=50, help="1024x768 JPEGs (default: 50)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="cyclegan-infer --batch-size (default: cyclegan-infer's own)")
    p.add_argument("--repeats", type=int, default=3, help="model-only timing repeats")
    p.add_argument("--workdir", type=Path, help="where the folders go (default: a temp dir)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds of cyclegan-infer vs the plain loop (default: 3)")
    p.add_argument("--photos", type=Path, default=REAL_PHOTOS,
                   help="trainA/testA photos for int8 calibration and quality (default: "
                        "../shared/data/summer2winter_mini beside the repository)")
    p.add_argument("--only", choices=["int8", "interleaved"],
                   help="run just the int8 cases or just the interleaved comparison")
    p.add_argument("--int8-256-only", action="store_true",
                   help="int8 cases at 256x256 only (1024x768 takes minutes per round here)")
    p.add_argument("--int8-batches", type=lambda v: tuple(int(b) for b in v.split(",")),
                   default=(1,), help="int8 cases: batch sizes, e.g. 1,8 (default: 1, "
                   "cyclegan-infer's CPU default)")
    p.add_argument("--profile", action="store_true",
                   help="int8 cases: also onnxruntime's per-node-type times at 256x256")
    args = p.parse_args(argv)
    if args.rounds < 3:
        p.error("--rounds must be at least 3 (a median with a spread)")
    batches = (1,) if args.quick else (1, 8)
    n_small, n_large = (24, 4) if args.quick else (args.n_small, args.n_large)
    repeats, warmup = (1, 1) if args.quick else (args.repeats, 1)
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("--device cuda: torch sees no CUDA device", file=sys.stderr)
        return 2
    rows, results = [], []
    tables = None
    ort_devices: list[str] = []

    def record(section, case, images, ips, note=""):
        rows.append([section, case, images, f"{ips:.3g}", f"{1e3 / ips:.1f}", note])
        print(" | ".join(map(str, rows[-1])), flush=True)  # long runs: keep partial results
        results.append({"section": section, "case": case, "images": images,
                        "images_per_s": ips, "note": note})

    owned = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="bench_infer_")) if owned else args.workdir
    try:
        if args.only:
            tables = extra_cases(args, work, record)
        elif have_onnxruntime():
            model, model_name = demo_model(args.model, work)
            cfg = model_config_of(model)
            ort_devices = ["cpu"] + (["cuda"] if cuda and ort_cuda_usable() else [])
            for label, (n, w, h) in {"256x256": (n_small, 256, 256),
                                     "1024x768": (n_large, 1024, 768)}.items():
                src = make_folder(work / f"in_{label}", n, w, h)
                for dev in ort_devices:
                    batch = args.batch_size or default_batch_size(dev)
                    # fp32, the file model-only times: not the int8 variant auto would pick.
                    e2e = run_pipeline(model, src, work / "out", dev, batch, "fp32")
                    sess = ort_session(model, dev)
                    b = batch_limit(batch, h, w)
                    ms = ort_model_only(sess, b, h, w, max(repeats, 2), 1)
                    model_ips = b / (ms / 1e3)
                    ratio = e2e["images_per_s"] / model_ips
                    record(f"end-to-end {label}", f"cyclegan-infer ({dev}, batch "
                           f"{batch})", n, e2e["images_per_s"],
                           f"{ratio:.0%} of model-only")
                    record(f"end-to-end {label}", f"model only (onnxruntime {dev}, batch {b})",
                           n, model_ips)
                naive_dev = "cuda" if cuda else "cpu"
                nv = naive_loop(cfg, src, work / "out", naive_dev)
                record(f"end-to-end {label}", f"naive loop (torch {naive_dev}, batch 1)", n,
                       nv["images_per_s"])
            print(f"end-to-end model: {model_name}")
        else:
            print("onnxruntime not installed: end-to-end and onnxruntime cases skipped")

        size = 256
        sessions = {}
        if not args.only and have_onnxruntime():
            from cyclegan.export.to_onnx import trace_to_onnx

            torch.manual_seed(0)
            full = ResnetGenerator(FULL, fused=False).eval()
            cases = [("fp32", "cpu")] + ([("fp32", "cuda"), ("fp16", "cuda")]
                                         if "cuda" in ort_devices else [])
            sessions = {c: ort_session(trace_to_onnx(full, c[0]), c[1]) for c in cases}
        for b in batches if not args.only else ():
            ms = torch_model_only(FULL, b, size, "cpu", torch.float32, repeats, warmup)
            record("model only, full 9-block", f"torch eager cpu fp32, batch {b}", b,
                   b / (ms / 1e3))
            for (precision, dev), sess in sessions.items():
                ms = ort_model_only(sess, b, size, size, repeats, warmup)
                record("model only, full 9-block", f"onnxruntime {dev} {precision}, batch {b}",
                       b, b / (ms / 1e3))
            if cuda:
                # The ceiling for cyclegan-infer on this GPU: the generator alone in torch.
                for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16),
                                    ("fp16", torch.float16)):
                    for cl in (False, True):
                        ms = torch_model_only(FULL, b, size, "cuda", dtype, max(repeats, 10), 3,
                                              channels_last=cl)
                        layout = ", channels_last" if cl else ""
                        record("model only, full 9-block",
                               f"torch eager cuda {name}{layout}, batch {b}", b, b / (ms / 1e3))
        if cuda and not ort_cuda_usable():
            print("onnxruntime CUDA provider not usable here: GPU end-to-end and onnxruntime "
                  "CUDA cases skipped (torch CUDA measured instead)")
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)

    if rows:
        print_table(["section", "case", "images", "images/s", "ms/image", "note"], rows,
                    args.device)
    write_json(args.json, {"benchmark": "infer", "machine": machine(args.device),
                           "quick": args.quick, "results": results, "int8_tables": tables})
    return 0


if __name__ == "__main__":
    sys.exit(main())
