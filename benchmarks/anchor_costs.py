"""What the anchor losses charge for the other season against a colour grade (issue 27).

On paired procedural scenes (builtin:seasons renders the same scene in summer and in
winter), the structure loss (train/structure.py) and the tone loss (train/tone.py) of a
summer render against: its winter render (the change the issue wants), a colour grade of
it (60% desaturated and cooled: the change the models make), a 5 x 5 box blur and its
negative. The structure loss is also taken at coarser feature levels and the tone loss at
a coarser pooling, to see whether a coarser anchor would charge the winter render less
against the grade. Needs the efficientnet extra.

  python benchmarks/anchor_costs.py [--scenes 16] [--seed 5]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from cyclegan import backbone
from cyclegan.data import seasons_pairs
from cyclegan.evaluation.metrics import grayscale
from cyclegan.train import structure, tone


def grade(x: torch.Tensor) -> torch.Tensor:
    y = 0.4 * x + 0.6 * grayscale(x).expand_as(x)
    return (y + torch.tensor([-0.05, 0.0, 0.08]).view(1, 3, 1, 1)).clamp(-1, 1)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", type=int, default=16)
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    summer, winter = seasons_pairs(args.scenes, 112, seed=args.seed)
    others = {"winter render": winter, "colour grade": grade(summer),
              "blur 5x5": F.avg_pool2d(summer, 5, 1, 2, count_include_pad=False),
              "negative": -summer}
    net = backbone.load("cpu")
    print(f"{args.scenes} scenes at 112 px, seed {args.seed}; loss of the summer render against:")
    print(f"{'anchor':28}" + "".join(f"{n:>15}" for n in others))
    for levels in (structure.LEVELS, ("s8",), ("s8", "s16"), ("s16",)):
        with torch.no_grad():
            loss = structure.StructureLoss(net, levels)
            row = [float(loss(summer, y)) for y in others.values()]
        print(f"{'structure ' + '+'.join(levels):28}" + "".join(f"{v:15.3f}" for v in row))
    for scale in (tone.SCALE, 8):
        row = [float(tone.tone_loss(summer, y, scale)) for y in others.values()]
        print(f"{f'tone, pooled by {scale}':28}" + "".join(f"{v:15.3f}" for v in row))


if __name__ == "__main__":
    main()
