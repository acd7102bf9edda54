#!/usr/bin/env bash
# Benchmark of `mmops edge-sim`: rows per second for a plain replay and an 8-combination sweep,
# peak memory (flat as the input grows), and the ratio against a straightforward Python version
# of the same rules (benches/edge_sim_reference.py), after checking that both agree.
#
# Usage: benches/edge_sim.sh [WORKDIR]   (needs /usr/bin/time: apt-get install time)
# Targets (issue 5): >= 20M raw rows/s on one core; sweep < 2x a single run on 2 cores.
# Issue 19: >= 20M raw rows/s with every anti-flap rule on; 1M window rows switching every few
# windows peak at <= 16 MiB.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d /tmp/edge-sim-bench.XXXXXX)}"
mkdir -p "$work"
bin="$repo/target/release/mmops"

echo "building release binary..."
(cd "$repo" && cargo build --release --quiet)

# (awk's %d is 32-bit in mawk, so timestamps are printed with %.0f.)
# Raw samples every 6 s with a slow swing that crosses zero, and some noise; 1M window rows of EMAs.
generate_raw() { # rows file
  awk -v n="$1" 'BEGIN { srand(42); for (i = 0; i < n; i++)
    printf "%.0f,%.4f\n", 1760000000 + i * 6, sin(i / 40000.0) * 2.0 + 0.4 + (rand() - 0.5) * 3.0 }' \
    | { echo "ts,edge_bps"; cat; } > "$2"
}
[ -s "$work/raw_10m.csv" ] || { echo "generating 10M raw samples..."; generate_raw 10000000 "$work/raw_10m.csv"; }
[ -s "$work/raw_1m.csv" ] || generate_raw 1000000 "$work/raw_1m.csv"
[ -s "$work/windows_1m.csv" ] || { echo "generating 1M window rows..."; awk 'BEGIN { srand(7); print "ts,ema1h,ema24h";
  for (i = 1; i <= 1000000; i++) printf "%.0f,%.4f,%.4f\n", 1760140800 + i * 1800, sin(i / 150.0) * 1.5 + (rand() - 0.5), cos(i / 600.0) * 1.2 + 1.0 }' > "$work/windows_1m.csv"; }

# measure LABEL ROWS CMD... -> best wall time of $repeat runs, rows/s and peak RSS (of that run);
# stores the seconds in $seconds. /usr/bin/time reports wall time in 10 ms steps.
measure() {
  local label="$1" rows="$2"; shift 2
  local best="" rss="" wall run
  for run in $(seq "${repeat:-3}"); do
    /usr/bin/time -v -o "$work/time.txt" "$@" > "$work/out.txt"
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$work/time.txt")
    if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN { exit !(a < b) }'; then
      best="$wall"
      rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")
    fi
  done
  seconds="$best"
  awk -v l="$label" -v r="$rows" -v s="$best" -v m="$rss" \
    'BEGIN { if (s <= 0) s = 0.005; printf "%-44s %8.2f s  %7.1f M rows/s  peak RSS %6.1f MiB\n", l, s, r / s / 1e6, m / 1024 }'
}

# Every anti-flap rule on, and a series of window rows that switches profile every 4 windows.
printf 'min_dwell: 1h\ngap_policy: degrade\nmax_gap: 2h\ncooldown_backoff: {factor: 2, max_windows: 12, reset_after: 6h}\n' > "$work/anti_flap.yaml"
[ -s "$work/flapping_1m.csv" ] || awk 'BEGIN { print "ts,ema1h,ema24h"; for (i = 1; i <= 1000000; i++) { p = i % 4;
  printf "%.0f,%s,%s\n", 1760140800 + i * 1800, (p == 0 ? "1" : "-1"), (p == 0 ? "2" : "0") } }' > "$work/flapping_1m.csv"

sweep=(--sweep ema1h_threshold=-0.5,0 --sweep consecutive_windows=2,3 --sweep ema24h_recovery_threshold=1.5,2)

echo
echo "machine: $(nproc) cores, $(uname -m); $("$bin" --version)"
measure "mmops raw 1M (memory check)" 1000000 "$bin" -q edge-sim --input "$work/raw_1m.csv"
measure "mmops raw 10M, plain" 10000000 "$bin" -q edge-sim --input "$work/raw_10m.csv"; plain=$seconds
measure "mmops raw 10M, plain, one core (taskset)" 10000000 taskset -c 0 "$bin" -q edge-sim --input "$work/raw_10m.csv"
measure "mmops raw 10M, 8-combination sweep" 10000000 "$bin" -q edge-sim --input "$work/raw_10m.csv" "${sweep[@]}"; swept=$seconds
measure "mmops raw 10M, every anti-flap rule" 10000000 "$bin" -q edge-sim --config "$work/anti_flap.yaml" --input "$work/raw_10m.csv"
measure "mmops windows 1M switching every 4 (memory)" 1000000 "$bin" edge-sim --input "$work/flapping_1m.csv"
measure "mmops windows 1M switching, --format json (memory)" 1000000 "$bin" --format json edge-sim --input "$work/flapping_1m.csv"
measure "mmops windows 1M switching, anti-flap rules" 1000000 "$bin" edge-sim --config "$work/anti_flap.yaml" --input "$work/flapping_1m.csv"
measure "mmops windows 1M, plain" 1000000 "$bin" -q edge-sim --input "$work/windows_1m.csv"
measure "mmops windows 1M, 8-combination sweep" 1000000 "$bin" -q edge-sim --input "$work/windows_1m.csv" "${sweep[@]}"
repeat=1 measure "python reference raw 10M" 10000000 python3 "$repo/benches/edge_sim_reference.py" "$work/raw_10m.csv"; python=$seconds
python_result=$(cat "$work/out.txt")
repeat=1 measure "python reference windows 1M" 1000000 python3 "$repo/benches/edge_sim_reference.py" "$work/windows_1m.csv"
python_windows=$(cat "$work/out.txt")

# Both implementations must agree before their speeds are compared.
summary() { "$bin" --format json edge-sim --input "$1" | python3 -c 'import json, sys; d = json.load(sys.stdin)
print("policy_applied_count={} final_profile={} windows={} gaps={}".format(d["policy_applied_count"], d["final_profile"], d["windows_seen"], d["gaps"]))'; }
rust_result=$(summary "$work/raw_10m.csv")
rust_windows=$(summary "$work/windows_1m.csv")
echo
echo "raw 10M:    mmops  $rust_result"
echo "            python $python_result"
echo "windows 1M: mmops  $rust_windows"
echo "            python $python_windows"
if [ "$rust_result" != "$python_result" ] || [ "$rust_windows" != "$python_windows" ]; then
  echo "MISMATCH between mmops and the Python reference" >&2
  exit 1
fi
awk -v p="$plain" -v s="$swept" -v y="$python" 'BEGIN {
  printf "\nsweep / plain: %.2fx (target < 2x)   python / mmops (raw 10M): %.0fx\n", s / p, y / p }'
