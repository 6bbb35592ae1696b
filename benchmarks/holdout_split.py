"""Split a trainA/trainB photo folder into training photos and a fixed validation hold-out.

    python benchmarks/holdout_split.py ../shared/data/summer2winter data/s2w200

writes DEST/trainA, DEST/trainB (symlinks to the photos kept for training) and DEST/testA,
DEST/testB (the hold-out), the official layout that cyclegan-train and cyclegan-eval read,
and DEST/holdout.json naming the rule, the source and every held-out file with its SHA-256.

The rule: the hold-out is the last N files of each domain in name order (N = 200 by
default). The shared photos are named by their Flickr timestamps, so these are the most
recent N photos of each season: a block in time, rather than every k-th photo, so that
bursts of near-identical shots taken minutes apart do not end up on both sides of the
split. 200 per season is the size at which the validation distances are stable enough to
choose checkpoints by (docs/experiments.md, "Measuring quality"). The hold-out of N = 100
(the bundled models of 0.x) is the second half of the N = 200 one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

from cyclegan.images import list_images

DEFAULT_HOLDOUT = 200
RULE = "the last {n} files of each of trainA and trainB in name order"


def split(source: Path, dest: Path, holdout: int = DEFAULT_HOLDOUT) -> dict[str, int]:
    """Make the split (symlinks only; re-running with the same arguments is harmless);
    returns the number of photos in each of the four folders."""
    counts, held = {}, {}
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
        held[f"test{domain}"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                                 for p in photos[-holdout:]}
    manifest = {"rule": RULE.format(n=holdout), "source": str(source.resolve()),
                "holdout": holdout, "files": held}
    (dest / "holdout.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path, help="folder with trainA/ and trainB/")
    p.add_argument("dest", type=Path, help="folder to create (symlinks only)")
    p.add_argument("--holdout", type=int, default=DEFAULT_HOLDOUT,
                   help="validation photos per domain")
    args = p.parse_args()
    for name, n in split(args.source, args.dest, args.holdout).items():
        print(f"{args.dest / name}: {n} photos")


if __name__ == "__main__":
    main()
