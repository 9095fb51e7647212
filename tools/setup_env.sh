#!/usr/bin/env bash
# Create .venv with the pinned stack and build softpool3d in place (CPU + CUDA kernels when a CUDA
# toolkit is found). Idempotent: re-running reuses the venv and rebuilds only what changed.
#   VENV=path (default .venv)   TORCH_CUDA_ARCH_LIST=9.0 (a shorter build)   MAX_JOBS=n
#   SOFTPOOL_BUILD_TEST_OPS=0 (leave out softpool3d._C_testing, the tests' device-body ops)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
"$VENV/bin/python" -m pip install -q -r requirements.txt -r requirements-test.txt
export MAX_JOBS=${MAX_JOBS:-2}
export SOFTPOOL_BUILD_TEST_OPS=${SOFTPOOL_BUILD_TEST_OPS:-1}
start=$(date +%s)
"$VENV/bin/python" -m pip install -q --no-build-isolation --no-deps -e .
echo "softpool3d built in $(( $(date +%s) - start )) s"
"$VENV/bin/python" -c "import softpool3d; print('softpool3d extension:', softpool3d.HAS_EXTENSION, '| CUDA kernels built:', softpool3d.ops.has_kernel('cuda'))"
