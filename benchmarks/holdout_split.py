"""Split a trainA/trainB photo folder into training photos and a fixed validation hold-out.

    python benchmarks/holdout_split.py ../shared/data/summer2winter data/s2w --holdout 100

writes DEST/trainA, DEST/trainB (symlinks to the photos kept for training) and DEST/testA,
DEST/testB (the hold-out), the official layout that cyclegan-train and cyclegan-eval read.
The hold-out is the last N files of each domain in name order. The shared photos are named
by their Flickr timestamps, so these are the most recent N photos of each season: a block in
time, rather than every k-th photo, so that bursts of near-identical shots taken minutes
apart do not end up on both sides of the split.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cyclegan.images import list_images


def split(source: Path, dest: Path, holdout: int) -> dict[str, int]:
    counts = {}
    for domain in "AB":
        photos = list_images(source / f"train{domain}")
        if len(photos) <= holdout:
            raise SystemExit(f"{source}/train{domain} has {len(photos)} photos; "
                             f"cannot hold out {holdout}")
        for split_name, part in (("train", photos[:-holdout]), ("test", photos[-holdout:])):
            folder = dest / f"{split_name}{domain}"
            folder.mkdir(parents=True, exist_ok=True)
            for p in part:
                link = folder / p.name
                if not link.is_symlink():
                    os.symlink(p.resolve(), link)
            counts[f"{split_name}{domain}"] = len(part)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path, help="folder with trainA/ and trainB/")
    p.add_argument("dest", type=Path, help="folder to create (symlinks only)")
    p.add_argument("--holdout", type=int, default=100, help="validation photos per domain")
    args = p.parse_args()
    for name, n in split(args.source, args.dest, args.holdout).items():
        print(f"{args.dest / name}: {n} photos")


if __name__ == "__main__":
    main()
