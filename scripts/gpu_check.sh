#!/usr/bin/env bash
# The GPU check in one command: the CUDA tests, the GPU benchmark rows, the 21-trial
# reference study timed (7 front-ends x 3 seeds x 40 epochs, seed_cnn, on a tone+noise set
# of Speech Commands v0.01's size made here), and a short table last. About 7 minutes on an
# H200: each step has a time cap, so a slow step costs its own figures, not the others'.
#
#   scripts/gpu_check.sh            # the GPU machine, from the repository root (.whl/ carried)
#   PYTHON=.venv/bin/python scripts/gpu_check.sh --tiny   # the same steps on CPU, tiny sizes
#
# Results (small) go to $OUT (default /tmp/gpu_check): gpu.txt, cuda_tests.txt,
# bench_*.json, study.json, table.txt. The data set (2.1 GB of WAVs and as much cache), the
# Optuna journal and MLflow go to $GPU_CHECK_WORK (default /tmp/gpu_check_work).
# Caps: GPU_CHECK_TESTS_S (90), GPU_CHECK_BENCH_S (each of 3 files, 150/60/60),
# GPU_CHECK_STUDY_S (240; --tiny 900); GPU_CHECK_WORKERS (7: 21 trials in 3 rounds).
set -uo pipefail  # no -e: a failing step is reported and the next one still runs
cd "$(dirname "$0")/.."
TINY=0; [[ "${1:-}" == --tiny ]] && TINY=1
OUT=${OUT:-/tmp/gpu_check}; WORK=${GPU_CHECK_WORK:-/tmp/gpu_check_work}
mkdir -p "$OUT" "$WORK"
PY=${PYTHON:-python3}
step() { printf '\n=== %s (%s UTC) ===\n' "$1" "$(date -u +%T)"; }

step "1. wheels"
if compgen -G ".whl/*.whl" > /dev/null; then  # made by ../shared/gpu/fetch-wheels.sh
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  echo "no .whl/ here: using the packages $PY has"
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi

if [[ $TINY == 1 ]]; then  # CPU: 1-thread torch, the GPU rows at tiny sizes, 2 workers
  DEVICE=cpu; WORKERS=2; STUDY_S=${GPU_CHECK_STUDY_S:-900}  # on a busy CPU imports take a minute
  STUDY_ARGS=(--tiny); TABLE_ARGS=(--peak-tflops 790)
  export OMP_NUM_THREADS=1 HARNESS_BENCH_REHEARSE=1 HARNESS_BENCH_BUDGET_S=0.2
else
  DEVICE=cuda; WORKERS=${GPU_CHECK_WORKERS:-7}; STUDY_S=${GPU_CHECK_STUDY_S:-240}
  STUDY_ARGS=(); TABLE_ARGS=()
  export HARNESS_BENCH_BUDGET_S=${HARNESS_BENCH_BUDGET_S:-1}
  if ! $PY -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "error: torch sees no CUDA device here; on CPU run: $0 --tiny"; exit 2
  fi
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv \
    | tee "$OUT/gpu.txt"
fi
export HARNESS_BENCH_DEVICE=$DEVICE
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

step "2. CUDA tests (pytest -m cuda)"
mapfile -t CUDA_FILES < <(grep -l "mark.cuda" tests/test_*.py)
timeout "${GPU_CHECK_TESTS_S:-90}" $PY -m pytest -m cuda -q -p no:cacheprovider \
  "${CUDA_FILES[@]}" 2>&1 | tee "$OUT/cuda_tests.txt" | tail -n 15

bench() {  # NAME CAP_S PYTEST_ARGS...: one benchmark file's rows into $OUT/bench_NAME.json
  local name=$1 cap=$2; shift 2
  timeout "$cap" $PY -m pytest -q -p no:cacheprovider --benchmark-enable \
    --benchmark-json "$OUT/bench_$name.json" "$@" 2>&1 | grep -v "^test_\|^---\|^Name\|^$" \
    | tail -n 30
}
step "3. benchmark rows on $DEVICE"
bench trainer "${GPU_CHECK_BENCH_S:-150}" tests/benchmarks/test_gpu.py
if [[ $TINY == 1 ]]; then  # full-width models take seconds a step on CPU: not rehearsed
  bench frontends "${GPU_CHECK_BENCH_S:-60}" tests/benchmarks/test_frontends.py \
    -k "batched and (complex or mel)"
else  # compiled rows are test_gpu.py's; the front-ends batched and per-clip
  bench models "${GPU_CHECK_BENCH_S:-60}" tests/benchmarks/test_models.py \
    -k "seed_cnn and not compile"
  bench frontends "${GPU_CHECK_BENCH_S:-60}" tests/benchmarks/test_frontends.py
fi

step "4. the reference study, $WORKERS workers on $DEVICE"
$PY scripts/gpu_study.py run --out "$OUT" --work "$WORK" --workers "$WORKERS" \
  --budget-s "$STUDY_S" "${STUDY_ARGS[@]}" 2>&1 | grep -v "^trial "

step "table"
$PY scripts/gpu_study.py table --out "$OUT" "${TABLE_ARGS[@]}" | tee "$OUT/table.txt"
