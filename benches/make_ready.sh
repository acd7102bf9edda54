#!/usr/bin/env bash
# Benchmark for `mmops make-ready`: wall time of the parallel pre-live pack against the serial sum
# of its steps. Prints figures and ratios; asserts nothing (speed targets live here, not in tests).
#
#   benches/make_ready.sh            # synthetic sleeping steps + the shipped config (if runnable)
#
# 1. Synthetic: 6 steps sleeping 1.0/0.8/0.6/0.6/0.4/0.2 s (serial sum 3.6 s), run with
#    --jobs 6 (target: ≈ the slowest step, 1.0 s), the default --jobs (CPUs) and --jobs 1.
# 2. Shipped: deploy/release/make_ready.yaml from the repository root, default --jobs; the serial
#    sum is the sum of the steps' own durations from --format json.
# 3. Peer: the original toolkit's shape, one Python interpreter started per step, serially.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cargo build --release --quiet
mmops="$repo/target/release/mmops"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# --- 1. synthetic sleeping steps -------------------------------------------------------------
mkdir -p "$work/synthetic/artifacts"
printf '1.4.0\n' > "$work/synthetic/VERSION"
cp deploy/examples/soak/good/REPORT_SOAK_*.json "$work/synthetic/artifacts/"
{
  echo "steps:"
  for seconds in 1.0 0.8 0.6 0.6 0.4 0.2; do
    echo "  - name: sleep_${seconds/./_}_$RANDOM"
    echo "    run: [sleep, \"$seconds\"]"
  done
} > "$work/synthetic/make_ready.yaml"
serial_sum=3.6
echo "synthetic: 6 sleeping steps, serial sum ${serial_sum}s, slowest 1.0s, $(nproc) CPUs"
for jobs in 6 default 1; do
  flag=(); [ "$jobs" = default ] || flag=(--jobs "$jobs")
  start=$(now)
  "$mmops" -q -C "$work/synthetic" make-ready --config make_ready.yaml "${flag[@]}" > /dev/null
  end=$(now)
  wall=$(elapsed "$start" "$end")
  echo "  --jobs $jobs: wall ${wall}s  = $(ratio "$wall" "$serial_sum") × serial sum, $(ratio "$wall" 1.0) × slowest step"
done

# --- 2. the shipped config ----------------------------------------------------------------------
echo "shipped: deploy/release/make_ready.yaml (default --jobs)"
start=$(now)
set +e
json=$("$mmops" --format json make-ready --reports-dir deploy/examples/soak/good --out-json "$work/readiness.json")
code=$?
set -e
end=$(now)
wall=$(elapsed "$start" "$end")
read -r steps_sum slowest verdict < <(printf '%s' "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
durations = [s["duration"] for s in d["steps"]]
print("%.3f %.3f %s" % (sum(durations), max(durations), d["verdict"]))')
echo "  exit $code ($verdict): wall ${wall}s (whole make-ready), steps sum ${steps_sum}s, slowest step ${slowest}s"
echo "  wall / steps sum = $(ratio "$wall" "$steps_sum"); wall / slowest = $(ratio "$wall" "$slowest")"

# --- 3. peer: one interpreter per step, serially ---------------------------------------------
if command -v python3 > /dev/null; then
  start=$(now)
  for _ in 1 2 3 4 5 6; do python3 -c 'import json, os, sys' ; done
  end=$(now)
  peer=$(elapsed "$start" "$end")
  echo "peer: 6 Python interpreter starts (the original's per-step cost, doing no work): ${peer}s"
  echo "  shipped make-ready wall / peer startup alone = $(ratio "$wall" "$peer")"
fi
