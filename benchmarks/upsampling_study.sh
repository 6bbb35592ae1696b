#!/usr/bin/env bash
# deconv vs resize upsampling at equal steps on the real-photo hold-out split (the study in
# docs/experiments.md): two runs that differ only in --upsample, then cyclegan-eval of each
# (domain score, structure SSIM, distribution distances, checkerboard energy).
#   bash benchmarks/upsampling_study.sh [DATA] [WORK]
# DATA: the split made by benchmarks/holdout_split.py (default bundled-work/data).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-bundled-work/summer2winter}
WORK=${2:-study-work}
for up in deconv resize; do
  run=$WORK/runs/$up
  if [ -f "$run/checkpoints/latest.pt" ]; then
    OMP_NUM_THREADS=1 cyclegan-train --resume "$run" --quiet
  else
    OMP_NUM_THREADS=1 cyclegan-train --data "$DATA" --out "$run" --image-size 128 \
      --load-size 256 --ngf 16 --n-blocks 6 --upsample "$up" --epochs 1 --decay-epochs 0 \
      --steps 800 --workers 1 --log-every 50 --seed 0 --quiet
  fi
  cyclegan-eval "$run" --data "$DATA" --image-size 256 --max-images 100 \
    --classifier-images 400 --classifier-steps 600 --device cpu --json "$WORK/eval_$up.json"
done
