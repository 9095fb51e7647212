#!/usr/bin/env bash
# One-call GPU check for a lent H100/H200 (the CUDA kernels' first run on a device): build for
# sm_90, run the CUDA tests, benchmark the kernels on >= 1 GB inputs, profile x3d_m / slowfast_r50
# with max vs SoftPool; short table last.
# Full logs and JSON go to $OUT (or /tmp/gpu_check). Budget: <= 8 minutes.
#
# The device image has python3 + torch (CUDA) + pytest + hypothesis but no pytorchvideo/fvcore/decord:
# run `bash tools/gpu_wheels.sh` here first and pass `carry: [".whl"]`; wheels found in .whl/ are
# installed to /tmp/site. GPU_CHECK_SMALL=1 shrinks every size (to dry-run the script on a CPU box).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
summary="$OUT/summary.txt"
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
step() { local name=$1; shift; local t0=$(date +%s); "$@" > "$OUT/$name.log" 2>&1; local rc=$?;
         note "$(printf '%-14s rc=%-3s %4ss  %s' "$name" "$rc" "$(( $(date +%s) - t0 ))" "$(tail -n 1 "$OUT/$name.log")")"; return $rc; }

if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO GPU')" | tee -a "$summary"

if [ "${GPU_CHECK_SMALL:-0}" = 1 ]; then
  DEV=cpu; SHAPE="2 8 4 16 16"; BATCH=1; PROFILE_DEV=cpu; AMP=none
else
  DEV=cuda; SHAPE="16 64 16 128 128"; BATCH=8; PROFILE_DEV=cuda; AMP=bf16
fi

step build env TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16} \
  $PY setup.py build_ext --inplace
step tests $PY -m pytest -q -p no:cacheprovider tests/test_ops_cuda.py tests/test_ops.py \
  tests/test_adapool_cuda.py tests/test_adapool.py
step bench_pool $PY tools/bench_pool.py --device $DEV --shape $SHAPE --iters 5 --json "$OUT/bench_pool.json"
for model in x3d_m slowfast_r50; do
  for pool in max soft; do
    step "prof_${model}_$pool" $PY tools/profile.py --model $model --pool $pool --pool-sites all \
      --batch $BATCH --device $PROFILE_DEV --amp $AMP --json "$OUT/profile_${model}_$pool.json"
  done
done

echo; echo "== bench_pool (soft vs torch) =="
grep -E "^(layout|contig|channels)" "$OUT/bench_pool.log" | grep -E "layout| soft | max | avg " || true
echo; echo "== summary =="; cat "$summary"
