"""Export a snapshot of the official CycleGAN code's generators (peer_study.sh) to the ONNX files
cyclegan-eval and cyclegan-infer take, so both codes are judged by one pipeline.

    python benchmarks/peer_export.py OFFICIAL_CHECKOUT RUN SNAPSHOT --out DIR [--domains A,B]

RUN is the official run folder (CHECKPOINTS_DIR/NAME, holding train_opt.txt and the saved
networks), SNAPSHOT a save prefix such as iter_300 or latest: RUN/SNAPSHOT_net_G_A.pth becomes
DIR/G_A2B.onnx and G_B DIR/G_B2A.onnx. The weights go through cyclegan.export.convert (the
official ResNet generator's layout in ours) and cyclegan.export.to_onnx (trace, metadata,
onnxruntime against our torch module); the file's working scale is the one our trainer would
record for the same data and sizes (cyclegan.workscale), read from the run's own options.
Then the ONNX file is run against the official generator itself, built by the checkout's own
networks.define_G (imported from OFFICIAL_CHECKOUT, never copied here), on the same inputs
and to the same tolerance: a conversion that changed what the network computes fails here.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

import torch
from torch import nn

from cyclegan.contract import ATOL
from cyclegan.export.convert import official_to_ours
from cyclegan.export.to_onnx import export_generator, verify
from cyclegan.fileio import atomic_write_bytes
from cyclegan.models import build_generator
from cyclegan.workscale import trained_work_size

NETS = (("G_A", "A2B"), ("G_B", "B2A"))  # the official names: G_A maps A to B
OPTION_LINE = re.compile(r"^\s*(\w+): (\S*)")


def run_options(run: Path) -> dict[str, str]:
    """The options the official train.py printed to RUN/train_opt.txt (name: value lines)."""
    path = run / "train_opt.txt"
    if not path.is_file():
        raise SystemExit(f"{path} not found: RUN must be the official run folder")
    return {m.group(1): m.group(2) for line in path.read_text().splitlines()
            if (m := OPTION_LINE.match(line))}


class Official(nn.Module):
    """The official generator, with the config verify() reads the input size rule from."""

    def __init__(self, net: nn.Module, config):
        super().__init__()
        self.net, self.config = net, config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def official_generator(checkout: Path, opts: dict[str, str], state: dict) -> nn.Module:
    """The checkout's own ResNet generator for these options, holding `state`."""
    sys.path.insert(0, str(checkout))
    from models import networks  # the official code, from its checkout

    net = networks.define_G(int(opts["input_nc"]), int(opts["output_nc"]), int(opts["ngf"]),
                            opts["netG"], opts["norm"], opts["no_dropout"] != "True",
                            opts["init_type"], float(opts["init_gain"]))
    net.load_state_dict(state)
    return net.cpu().float().eval()


def export(checkout: Path, run: Path, snapshot: str, out: Path,
           domains: dict[str, str]) -> list[Path]:
    opts = run_options(run)
    work = trained_work_size(opts["dataroot"], int(opts["crop_size"]), int(opts["load_size"]))
    step = re.fullmatch(r"iter_(\d+)", snapshot)
    written = []
    for tag, direction in NETS:
        src = run / f"{snapshot}_net_{tag}.pth"
        if not src.is_file():
            raise SystemExit(f"{src} not found")
        state = torch.load(src, map_location="cpu", weights_only=True)
        cfg, weights = official_to_ours(state)
        cfg = dataclasses.replace(cfg, work_size=work)
        generator = build_generator(cfg, fused=False)
        generator.load_state_dict(weights)
        meta = {"config": cfg.to_dict(), "domains": domains,
                "step": int(step.group(1)) if step else None}
        data, _ = export_generator(generator, meta, direction)
        checks = verify(data, Official(official_generator(checkout, opts, state), cfg))
        if not all(c.ok for c in checks):
            raise SystemExit(f"{src}: the ONNX file does not match the official generator\n  "
                             + "\n  ".join(map(str, checks)))
        target = out / f"G_{direction}.onnx"
        atomic_write_bytes(target, data)
        worst = max(c.max_abs_diff for c in checks)
        print(f"wrote {target} (work size {work}; max abs diff vs the official module "
              f"{worst:.2g}, tolerance {ATOL['fp32']:g})")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout", type=Path, help="the official code's checkout")
    ap.add_argument("run", type=Path, help="the official run folder (holds train_opt.txt)")
    ap.add_argument("snapshot", help="save prefix: iter_N or latest")
    ap.add_argument("--out", type=Path, required=True, help="folder for G_A2B/G_B2A.onnx")
    ap.add_argument("--domains", default="A,B", metavar="A,B",
                    help="names of domains A and B for the files' metadata (default: A,B)")
    args = ap.parse_args(argv)
    names = args.domains.split(",")
    if len(names) != 2 or not all(names):
        raise SystemExit("--domains takes two names, e.g. summer,winter")
    export(args.checkout.resolve(), args.run, args.snapshot, args.out,
           dict(zip("AB", names)))


if __name__ == "__main__":
    main()
