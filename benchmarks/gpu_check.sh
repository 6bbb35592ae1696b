#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU (sized for at most 8 minutes on one H200):
# build the extension for sm_90, report the build, run the CUDA tests (the emulated kernels
# too, as a cross-check of the harness against the GPU), the large-tensor, 16384^2-plane
# and CUDA-graph checks, the op bandwidth against a device copy (fp32 and bf16), then the
# training and inference benchmarks when those scripts exist. Everything goes to $OUT
# (default ./gpu-results): log.txt, info.txt, JSON per benchmark, timings.txt.
# Without a GPU it builds, runs the CPU op tests, the emulation and a short CPU op
# benchmark, and lists what it skipped.
#   usage: OUT=/tmp/out bash benchmarks/gpu_check.sh     (CUDA_ARCH=90 by default; "" = full list)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-results}
ARCH=${CUDA_ARCH-90}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
# shellcheck source=gpu_steps.sh
source benchmarks/gpu_steps.sh  # the scripts run from the repository root

step "build (CUDA architectures: ${ARCH:-default list})"
define=()
[ -n "$ARCH" ] && define=(-Ccmake.define.CMAKE_CUDA_ARCHITECTURES="$ARCH")
# --no-build-isolation: build machines without network use their preinstalled tools.
run 120 "$PY" -m pip install -q --no-build-isolation --no-deps "${define[@]}" . || exit 1
(cd /tmp && "$PY" -m cyclegan.info) | tee "$OUT/info.txt"

has_gpu=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))")
if [ "$has_gpu" != "1" ]; then
  step "no GPU: CPU op tests, the CUDA kernel emulation and a short CPU op benchmark"
  run 120 "$PY" -m pytest -q tests/test_ops.py tests/test_cuda_emulation.py
  run 60 "$PY" benchmarks/bench_ops.py --repeats 5 --warmup 2 --shapes 1,256,64,64 \
    --json "$OUT/ops_cpu.json"
  {
    echo "skipped (torch sees no CUDA device): CUDA op tests, >2^31-element tensor,"
    echo "16384x16384 plane, CUDA-graph capture/replay, CUDA op bandwidth vs copy,"
    echo "training and inference benchmarks on CUDA"
  } | tee -a "$OUT/log.txt"
  exit $status
fi
"$PY" -c "import torch; print(torch.cuda.device_count(), 'GPU(s):', torch.cuda.get_device_name(0))" \
  | tee -a "$OUT/info.txt"

step "op tests on CUDA (CUDA twins, CUDA graphs, >2^31 elements, a 16384^2 plane) + emulation"
run 100 "$PY" -m pytest -q -ra tests/test_ops.py tests/test_info.py tests/test_cuda_emulation.py \
  --junitxml="$OUT/tests_ops.xml"

step "CUDA tests of the other modules"
run 60 "$PY" -m pytest -q -ra -k cuda tests --ignore=tests/test_ops.py \
  --ignore=tests/test_cuda_emulation.py --junitxml="$OUT/tests_cuda.xml"

step "op benchmark, CUDA fp32 and bf16 (bandwidth vs device-to-device copy)"
shapes="8,256,64,64;1,256,64,64;4,256,64,64;1,128,128,128;1,64,256,256"
run 40 "$PY" benchmarks/bench_ops.py --device cuda --dtype fp32 --shapes "$shapes" --repeats 50 \
  --json "$OUT/ops_cuda_fp32.json"
run 40 "$PY" benchmarks/bench_ops.py --device cuda --dtype bf16 --shapes "$shapes" --repeats 50 \
  --json "$OUT/ops_cuda_bf16.json"

if [ -f benchmarks/bench_train.py ]; then
  step "training iterations on CUDA"
  run 90 "$PY" benchmarks/bench_train.py --device cuda --skip-cpu --compile \
    --json "$OUT/train_cuda.json"
fi
if [ "$("$PY" -c "import torch; print(torch.cuda.device_count())")" -gt 1 ]; then
  step "a second GPU: 20 DDP steps under torchrun on 2 GPUs"
  run 45 "$PY" -m torch.distributed.run --nproc-per-node 2 -m cyclegan.train \
    --data builtin:seasons --out "$OUT/ddp-run" --steps 20 --image-size 128 --batch-size 4 \
    --precision bf16 --channels-last --quiet
else
  echo "one GPU: the DDP check was skipped" | tee -a "$OUT/log.txt"
fi
if [ -f benchmarks/bench_infer.py ]; then
  step "inference on CUDA (torch; onnxruntime CUDA when onnxruntime-gpu is installed)"
  run 45 "$PY" benchmarks/bench_infer.py --device cuda --json "$OUT/infer_cuda.json"
fi
echo; echo "total $(( $(date +%s) - t0 )) s; results in $OUT" | tee -a "$OUT/log.txt"
exit $status
