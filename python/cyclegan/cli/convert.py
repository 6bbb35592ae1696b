"""cyclegan-convert: argument parsing only; the work is in cyclegan.export.convert."""

from __future__ import annotations

import argparse
import sys

import cyclegan
from cyclegan.cli import common
from cyclegan.contract import DIRECTIONS, parse_domains


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cyclegan-convert",
        description="Turn a generator saved by the official CycleGAN code "
                    "(pytorch-CycleGAN-and-pix2pix, resnet_9blocks or resnet_6blocks with "
                    "instance norm, e.g. latest_net_G_A.pth or a pretrained "
                    "summer2winter_yosemite.pth) into a cyclegan checkpoint that "
                    "cyclegan-export and cyclegan-infer read.",
    )
    p.add_argument("src", metavar="PATH.pth", help="official generator state_dict")
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint file to write")
    p.add_argument("--direction", choices=DIRECTIONS, default=DIRECTIONS[0],
                   help="which generator this is: the official G_A (netG_A) is A2B, G_B is B2A "
                        "(default: A2B)")
    p.add_argument("--domains", default=None, metavar="A,B",
                   help="names of the two domains, e.g. summer,winter (default: A,B)")
    p.add_argument("--quiet", action="store_true", help="print errors only")
    p.add_argument("--version", action="version", version=f"%(prog)s {cyclegan.__version__}")
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
