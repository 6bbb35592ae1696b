#!/usr/bin/env bash
# The recipe study of docs/experiments.md: PatchGAN against the projected discriminator, both
# with EMA generators, same seed and flags, one torch thread each, side by side (one per
# core); a copy of latest.pt is kept every time it changes (--save-minutes 10), then every
# snapshot is scored by cyclegan-eval on the held-out split and the plot is drawn.
#   bash benchmarks/recipe_study.sh SPLIT OUT     (SPLIT from holdout_split.py --holdout 200)
set -euo pipefail
SPLIT=$(realpath "$1"); OUT=$(realpath -m "$2"); HERE=$(dirname "$(realpath "$0")")
source "$HERE/snapshots.sh"
mkdir -p "$OUT"
FLAGS=(--data "$SPLIT" --image-size 112 --load-size 128 --ngf 32 --n-blocks 6
       --upsample bilinear --epochs 2 --decay-epochs 1 --save-minutes 10 --save-every 1
       --log-every 25 --seed 0 --workers 1 --quiet --domains summer,winter)

train() {  # NAME DISCRIMINATOR: trains (or resumes) and snapshots latest.pt as it changes (follow)
  local run=$OUT/$1 resume=()
  [ -e "$run/checkpoints/latest.pt" ] && resume=(--resume "$run")
  OMP_NUM_THREADS=1 cyclegan-train --out "$run" "${FLAGS[@]}" --discriminator "$2" \
    "${resume[@]}" > "$run.log" 2>&1 &
  follow "$run" $!
}

train patch_ema patch & train proj_ema projected & wait

for run in patch_ema proj_ema; do
  for snap in "$OUT/$run"/snapshots/step_*.pt; do
    json=$OUT/${run}_$(basename "$snap" .pt | cut -d_ -f2).json
    [ -s "$json" ] || cyclegan-eval "$snap" --data "$SPLIT" --image-size 128 \
      --max-images 200 --device cpu --json "$json" --quiet > /dev/null
  done
done
# The same snapshots at 256 px, the photos' own size: above the 128 px working scale, so
# each is translated as cyclegan-infer does it (the generator at 128, the guided step to
# 256). This is the scoring that chose the bundled models.
for run in patch_ema proj_ema; do
  for snap in "$OUT/$run"/snapshots/step_*.pt; do
    json=$OUT/${run}_$(basename "$snap" .pt | cut -d_ -f2)_g256.json
    [ -s "$json" ] || cyclegan-eval "$snap" --data "$SPLIT" --image-size 256 \
      --max-images 200 --device cpu --json "$json" --quiet > /dev/null
  done
done
python "$HERE/plot_study.py" "$OUT/recipe_study.svg" \
  "patch=$OUT/patch_ema:$OUT/patch_ema_0?????.json" \
  "projected=$OUT/proj_ema:$OUT/proj_ema_0?????.json"
python "$HERE/plot_study.py" "$OUT/recipe_study_256.svg" \
  "patch=$OUT/patch_ema:$OUT/patch_ema_0*_g256.json" \
  "projected=$OUT/proj_ema:$OUT/proj_ema_0*_g256.json"
