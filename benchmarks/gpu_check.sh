#!/usr/bin/env bash
# The whole GPU check in one call, for the lent GPU machine (docs/kernels.md, "The GPU check"):
#
#   bash benchmarks/gpu_check.sh              # on the GPU machine, from the repository root
#   bash benchmarks/gpu_check.sh --dry-run    # anywhere: the plumbing, device steps skipped
#   make gpu-check                            # the same as the first line
#
# That machine has Python 3.12 with CuPy, numba, numba-cuda, PyTorch and pytest installed, and no
# package registry. The script installs the project there with no network, prints the device,
# driver and package versions, then runs each step under its own time limit:
#   install     pip install --no-deps --no-build-isolation -e .
#   versions    device, driver, CUDA runtime, Python and package versions (versions.json)
#   gpu_tests   pytest -m gpu: the CuPy and Numba kernels and the GPU backend on the device
#   memcheck    compute-sanitizer --tool memcheck  over every kernel version launched once
#   racecheck   compute-sanitizer --tool racecheck over the same launches
#   kernels     bench_kernels.py: each version's TFLOP/s or GB/s against cuBLAS and the copy
#   train_args  bench_train.py --dry-run: the GPU step's arguments parse (here too)
#   train       bench_train.py --device cuda: the GPU GPT step against PyTorch eager CUDA
# A step that fails or runs out of time is recorded and the next one runs. Everything goes
# into one folder (--out, default benchmarks/results/gpu-check-<date>/): one log per step,
# steps.tsv, and the JSON of the benchmarks; the summary, with device, driver, versions, date and
# commit, goes to benchmarks/results/gpu-<date>.json (--results to change the folder). The
# limits add up to less than 8 minutes, and a step never runs past the total (--budget seconds).
# --fail STEP makes STEP fail, to test that the others still run (tests/kernels/test_gpu_check.py).
set -u

PY=${PYTHON:-python3}
DRY=0
BUDGET=470
FAIL=""
DATE=$(date -u +%Y-%m-%d)
OUT=""
RESULTS="benchmarks/results"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT="$2"; shift ;;
    --results) RESULTS="$2"; shift ;;
    --budget) BUDGET="$2"; shift ;;
    --python) PY="$2"; shift ;;
    --fail) FAIL="$2"; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
cd "$(dirname "$0")/.." || exit 2
OUT=${OUT:-benchmarks/results/gpu-check-$DATE}
mkdir -p "$OUT" "$RESULTS"
: > "$OUT/steps.tsv"
START=$(date +%s)
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}

# run_step NAME LIMIT_SECONDS DEVICE(0/1) COMMAND...: runs COMMAND under `timeout`, its output in
# $OUT/NAME.log (and on the terminal), one line in steps.tsv: name, status, rc, seconds, limit
run_step() {
  local name=$1 limit=$2 device=$3
  shift 3
  local left=$((BUDGET - ($(date +%s) - START)))
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit} s)"
  if [ "$DRY" = 1 ] && [ "$device" = 1 ]; then
    echo "SKIPPED (dry run, no GPU): would run: $*" | tee "$OUT/$name.log"
    printf '%s\tskipped\t0\t0\t%s\n' "$name" "$limit" >> "$OUT/steps.tsv"
    return 0
  fi
  if [ "$limit" -le 0 ]; then
    echo "SKIPPED: the ${BUDGET} s budget is spent" | tee "$OUT/$name.log"
    printf '%s\tno_time\t0\t0\t0\n' "$name" >> "$OUT/steps.tsv"
    return 0
  fi
  local t0=$(date +%s) rc
  if [ "$name" = "$FAIL" ]; then
    echo "gpu_check --fail $name: failing on purpose" > "$OUT/$name.log"
    rc=1
  else
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
  fi
  tail -n 25 "$OUT/$name.log"
  local status=ok
  [ $rc -ne 0 ] && status=failed
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && status=timed_out
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$(($(date +%s) - t0))" "$limit" \
    >> "$OUT/steps.tsv"
  echo "-- $name: $status (rc $rc)"
}

# compute-sanitizer over the launch set; says plainly when the runtime refuses the tool
sanitize() {
  local tool=$1
  if ! command -v compute-sanitizer > /dev/null; then
    echo "compute-sanitizer is not on PATH (nor in /usr/local/cuda/bin): $tool not run"
    return 3
  fi
  compute-sanitizer --tool "$tool" --print-limit 20 \
    "$PY" benchmarks/bench_kernels.py --validate --backends "$SANITIZE_BACKENDS" 2>&1
}
sanitize_step() {
  local tool=$1
  sanitize "$tool" > "$OUT/$tool.raw" 2>&1
  local rc=$?
  cat "$OUT/$tool.raw"
  if grep -q "ERROR SUMMARY: 0 errors" "$OUT/$tool.raw"; then
    echo "$tool: no errors"
  elif grep -q "ERROR SUMMARY" "$OUT/$tool.raw"; then
    echo "$tool: ERRORS FOUND (see above)"
  else
    echo "$tool: the runtime refused compute-sanitizer, or it did not start (rc $rc): no result"
  fi
  rm -f "$OUT/$tool.raw"
  return "$rc"
}
export -f sanitize sanitize_step
export PY OUT SANITIZE_BACKENDS=${SANITIZE_BACKENDS:-cupy,numba}

PATH=$PATH:/usr/local/cuda/bin
install() {
  "$PY" -m pip install --no-deps --no-build-isolation -e . 2>&1 && return 0
  echo "retrying with --break-system-packages (an externally managed Python)"
  "$PY" -m pip install --no-deps --no-build-isolation --break-system-packages -e . 2>&1
}
export -f install

# the limits add up to 465 s; the budget (470 s) caps them all, so the call ends within 8 minutes
run_step install 45 1 bash -c install
run_step versions 20 0 "$PY" benchmarks/gpu_versions.py --out "$OUT/versions.json"
run_step gpu_tests 140 1 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests
run_step memcheck 40 1 bash -c "sanitize_step memcheck"
run_step racecheck 40 1 bash -c "sanitize_step racecheck"
run_step kernels 110 1 "$PY" benchmarks/bench_kernels.py --repeats 5 --out "$OUT/kernels.json"
# the GPU config of the issue's target: 6 layers x 384 wide, T = 256, B = 64
GPT_GPU=(--preset shakespeare-char --n_layer=6 --n_head=6 --n_embd=384 --block_size=256
  --batch_size=64)
run_step train_args 20 0 "$PY" benchmarks/bench_train.py --dry-run "${GPT_GPU[@]}"
run_step train 50 1 "$PY" benchmarks/bench_train.py --device cuda --steps 10 --warmup 3 \
  --pause 0 "${GPT_GPU[@]}" --json "$OUT/train.json"

SUFFIX=""
[ "$DRY" = 1 ] && SUFFIX="-dry-run"
"$PY" benchmarks/gpu_versions.py --summary "$OUT" --dry-run "$DRY" \
  --out "$RESULTS/gpu-$DATE$SUFFIX.json"
rc=$?
echo "gpu_check: $(($(date +%s) - START)) s in all; logs in $OUT"
exit $rc
