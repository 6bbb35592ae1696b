"""Training-iteration throughput and memory: fused kernels vs plain PyTorch layers.

One iteration is what `cyclegan-train` runs per step (cyclegan.train.recipe.train_step): both
generators, both discriminators, all losses, image pools, two Adam steps. Inputs are
random tensors, so data loading is not measured. Fused and plain models are timed in
the same process, interleaved repeat by repeat so machine noise hits both alike; the
reported rate is the median over repeats after warm-up.

Memory, per case:
  activation bytes: tensors autograd saves for backward during the generator update (the
    larger of the two updates), deduplicated by storage, parameters excluded;
  peak bytes: CUDA max_memory_allocated above the pre-iteration level, or on CPU the
    growth of the process's peak RSS (VmHWM, reset through /proc/self/clear_refs).

  python benchmarks/bench_train.py                  # CPU: 256 px batch 1, 128 px batch 4
  python benchmarks/bench_train.py --device cuda    # + GPU cases (precision, batch, layout)
  python benchmarks/bench_train.py --quick          # tiny smoke run
  python benchmarks/bench_train.py --cpu-precision  # bf16 against fp32, the bundled shape
  python benchmarks/bench_train.py --cpu-losses     # what the anchor terms cost, same shape

--cpu-precision times bf16 autocast against fp32 on the CPU at the bundled models' shape
(112 px crops, ngf 32, ndf 64, 6 blocks, bilinear upsampling, batch 1, fused kernels, as
benchmarks/change_study.sh trains them), the two alternating round by round, and
reports the ratio per round in process CPU seconds (what one torch thread on a shared
machine spends) and in wall seconds: median, min and max. The host line records whether
the CPU has bf16 units (AMX, AVX-512 BF16): only one CPU, which has both, is measured.

--cpu-losses times, at the same shape in bf16, what holds the translation to its photo in
each recipe of change_study.sh: the identity loss (the paper arm: two more generator
passes), the structure loss in its place (frozen EfficientNet-Lite0 on photo and
translation), and the structure and tone losses together (paper-struct-tone), rotating
round by round; per round each recipe's seconds per iteration over the identity recipe's.
Needs the efficientnet extra (the structure loss's backbone).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import host_note  # noqa: E402

from cyclegan.layers import fused_unavailable_reason  # noqa: E402
from cyclegan.models import ModelConfig, PatchDiscriminator, ResnetGenerator, init_weights  # noqa: E402,E501
from cyclegan.train.recipe import Discriminators, Generators, ImagePool, LossWeights, train_step  # noqa: E402,E501
from cyclegan.train.structure import structure_loss  # noqa: E402


@dataclass
class Case:
    device: str
    image_size: int
    batch: int
    fused: bool
    precision: str = "fp32"
    channels_last: bool = False
    ngf: int = 64
    n_blocks: int = 9
    compile: bool = False
    ndf: int | None = None  # None: ngf
    upsample: str = "deconv"
    weights: LossWeights = LossWeights(10.0, 0.5, 2.0)  # the paper's, as cyclegan-train's defaults


@dataclass
class Result:
    case: Case
    images_per_s: float
    iter_ms: float
    activation_bytes: int
    peak_bytes: int | None


class Trainer:
    """Models, optimizers and pools for one case, plus a fixed batch of inputs."""

    def __init__(self, case: Case):
        self.case = case
        self.device = torch.device(case.device)
        torch.manual_seed(0)
        cfg = ModelConfig(ngf=case.ngf, ndf=case.ndf or case.ngf, n_blocks=case.n_blocks,
                          upsample=case.upsample)
        self.G = Generators(ResnetGenerator(cfg, case.fused), ResnetGenerator(cfg, case.fused))
        self.D = Discriminators({"patch": PatchDiscriminator(cfg)},
                                {"patch": PatchDiscriminator(cfg)})
        init_weights(self.G)
        init_weights(self.D)
        fmt = torch.channels_last if case.channels_last else torch.contiguous_format
        self.G.to(self.device, memory_format=fmt)
        self.D.to(self.device, memory_format=fmt)
        if case.compile:
            # As cyclegan-train --compile: in place, so warm-up absorbs the compilation.
            for net in (self.G.a2b, self.G.b2a, *self.D.a.values(), *self.D.b.values()):
                net.compile()
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.pools = (ImagePool(50, seed=0), ImagePool(50, seed=1))
        shape = (case.batch, 3, case.image_size, case.image_size)
        self.real_a = (torch.rand(shape) * 2 - 1).to(self.device, memory_format=fmt)
        self.real_b = (torch.rand(shape) * 2 - 1).to(self.device, memory_format=fmt)
        self.autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16)
                         if case.precision == "bf16" else contextlib.nullcontext())
        self.structure = (structure_loss(self.device) if case.weights.lambda_struct
                          else None)

    def step(self) -> None:
        train_step(self.G, self.D, self.opt_G, self.opt_D, self.pools, self.real_a,
                   self.real_b, self.case.weights, self.autocast, structure=self.structure)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def activation_bytes(self) -> int:
        """Bytes saved for backward during the generator update (storage-deduplicated)."""
        params = {p.untyped_storage().data_ptr()
                  for p in itertools.chain(self.G.parameters(), self.D.parameters())}
        seen: dict[int, int] = {}
        in_g_update = [True]

        def pack(t: torch.Tensor):
            if in_g_update[0] and t.device.type != "meta":
                s = t.untyped_storage()
                if s.data_ptr() not in params:
                    seen[s.data_ptr()] = max(seen.get(s.data_ptr(), 0), s.nbytes())
            return t

        def generator_update_done(*_):
            in_g_update[0] = False

        handle = self.opt_G.register_step_post_hook(generator_update_done)
        try:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                self.step()
        finally:
            handle.remove()
        return sum(seen.values())

    def peak_bytes(self) -> int | None:
        """Peak CUDA memory of one step above the resting state; None on CPU, where no
        allocator statistics exist and RSS growth mostly reflects the allocator's caching
        (the saved-activation bytes are the comparable figure there)."""
        if self.device.type != "cuda":
            return None
        self.sync()
        base = torch.cuda.memory_allocated(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        self.step()
        self.sync()
        return torch.cuda.max_memory_allocated(self.device) - base


def interleave(trainers: list[Trainer], warmup: int, rounds: int,
               iters: int) -> list[dict[str, list[float]]]:
    """Warm each trainer up, then time them in turn, `rounds` times: per trainer, seconds
    per iteration on the wall clock and on the process's CPU clock, one of each per round."""
    for tr in trainers:
        for _ in range(warmup):
            tr.step()
    times = [{"wall": [], "cpu": []} for _ in trainers]
    for _ in range(rounds):
        for tr, t in zip(trainers, times):
            tr.sync()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(iters):
                tr.step()
            tr.sync()
            t["cpu"].append((time.process_time() - cpu) / iters)
            t["wall"].append((time.perf_counter() - wall) / iters)
    return times


def run_pair(cases: list[Case], warmup: int, repeats: int, iters: int) -> list[Result]:
    """Time the cases (fused and plain variants of one setting) interleaved."""
    trainers = [Trainer(c) for c in cases]
    results = []
    for tr, t in zip(trainers, interleave(trainers, warmup, repeats, iters)):
        sec = statistics.median(t["wall"])
        results.append(Result(tr.case, tr.case.batch / sec, sec * 1e3, tr.activation_bytes(),
                              tr.peak_bytes()))
    del trainers
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return results


def precision_rounds(rounds: int, iters: int, warmup: int) -> dict:
    """bf16 against fp32 at the bundled shape, alternating per round (see the module doc):
    per round the fp32 / bf16 ratio of seconds per iteration, process CPU and wall."""
    shape = dict(ngf=32, ndf=64, n_blocks=6, upsample="bilinear")
    trainers = [Trainer(Case("cpu", 112, 1, True, p, **shape)) for p in ("fp32", "bf16")]
    fp32, bf16 = interleave(trainers, warmup, rounds, iters)
    out = {}
    for clock in ("cpu", "wall"):
        ratios = [a / b for a, b in zip(fp32[clock], bf16[clock])]
        out[clock] = {"fp32_s": statistics.median(fp32[clock]),
                      "bf16_s": statistics.median(bf16[clock]),
                      "ratio": statistics.median(ratios), "min": min(ratios),
                      "max": max(ratios)}
    return out


# change_study.sh's arms whose anchors --cpu-losses compares (the identity loss, the
# structure loss, structure and tone); the first is the base of the ratios.
ANCHOR_ARMS = ("paper", "paper-struct", "paper-struct-tone")
RECIPES = Path(__file__).with_name("recipes.sh")


def arm_weights(arm: str) -> LossWeights:
    """The loss weights of a change_study.sh arm, read from recipes.sh (where the arms'
    flags are written) through cyclegan-train's own parser."""
    from cyclegan.cli.train import build_parser
    from cyclegan.train.config import TrainConfig

    flags = subprocess.run(["bash", "-c", 'source "$0" && arm_flags "$1"', str(RECIPES), arm],
                           capture_output=True, text=True, check=True).stdout.split()
    values = vars(build_parser().parse_args(flags))
    values.pop("resume")
    return LossWeights.from_config(TrainConfig(**values))


def loss_rounds(rounds: int, iters: int, warmup: int) -> dict:
    """Each of ANCHOR_ARMS at the bundled shape in bf16, rotating per round (see the module doc):
    per recipe its median seconds per iteration and, per round, its time over the identity
    recipe's (median, min, max), on the process CPU clock and the wall clock."""
    shape = dict(ngf=32, ndf=64, n_blocks=6, upsample="bilinear")
    trainers = [Trainer(Case("cpu", 112, 1, True, "bf16", weights=arm_weights(a), **shape))
                for a in ANCHOR_ARMS]
    times = dict(zip(ANCHOR_ARMS, interleave(trainers, warmup, rounds, iters)))
    out = {}
    for clock in ("cpu", "wall"):
        base = times[ANCHOR_ARMS[0]][clock]
        out[clock] = {}
        for name, t in times.items():
            ratios = [a / b for a, b in zip(t[clock], base)]
            out[clock][name] = {"s": statistics.median(t[clock]),
                                "ratio": statistics.median(ratios), "min": min(ratios),
                                "max": max(ratios)}
    return out


def _precision_lines(res: dict, rounds: int) -> list[str]:
    return [f"{clock:4} s/iteration: fp32 {r['fp32_s']:.3f}, bf16 {r['bf16_s']:.3f}; "
            f"bf16 {r['ratio']:.2f}x as fast ({r['min']:.2f}x-{r['max']:.2f}x over {rounds} "
            "rounds)" for clock, r in res.items()]


def _loss_lines(res: dict, rounds: int) -> list[str]:
    return [f"{clock:4} {name:18} {r['s']:.3f} s/iteration, {r['ratio']:.2f}x the identity "
            f"recipe's ({r['min']:.2f}x-{r['max']:.2f}x over {rounds} rounds)"
            for clock, recipes in res.items() for name, r in recipes.items()]


def settings(args) -> list[Case]:
    """Plain-variant cases; each is also run fused."""
    if args.quick:
        small = dict(ngf=8, n_blocks=2)
        out = [Case("cpu", 32, 1, False, **small), Case("cpu", 32, 2, False, **small)]
        if args.device == "cuda":
            out += [Case("cuda", 32, 2, False, p, cl, **small)
                    for p in ("fp32", "bf16") for cl in (False, True)]
        return out
    out = [] if args.skip_cpu else [Case("cpu", 256, 1, False), Case("cpu", 128, 4, False,
                                                                     n_blocks=6)]
    if args.device == "cuda":
        out += [Case("cuda", 256, b, False, p, cl)
                for p in ("fp32", "bf16") for b in (1, 4, 8) for cl in (False, True)]
        if args.compile:
            out += [Case("cuda", 256, b, False, "bf16", True, compile=True) for b in (1, 8)]
    return out


def mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda adds the GPU cases to the CPU ones")
    p.add_argument("--skip-cpu", action="store_true", help="with --device cuda: GPU cases only")
    p.add_argument("--compile", action="store_true",
                   help="with --device cuda: also bf16 channels_last cases under torch.compile")
    p.add_argument("--quick", action="store_true", help="tiny models, few iterations (smoke test)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed iterations (default 2; 1 quick)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5; 2 quick)")
    p.add_argument("--iters", type=int, default=None,
                   help="iterations per repeat (default: 3 on CPU, 10 on CUDA; 1 quick)")
    p.add_argument("--cpu-precision", action="store_true",
                   help="only bf16 against fp32 on the CPU at the bundled shape; --repeats "
                        "rounds (default 5) of --iters iterations (default 10)")
    p.add_argument("--cpu-losses", action="store_true",
                   help="only the anchor losses' cost on the CPU (identity, structure, "
                        "structure + tone) at the bundled shape in bf16; --repeats rounds "
                        "(default 5) of --iters iterations (default 10)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_train: --device cuda but no CUDA device is available", file=sys.stderr)
        return 2
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)

    if args.cpu_precision or args.cpu_losses:
        print(host_note("cpu"))
        if (reason := fused_unavailable_reason("cpu")) is not None:
            print(f"fused ops unavailable on cpu: {reason}", file=sys.stderr)
            return 1
        key = "cpu_losses" if args.cpu_losses else "cpu_precision"
        res = (loss_rounds if args.cpu_losses else precision_rounds)(
            repeats, args.iters or 10, warmup)
        for line in (_loss_lines if args.cpu_losses else _precision_lines)(res, repeats):
            print(line)
        if args.json:
            _write_json(Path(args.json), {"info": {"torch": torch.__version__,
                                                   "threads": torch.get_num_threads()},
                                          key: res})
        return 0

    rows: list[Result] = []
    header = (f"{'device':6} {'size':>4} {'batch':>5} {'prec':5} {'NHWC':4} {'path':6} "
              f"{'img/s':>8} {'ms/it':>8} {'act MiB':>8} {'peak MiB':>9} {'speedup':>7} "
              f"{'act saved':>9}")
    print(host_note(args.device))
    print(header)
    for plain in settings(args):
        if (reason := fused_unavailable_reason(plain.device)) is not None:
            print(f"fused ops unavailable on {plain.device}: {reason}", file=sys.stderr)
            return 1
        iters = args.iters or (1 if args.quick else (10 if plain.device == "cuda" else 3))
        fused = replace(plain, fused=True)
        res_fused, res_plain = run_pair([fused, plain], warmup, repeats, iters)
        for r in (res_plain, res_fused):
            c = r.case
            extra = ""
            if c.fused:
                extra = (f"{r.images_per_s / res_plain.images_per_s:6.2f}x "
                         f"{1 - r.activation_bytes / res_plain.activation_bytes:8.0%}")
            print(f"{c.device:6} {c.image_size:>4} {c.batch:>5} {c.precision:5} "
                  f"{'yes' if c.channels_last else 'no':4} {'fused' if c.fused else 'plain':6} "
                  f"{r.images_per_s:8.2f} {r.iter_ms:8.1f} {mib(r.activation_bytes):>8} "
                  f"{mib(r.peak_bytes):>9} {extra}", flush=True)
        rows += [res_plain, res_fused]

    if args.json:
        info = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                "cpu_count": os.cpu_count(), "quick": args.quick,
                "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
                "warmup": warmup, "repeats": repeats}
        doc = {"info": info, "results": [{**asdict(r.case), **{k: v for k, v in asdict(r).items()
                                                               if k != "case"}} for r in rows]}
        _write_json(Path(args.json), doc)
    return 0


def _write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
