#!/usr/bin/env bash
# Benchmark for `mmops cron-sentinel` (issue 14): 1,000 scheduled tasks (cron expressions in
# five zones, a fifth with timestamp: json:…) over existing files, on one core, against
# today's baseline of 100 max_age tasks. Target: the 1,000-task run under 20 ms of wall time.
# Prints figures and the ratio; asserts nothing.
#
#   benches/cron_sentinel.sh              # builds --release, uses a temporary folder
#   RUNS=21 TASKS=1000 benches/cron_sentinel.sh
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-11}
TASKS=${TASKS:-1000}
WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/mmops-cron-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cargo build --release --quiet
MMOPS=$PWD/target/release/mmops
# One core, as the issue states; without taskset the run is not pinned (and says so).
PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c 0); else echo "note: taskset missing, not pinned to one core" >&2; fi

python3 - "$WORK" "$TASKS" <<'PY'
import json, os, random, sys
root, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(14)
zones = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
schedules = ["0 2 * * MON-FRI", "30 1 * * *", "*/15 * * * *", "0 */6 * * *", "@daily", "@weekly",
             "0 3 1 * *", "15 4 * * SUN", "0 0 13 * FRI", "5,35 9-17 * * 1-5"]
now = 1795996800  # 2026-11-30T00:00:00Z, CI_FAKE_UTC below
os.makedirs(os.path.join(root, "artifacts"))
def write(name, text, age):
    path = os.path.join(root, "artifacts", name)
    with open(path, "w") as handle:
        handle.write(text)
    os.utime(path, (now - age, now - age))
scheduled, baseline = ["tasks:"], ["tasks:"]
for index in range(count):
    age = rng.uniform(0, 3 * 86400)
    name = f"job{index:04d}.json"
    write(name, json.dumps({"runtime": {"utc": now - int(age)}, "rows": index}), age)
    task = f"  - {{name: job{index:04d}, artifact: artifacts/{name}, schedule: '{rng.choice(schedules)}', tz: {rng.choice(zones)}"
    if index % 5 == 0:
        task += ", timestamp: 'json:/runtime/utc'"
    if index % 3 == 0:
        task += ", max_age: 3d, warn_age: 2d"
    scheduled.append(task + "}")
    if index < 100:
        baseline.append(f"  - {{name: job{index:04d}, artifact: artifacts/{name}, max_age: 36h}}")
open(os.path.join(root, "scheduled.yaml"), "w").write("\n".join(scheduled) + "\n")
open(os.path.join(root, "baseline.yaml"), "w").write("\n".join(baseline) + "\n")
PY

# median_ms ARGS...: runs mmops ARGS RUNS times (after one warm-up), prints the median wall ms.
median_ms() {
    "${PIN[@]}" "$MMOPS" "$@" >/dev/null 2>&1 || true
    local times=()
    for _ in $(seq "$RUNS"); do
        local start end
        start=$(date +%s%N)
        "${PIN[@]}" "$MMOPS" "$@" >/dev/null 2>&1 || true
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] / 1000}'
}

# cpu_ms ARGS...: mean user+sys CPU ms of mmops ARGS over RUNS runs (readable on a busy machine,
# where wall time mostly measures the queue for a core).
cpu_ms() {
    command -v /usr/bin/time >/dev/null || { echo "-"; return; }
    /usr/bin/time -f '%U %S' -o "$WORK/cpu" bash -c 'for _ in $(seq '"$RUNS"'); do "$@" >/dev/null 2>&1 || true; done' _ "${PIN[@]}" "$MMOPS" "$@"
    awk -v runs="$RUNS" '{ printf "%.1f", ($1 + $2) * 1000 / runs }' "$WORK/cpu"
}

export CI_FAKE_UTC=2026-11-30T00:00:00Z
cd "$WORK"
"$MMOPS" --quiet cron-sentinel --config scheduled.yaml >/dev/null || [ $? -eq 1 ]
baseline=$(median_ms --quiet cron-sentinel --config baseline.yaml)
scheduled=$(median_ms --quiet cron-sentinel --config scheduled.yaml)
prom=$(median_ms --quiet cron-sentinel --config scheduled.yaml --prom-file out.prom)
printf '%-44s %10s %10s\n' "" "wall ms" "CPU ms"
printf '%-44s %10s %10s\n' "100 max_age tasks (baseline)" "$baseline" "$(cpu_ms --quiet cron-sentinel --config baseline.yaml)" \
    "$TASKS scheduled tasks" "$scheduled" "$(cpu_ms --quiet cron-sentinel --config scheduled.yaml)" \
    "$TASKS scheduled tasks + --prom-file" "$prom" "$(cpu_ms --quiet cron-sentinel --config scheduled.yaml --prom-file out.prom)"
awk -v a="$scheduled" -v b="$baseline" 'BEGIN { printf "ratio scheduled/baseline: %.2f (target: %d tasks < 20 ms)\n", a / b, '"$TASKS"' }'
printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
