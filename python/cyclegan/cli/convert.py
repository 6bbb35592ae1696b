"""cyclegan-convert: argument parsing only; the work is in cyclegan.export.convert."""

from __future__ import annotations

import argparse
import sys

from cyclegan import flags
from cyclegan.cli import common
from cyclegan.contract import parse_domains
from cyclegan.export.config import ConvertConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cyclegan-convert",
        description="Turn a generator saved by the official CycleGAN code "
                    "(pytorch-CycleGAN-and-pix2pix, resnet_9blocks or resnet_6blocks with "
                    "instance norm, e.g. latest_net_G_A.pth or a pretrained "
                    "summer2winter_yosemite.pth) into a cyclegan checkpoint that "
                    "cyclegan-export and cyclegan-infer read.",
    )
    flags.add_flags(p, ConvertConfig)
    common.add_version(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        from cyclegan.export.convert import convert_file

        domains = parse_domains(args.domains) if args.domains else {"A": "A", "B": "B"}
        info = convert_file(args.src, args.out, args.direction, domains)
        if not args.quiet:
            cfg = info["config"]
            print(f"wrote {info['out']}: G_{info['direction']} (ngf {cfg['ngf']}, "
                  f"{cfg['n_blocks']} blocks)")
        return 0

    return common.run("cyclegan-convert", body)


if __name__ == "__main__":
    sys.exit(main())
