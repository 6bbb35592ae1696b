#!/usr/bin/env bash
# The equal-minute study of issue 27: recipes that spend CPU on change, each arm trained for
# the same wall minutes (--budget-minutes, the learning rate decaying linearly to 0 over
# them), two arms side by side, one torch thread each (one per core). A copy of latest.pt is
# kept each time it is rewritten (--save-minutes), and every snapshot is scored on the
# 200 + 200 hold-out at the photos' own 256 px (so through the guided step, as
# cyclegan-infer delivers), EfficientNet-Lite0 pooled and stride-16 KID.
#
#   bash benchmarks/change_study.sh SPLIT OUT [BUDGET] [ARM ...]
#
# SPLIT from `holdout_split.py --holdout 200`. BUDGET: wall minutes of training (default 75)
# or, for a long run continued over several days, steps written as e.g. 18000steps (a steps
# budget resumes bit-exactly and does not depend on the machine's pace). ARM names one of
# the arms below (default: change and prior). Interrupted? Run it again: each arm resumes (a
# finished budget is skipped) and snapshots already scored are not scored again. STAGE=train
# or STAGE=eval runs one half only; EVERY=k scores every k-th snapshot and the last.
set -euo pipefail
source "$(dirname "$(realpath "$0")")/snapshots.sh"
SPLIT=$(realpath "$1"); OUT=$(realpath -m "$2"); BUDGET=${3:-75}; shift $(( $# < 3 ? $# : 3 ))
ARMS=("$@"); [ ${#ARMS[@]} -gt 0 ] || ARMS=(change prior)
STAGE=${STAGE:-all}
EVERY=${EVERY:-1}  # score every EVERY-th snapshot (and the last): each costs ~3 CPU minutes
mkdir -p "$OUT"
case $BUDGET in
  *steps) BUDGET_FLAG=(--budget-steps "${BUDGET%steps}") ;;
  *) BUDGET_FLAG=(--budget-minutes "$BUDGET") ;;
esac
# Shared by every arm: the bundled models' shape and scale (ngf 32, 6 blocks, bilinear
# upsampling, 112 px crops of photos loaded at 128 px), PatchGAN, EMA generators, seed 0.
BASE=(--data "$SPLIT" --image-size 112 --load-size 128 --ngf 32 --n-blocks 6
      --upsample bilinear "${BUDGET_FLAG[@]}" --save-minutes 10 --save-every 1
      --log-every 25 --seed 0 --workers 1 --quiet --domains summer,winter
      --discriminator patch)
source "$(dirname "$(realpath "$0")")/recipes.sh"  # arm_flags NAME

train() {  # ARM: trains (or resumes) and snapshots latest.pt each time it changes (follow)
  local run=$OUT/$1 args
  read -r -a args <<< "$(arm_flags "$1")"
  if [ -e "$run/checkpoints/latest.pt" ]; then args=(--resume "$run"); else
    args=(--out "$run" "${BASE[@]}" "${args[@]}"); fi
  OMP_NUM_THREADS=1 cyclegan-train "${args[@]}" >> "$run.log" 2>&1 &
  follow "$run" $!
}

score() {  # ARM: every EVERY-th snapshot and the last, newest first, both directions, 256 px
  local snaps=("$OUT/$1"/snapshots/step_*.pt) i
  for (( i = ${#snaps[@]} - 1; i >= 0; i-- )); do
    local snap=${snaps[$i]}
    (( (i + 1) % EVERY == 0 || i + 1 == ${#snaps[@]} )) || continue
    local step; step=$(basename "$snap" .pt | cut -d_ -f2)
    for dir in A2B B2A; do
      local json=$OUT/$1_${step}_${dir}.json
      [ -s "$json" ] || OMP_NUM_THREADS=1 cyclegan-eval "$snap" --data "$SPLIT" \
        --direction "$dir" --image-size 256 --max-images 200 --device cpu \
        --json "$json" --quiet > /dev/null
    done
  done
}

if [ "$STAGE" != eval ]; then
  for arm in "${ARMS[@]}"; do mkdir -p "$OUT/$arm"; train "$arm" & done; wait
fi
if [ "$STAGE" != train ]; then
  for arm in "${ARMS[@]}"; do score "$arm" & done; wait
fi
