#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU: build the extension with CUDA kernels,
# report the build, run the test suite (CUDA twins included) and the GPU benchmarks.
# Results (logs and JSON) go to $OUT (default ./gpu-results). Without a GPU it still
# builds, runs the CPU op tests and a short CPU op benchmark, and says what it skipped.
#   usage: bash benchmarks/gpu_check.sh            (CUDA_ARCH=90 by default; "" = full list)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-results}
ARCH=${CUDA_ARCH-90}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
status=0
step() { echo; echo "== $*"; }
run() { "$@" 2>&1 | tee -a "$OUT/log.txt"; local rc=${PIPESTATUS[0]}; [ "$rc" -eq 0 ] || status=$rc; return "$rc"; }

step "build (CUDA architectures: ${ARCH:-default list})"
define=()
[ -n "$ARCH" ] && define=(-Ccmake.define.CMAKE_CUDA_ARCHITECTURES="$ARCH")
start=$(date +%s)
# --no-build-isolation: build machines without network use their preinstalled tools.
run "$PY" -m pip install -q --no-build-isolation --no-deps "${define[@]}" . || exit 1
echo "build took $(( $(date +%s) - start )) s" | tee -a "$OUT/log.txt"
(cd /tmp && "$PY" -m cyclegan.info) | tee "$OUT/info.txt"

has_gpu=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))")
if [ "$has_gpu" != "1" ]; then
  step "no GPU: CPU op tests and a short CPU op benchmark only"
  run "$PY" -m pytest -q tests/test_ops.py
  run "$PY" benchmarks/bench_ops.py --repeats 5 --warmup 2 --shapes 1,256,64,64 \
    --json "$OUT/ops_cpu.json"
  echo "GPU parts skipped: torch sees no CUDA device"
  exit $status
fi

step "tests (CUDA twins run here)"
run "$PY" -m pytest -q -x tests/test_ops.py tests/test_info.py
run "$PY" -m pytest -q -k "cuda" tests

step "op benchmark, CUDA fp32 and bf16 (bandwidth vs device-to-device copy)"
shapes="8,256,64,64;1,256,64,64;4,256,64,64;1,128,128,128;1,64,256,256"
run "$PY" benchmarks/bench_ops.py --device cuda --dtype fp32 --shapes "$shapes" --repeats 50 \
  --json "$OUT/ops_cuda_fp32.json"
run "$PY" benchmarks/bench_ops.py --device cuda --dtype bf16 --shapes "$shapes" --repeats 50 \
  --json "$OUT/ops_cuda_bf16.json"

if [ -f benchmarks/bench_train.py ]; then
  step "training iterations on CUDA (fp32/bf16, fused/unfused, batch 1/4/8, channels_last)"
  run "$PY" benchmarks/bench_train.py --device cuda --skip-cpu --json "$OUT/train_cuda.json"
fi
if [ -f benchmarks/bench_infer.py ]; then
  step "inference on CUDA (torch; onnxruntime CUDA when onnxruntime-gpu is installed)"
  run "$PY" benchmarks/bench_infer.py --device cuda --json "$OUT/infer_cuda.json"
fi
echo; echo "results in $OUT"
exit $status
