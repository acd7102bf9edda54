#!/usr/bin/env bash
# Benchmark for `mmops rotate` (issue 3): scan speed against find, peak memory per scanned
# file, and deletion speed against `find -delete`. Prints figures and ratios; asserts nothing.
#
#   benches/rotate.sh                # builds --release, uses a temporary folder
#   BENCH_DIR=/data/tmp RUNS=7 DELETE_RUNS=5 benches/rotate.sh
#   DELETE_RUNS=0 benches/rotate.sh  # scan, calendar buckets and memory only
#
# Measured with the page cache warm (each command runs once untimed first); times are the
# median of RUNS runs. The trees use sparse files, so sizes are spread without writing data.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SCAN_FILES=${SCAN_FILES:-200000}
DELETE_FILES=${DELETE_FILES:-100000}
DELETE_RUNS=${DELETE_RUNS:-3}
WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/mmops-rotate-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
cargo build --release --quiet
MMOPS=$PWD/target/release/mmops

# make_tree DIR COUNT: COUNT files in DIR/<a>/<b>/ (20 x 20 folders), mtimes spread over the
# last 60 days (real clock: find has no fake "now"), sizes 0-64 KiB.
make_tree() {
    python3 - "$1" "$2" <<'PY'
import os, random, sys, time
root, count = sys.argv[1], int(sys.argv[2])
now = time.time()
rng = random.Random(42)
for index in range(count):
    folder = os.path.join(root, f"d{index % 20:02d}", f"e{(index // 20) % 20:02d}")
    if index < 400:
        os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"artifact-{index:07d}.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    os.ftruncate(fd, rng.randrange(0, 65536))
    os.close(fd)
    age = rng.uniform(0, 60 * 86400)
    os.utime(path, (now - age, now - age))
PY
}

# median_ms CMD...: runs CMD RUNS times (after one warm-up run), prints the median wall time in ms.
median_ms() {
    "$@" >/dev/null 2>&1 || true
    local times=()
    for _ in $(seq "$RUNS"); do
        local start end
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "== scan: $SCAN_FILES files, warm page cache, median of $RUNS runs"
SCAN=$WORK/scan
make_tree "$SCAN" "$SCAN_FILES"
# (find's -mtime +7 means "at least 8 whole days"; mmops's --days 7 means "more than 7 days".)
mmops_ms=$(median_ms "$MMOPS" rotate --dry-run --days 7 --keep 50000 --max-size 1G --base-dir "$SCAN")
find_ms=$(median_ms find "$SCAN" -type f -mtime +7 -printf '%T@ %s %p\n')
selected=$("$MMOPS" rotate --dry-run --days 7 --keep 50000 --max-size 1G --base-dir "$SCAN" | grep -c '^would delete' || true)
found=$(find "$SCAN" -type f -mtime +7 | wc -l)
echo "mmops rotate --dry-run --days 7 --keep 50000 --max-size 1G: ${mmops_ms} ms ($selected files listed)"
echo "find -type f -mtime +7 -printf '%T@ %s %p\\n':                ${find_ms} ms ($found files listed)"
echo "ratio mmops/find: $(ratio "$mmops_ms" "$find_ms") (target <= 1.0)"

echo
echo "== peak memory"
rss_kib=$(/usr/bin/time -v "$MMOPS" rotate --dry-run --days 7 --keep 50000 --max-size 1G --base-dir "$SCAN" 2>&1 >/dev/null \
    | awk -F': ' '/Maximum resident set size/ {print $2}')
mkdir -p "$WORK/empty"
empty_kib=$(/usr/bin/time -v "$MMOPS" rotate --dry-run --days 7 --base-dir "$WORK/empty" 2>&1 >/dev/null \
    | awk -F': ' '/Maximum resident set size/ {print $2}')
json_kib=$(/usr/bin/time -v "$MMOPS" rotate --dry-run --days 7 --keep 50000 --max-size 1G --base-dir "$SCAN" --format json 2>&1 >/dev/null \
    | awk -F': ' '/Maximum resident set size/ {print $2}')
echo "peak RSS at $SCAN_FILES files: ${rss_kib} KiB (text), ${json_kib} KiB (--format json, streamed); on an empty tree: ${empty_kib} KiB"
echo "ratio json/text peak RSS: $(ratio "$json_kib" "$rss_kib") (target <= 1.2)"
echo "peak memory per scanned file: $(awk -v r="$rss_kib" -v n="$SCAN_FILES" 'BEGIN { printf "%.0f", r * 1024 / n }') bytes" \
     "(above the empty-tree baseline: $(awk -v r="$rss_kib" -v e="$empty_kib" -v n="$SCAN_FILES" 'BEGIN { printf "%.0f", (r - e) * 1024 / n }') bytes; target <= 200)"

echo
echo "== calendar buckets (issue 17): same tree, restic-style keep_* periods and a size cap"
CALENDAR=(--keep-daily 7 --keep-weekly 4 --keep-monthly 12 --keep-within 2d --max-size 1G)
calendar_ms=$(median_ms "$MMOPS" rotate --dry-run "${CALENDAR[@]}" --base-dir "$SCAN")
calendar_selected=$("$MMOPS" rotate --dry-run "${CALENDAR[@]}" --base-dir "$SCAN" | grep -c '^would delete' || true)
calendar_kib=$(/usr/bin/time -v "$MMOPS" rotate --dry-run "${CALENDAR[@]}" --base-dir "$SCAN" 2>&1 >/dev/null \
    | awk -F': ' '/Maximum resident set size/ {print $2}')
echo "mmops rotate --dry-run ${CALENDAR[*]}: ${calendar_ms} ms ($calendar_selected files listed)"
echo "ratio mmops/find: $(ratio "$calendar_ms" "$find_ms") (target <= 1.0)"
echo "peak RSS: ${calendar_kib} KiB, $(awk -v r="$calendar_kib" -v n="$SCAN_FILES" 'BEGIN { printf "%.0f", r * 1024 / n }') bytes per file" \
     "(above the empty-tree baseline: $(awk -v r="$calendar_kib" -v e="$empty_kib" -v n="$SCAN_FILES" 'BEGIN { printf "%.0f", (r - e) * 1024 / n }') bytes; target <= 200)"
rm -rf "$SCAN"

if (( DELETE_RUNS == 0 )); then exit 0; fi
echo
echo "== delete: $DELETE_FILES files, every one older than 7 days, median of $DELETE_RUNS rounds"
# Each round builds two identical trees and deletes one with each tool, alternating which goes
# first so neither always inherits the other's journal flush.
shift_back() {   # every file 30 days further back, so all are selected
    python3 - "$@" <<'PY'
import os, sys
for root in sys.argv[1:]:
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            stat = os.stat(path)
            os.utime(path, (stat.st_atime - 30 * 86400, stat.st_mtime - 30 * 86400))
PY
}
time_ms() { local start; start=$(date +%s%N); "$@" >/dev/null; echo $(( ($(date +%s%N) - start) / 1000000 )); }
mmops_times=(); find_times=()
for round in $(seq "$DELETE_RUNS"); do
    make_tree "$WORK/del_mmops" "$DELETE_FILES"
    make_tree "$WORK/del_find" "$DELETE_FILES"
    shift_back "$WORK/del_mmops" "$WORK/del_find"
    sync; find "$WORK/del_mmops" "$WORK/del_find" -type f >/dev/null   # settle, warm the cache
    run_mmops() { time_ms "$MMOPS" rotate --days 7 --allow-delete-all --quiet --base-dir "$WORK/del_mmops"; }
    run_find() { time_ms find "$WORK/del_find" -type f -mtime +7 -delete; }
    if (( round % 2 )); then mmops_times+=("$(run_mmops)"); sync; find_times+=("$(run_find)");
    else find_times+=("$(run_find)"); sync; mmops_times+=("$(run_mmops)"); fi
    left_mmops=$(find "$WORK/del_mmops" -type f ! -name .mmops-rotate.lock | wc -l)
    left_find=$(find "$WORK/del_find" -type f | wc -l)
    [[ $left_mmops == 0 && $left_find == 0 ]] || { echo "round $round left files: mmops $left_mmops, find $left_find" >&2; exit 1; }
    rm -rf "$WORK/del_mmops" "$WORK/del_find"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mmops_del_ms=$(median "${mmops_times[@]}")
find_del_ms=$(median "${find_times[@]}")
per_file() { awk -v ms="$1" -v n="$DELETE_FILES" 'BEGIN { printf "%.2f", ms * 1000 / n }'; }
echo "mmops rotate --days 7 --allow-delete-all: ${mmops_del_ms} ms, $(per_file "$mmops_del_ms") µs/file (rounds: ${mmops_times[*]} ms)"
echo "find -type f -mtime +7 -delete:           ${find_del_ms} ms, $(per_file "$find_del_ms") µs/file (rounds: ${find_times[*]} ms)"
echo "ratio mmops/find: $(ratio "$mmops_del_ms" "$find_del_ms") (target <= 1.2; mmops checks each file, moves it into its quarantine and checks it again before unlinking it, on up to four threads sharing folders and pieces of folders; cross-folder renames serialise on a per-filesystem kernel lock)"
