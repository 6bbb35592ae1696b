#!/usr/bin/env bash
# The peer comparison of issue 27: the official CycleGAN code (junyanz/pytorch-CycleGAN-and-
# pix2pix, run from its own checkout, never copied here) trained on the same photos, crop size
# and CPU as the equal-minute study (change_study.sh), for the same wall minutes, with its own
# defaults (ngf 64, resnet_9blocks, 70x70 PatchGAN, lsgan, lambda 10, identity 0.5, pool 50,
# lr 0.0002 flat for its first 100 epochs, batch 1). Only what must match ours is set: the data,
# 112 px crops of photos loaded at 128 px, one data-loading worker, one torch thread. Its
# generators are saved every SAVE_ITERS iterations and each one is exported to ONNX
# (peer_export.py) and scored exactly as change_study.sh scores ours: 200 + 200 hold-out photos
# at 256 px through cyclegan-eval.
#
#   bash benchmarks/peer_study.sh OFFICIAL_CHECKOUT SPLIT OUT [MINUTES]
#
# OFFICIAL_CHECKOUT: a checkout of the official repository. PEER_PYTHON: an interpreter that
# imports torch, torchvision, dominate and wandb for it (default: python); PYTHON: one that
# imports cyclegan, for export (default: python). SAVE_ITERS: default 100 (about every 10
# minutes at the official code's pace on two loaded cores). DOMAINS: the names of A and B
# recorded in the exported files (default: summer,winter). MAX_IMAGES: hold-out photos per
# direction scored (default 200, the study's; fewer only for a quick check). STAGE=train or
# STAGE=eval runs one half only. Training is stopped (SIGTERM) after MINUTES (default 75; the
# official code has no time budget); it has run once OUT/official/times.tsv has a stop line,
# and running again then only scores the snapshots not scored yet (OUT/official_STEP_DIR.json,
# as change_study.sh names ours; OUT/official/log.jsonl places them in minutes). Scoring goes
# newest first, so the number at the full budget comes first; SNAPSHOTS="iter_500 iter_100"
# scores those only, in that order.
#
# Start it from the same shell session as the runs it is compared with: Linux's autogroup
# scheduling shares the CPU between sessions first, so a run in a session of its own gets as
# much CPU as all the study's arms in another together.
set -euo pipefail
CHECKOUT=$(realpath "$1"); SPLIT=$(realpath "$2"); OUT=$(realpath -m "$3"); MINUTES=${4:-75}
STAGE=${STAGE:-all}; SAVE_ITERS=${SAVE_ITERS:-100}; PEER_PYTHON=${PEER_PYTHON:-python}
PYTHON=${PYTHON:-python}; DOMAINS=${DOMAINS:-summer,winter}; MAX_IMAGES=${MAX_IMAGES:-200}
HERE=$(dirname "$(realpath "$0")")
RUN=$OUT/official              # the official code writes OUT/NAME/iter_N_net_G_A.pth etc.
mkdir -p "$RUN"

train() {
  if grep -q '^stop' "$RUN/times.tsv" 2>/dev/null; then echo "trained already: $RUN"; return; fi
  local commit; commit=$(git -C "$CHECKOUT" rev-parse HEAD 2>/dev/null || echo unknown)
  local start; start=$(date +%s.%N)
  printf 'commit\t%s\nstart\t%s\n' "$commit" "$start" > "$RUN/times.tsv"
  rm -f "$RUN/pid" "$RUN/cpu.tsv"
  # Every printed line gets its epoch second, so iterations per minute come from the log.
  ( cd "$CHECKOUT" && echo "$BASHPID" > "$RUN/pid" && OMP_NUM_THREADS=1 exec "$PEER_PYTHON" \
      -u train.py --dataroot "$SPLIT" --name official --checkpoints_dir "$OUT" \
      --model cycle_gan --load_size 128 --crop_size 112 --num_threads 1 --print_freq 25 \
      --save_latest_freq "$SAVE_ITERS" --save_by_iter 2>&1 ) \
    | while IFS= read -r line; do printf '%(%s)T %s\n' -1 "$line"; done > "$RUN/train.log" &
  local pipe=$! pid="" tck end left budget=""
  while [ -z "$pid" ]; do sleep 0.2; pid=$(cat "$RUN/pid" 2>/dev/null || true); done
  tck=$(getconf CLK_TCK)
  end=$(awk -v s="$start" -v m="$MINUTES" 'BEGIN {printf "%.3f", s + 60 * m}')
  # Its CPU seconds (utime + stime of the training process, as our log's process_cpu_s counts
  # ours) every 20 s, for the CPU-minute clock; SIGTERM at the budget's end (it has none).
  while kill -0 "$pid" 2>/dev/null; do
    awk -v t="$tck" -v now="$(date +%s.%N)" '{print now "\t" ($14 + $15) / t}' \
      "/proc/$pid/stat" >> "$RUN/cpu.tsv" 2>/dev/null || true
    left=$(awk -v e="$end" -v now="$(date +%s.%N)" 'BEGIN {l = e - now; print (l > 20 ? 20 : l)}')
    if awk -v l="$left" 'BEGIN {exit !(l <= 0)}'; then kill -TERM "$pid"; budget=1; break; fi
    sleep "$left"
  done
  wait "$pipe" || true
  printf 'stop\t%s\n' "$(date +%s.%N)" >> "$RUN/times.tsv"
  [ -n "$budget" ] || { echo "official training ended before the budget: $RUN/train.log" >&2
                        exit 1; }
}

score() {  # each snapshot, newest first: exported to ONNX, then both directions at 256 px
  "$PYTHON" "$HERE/peer_log.py" "$RUN"
  local snaps
  read -r -a snaps <<< "${SNAPSHOTS:-$(cd "$RUN" && ls iter_*_net_G_A.pth 2>/dev/null \
    | sed 's/_net_G_A.pth$//' | sort -t_ -k2,2nr | tr '\n' ' ')}"
  [ ${#snaps[@]} -gt 0 ] || { echo "no snapshot in $RUN" >&2; exit 1; }
  for snap in "${snaps[@]}"; do
    local step; step=$(printf %06d "${snap#iter_}")
    local onnx=$RUN/onnx/$snap
    for dir in A2B B2A; do
      local json=$OUT/official_${step}_${dir}.json
      [ -s "$json" ] && continue
      [ -s "$onnx/G_$dir.onnx" ] || OMP_NUM_THREADS=1 "$PYTHON" "$HERE/peer_export.py" \
        "$CHECKOUT" "$RUN" "$snap" --out "$onnx" --domains "$DOMAINS"
      OMP_NUM_THREADS=1 cyclegan-eval "$onnx/G_$dir.onnx" --data "$SPLIT" \
        --direction "$dir" --image-size 256 --max-images "$MAX_IMAGES" --device cpu \
        --json "$json" --quiet > /dev/null
    done
  done
}

if [ "$STAGE" != eval ]; then train; fi
if [ "$STAGE" != train ]; then score; fi
