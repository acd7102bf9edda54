#!/usr/bin/env bash
# Benchmark for `mmops bundle` and `mmops bundle verify` against Info-ZIP and coreutils.
#
# Builds a throwaway repository with ~300 MB of reports (compressible JSON and CSV plus
# incompressible random data) and prints, in one run:
#   - wall time of `mmops bundle` vs `zip -r -6` followed by `sha256sum` over the same files
#     and the zip (mmops hashes both too: manifest and sidecar);
#   - compressed size vs zip's;
#   - peak RSS of each (from /usr/bin/time -v);
#   - `mmops bundle verify` throughput vs `unzip -t` + `sha256sum -c` of the sidecar.
# Targets (issue 4): >= 1.5x faster, size within 2%, peak RSS < 64 MB, verify >= 3x.
#
# Usage: benches/bundle.sh [MB]   (default 300; needs zip, unzip, /usr/bin/time, python3)
set -euo pipefail
cd "$(dirname "$0")/.."

total_mb=${1:-300}
for tool in zip unzip sha256sum python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: missing $tool (apt-get install zip unzip time)" >&2; exit 2; }
done

cargo build --release --quiet
mmops=$PWD/target/release/mmops
work=$(mktemp -d "${TMPDIR:-/tmp}/mmops-bench-bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT
repo=$work/repo
mkdir -p "$repo/deploy/prometheus" "$repo/deploy/policies" "$repo/deploy/grafana/dashboards" "$repo/artifacts/reports"

echo "bench: generating ${total_mb} MB of reports in $work" >&2
printf '1.0.0\n' >"$repo/VERSION"
printf '# mm-bot\n' >"$repo/README.md"
printf '## 1.0.0\n' >"$repo/CHANGELOG.md"
printf 'groups: []\n' >"$repo/deploy/prometheus/alerts_soak.yml"
printf 'gates: {}\n' >"$repo/deploy/policies/rollback.yaml"
printf '{}\n' >"$repo/deploy/grafana/dashboards/mm_operability.json"
# 40% JSON lines, 30% CSV (deterministic pseudo-random metrics), 30% random bytes.
python3 - "$repo/artifacts/reports" "$total_mb" <<'PY'
import os, random, sys
out, total = sys.argv[1], int(sys.argv[2]) * 1_000_000
rng = random.Random(42)
def write(name, size, line):
    with open(os.path.join(out, name), "w") as f:
        written, i = 0, 0
        chunk = []
        while written < size:
            s = line(i); chunk.append(s); written += len(s); i += 1
            if len(chunk) == 5000:
                f.write("".join(chunk)); chunk = []
        f.write("".join(chunk))
write("soak_metrics_full.jsonl", int(total * 0.25), lambda i:
      '{"ts":%d,"symbol":"BTC-USDT","edge_net_bps":%.4f,"order_age_p95_ms":%d,"taker_share_pct":%.2f,"fills":%d}\n'
      % (1700000000 + i, rng.gauss(2.7, 0.4), rng.randint(80, 420), rng.uniform(5, 20), rng.randint(0, 40)))
write("latency_samples.json", int(total * 0.15), lambda i:
      '{"window":%d,"p50_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f,"ok":%s}\n'
      % (i, rng.uniform(1, 5), rng.uniform(5, 50), rng.uniform(50, 300), "true" if rng.random() > 0.01 else "false"))
write("orders.csv", int(total * 0.30), lambda i:
      "%d,%s,%s,%.2f,%.6f,%s\n" % (1700000000000 + i * 37, rng.choice(["BTC-USDT", "ETH-USDT", "SOL-USDT"]),
                                   rng.choice(["buy", "sell"]), rng.uniform(100, 70000), rng.uniform(0.001, 2),
                                   rng.choice(["filled", "cancelled", "partial"])))
PY
head -c $((total_mb * 300000)) /dev/urandom >"$repo/artifacts/reports/capture.bin"
cat >"$repo/bench.yaml" <<'YAML'
files:
  - path: VERSION
  - path: README.md
  - path: CHANGELOG.md
  - path: deploy/prometheus/alerts_soak.yml
  - path: deploy/policies/rollback.yaml
  - path: deploy/grafana/dashboards/mm_operability.json
reports:
  - glob: "*"
YAML
inputs=(VERSION README.md CHANGELOG.md deploy/prometheus/alerts_soak.yml deploy/policies/rollback.yaml
        deploy/grafana/dashboards/mm_operability.json artifacts/reports)
input_bytes=$(cd "$repo" && du -cb "${inputs[@]}" | tail -1 | cut -f1)
cat "$repo"/artifacts/reports/* >/dev/null   # both contenders start with a warm page cache

now() { date +%s.%N; }
cpu_seconds() { awk -F': ' '/User time|System time/ {total += $2} END {printf "%.2f", total}' "$1"; }
peak_kb() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }

# --- create ---
start=$(now)
(cd "$repo" && /usr/bin/time -v -o "$work/zip.time" zip -q -r -6 "$work/peer.zip" "${inputs[@]}")
(cd "$repo" && /usr/bin/time -v -o "$work/sha.time" sh -c 'find "$@" -type f -print0 | xargs -0 sha256sum >"'"$work"'/peer.sums" && sha256sum "'"$work"'/peer.zip" >"'"$work"'/peer.zip.sha256"' sh "${inputs[@]}")
peer_seconds=$(python3 -c "print(f'{$(now) - $start:.2f}')")

start=$(now)
CI_FAKE_UTC=2025-10-11T12:00:00Z /usr/bin/time -v -o "$work/mmops.time" \
  "$mmops" -C "$repo" --quiet bundle --config bench.yaml --out-dir "$work/out" >/dev/null
mmops_seconds=$(python3 -c "print(f'{$(now) - $start:.2f}')")
bundle_zip=$work/out/mm-bot-v1.0.0.zip

peer_size=$(stat -c %s "$work/peer.zip")
mmops_size=$(stat -c %s "$bundle_zip")
peer_rss=$(( $(peak_kb "$work/zip.time") > $(peak_kb "$work/sha.time") ? $(peak_kb "$work/zip.time") : $(peak_kb "$work/sha.time") ))
mmops_rss=$(peak_kb "$work/mmops.time")

# --- verify ---
start=$(now)
(cd "$work" && /usr/bin/time -v -o "$work/unzip.time" unzip -tq peer.zip >/dev/null && sha256sum -c --quiet peer.zip.sha256)
peer_verify=$(python3 -c "print(f'{$(now) - $start:.3f}')")
start=$(now)
/usr/bin/time -v -o "$work/verify.time" "$mmops" --quiet bundle verify "$bundle_zip" >/dev/null
mmops_verify=$(python3 -c "print(f'{$(now) - $start:.3f}')")
mb=$(python3 -c "print($input_bytes / 1e6)")

echo
echo "inputs: $(python3 -c "print(f'{$mb:.0f}')") MB in $(find "$repo/artifacts/reports" -type f | wc -l) reports + 6 files; $(nproc) cores; warm page cache"
printf '%-34s %12s %12s %8s\n' "" "mmops" "zip+sha256sum" "ratio"
printf '%-34s %11ss %11ss %7sx\n' "create: wall time" "$mmops_seconds" "$peer_seconds" "$(ratio "$peer_seconds" "$mmops_seconds")"
printf '%-34s %12s %12s %8s\n' "create: zip size (bytes)" "$mmops_size" "$peer_size" \
  "$(python3 -c "import sys; print(f'{int(sys.argv[1]) / int(sys.argv[2]):.4f}')" "$mmops_size" "$peer_size")"
printf '%-34s %11ss %11ss\n' "create: CPU time (user+sys)" "$(cpu_seconds "$work/mmops.time")" \
  "$(python3 -c "print(f'{$(cpu_seconds "$work/zip.time") + $(cpu_seconds "$work/sha.time"):.2f}')")"
printf '%-34s %9s MB %9s MB\n' "create: peak RSS" "$((mmops_rss / 1024))" "$((peer_rss / 1024))"
printf '%-34s %9s MB/s %7s MB/s %6sx\n' "verify: throughput (input MB / s)" \
  "$(python3 -c "print(f'{$mb / $mmops_verify:.0f}')")" "$(python3 -c "print(f'{$mb / $peer_verify:.0f}')")" \
  "$(ratio "$peer_verify" "$mmops_verify")"
printf '%-34s %9s MB\n' "verify: peak RSS" "$(( $(peak_kb "$work/verify.time") / 1024 ))"
echo "(verify peer: unzip -t, then sha256sum -c of the sidecar; mmops verify also hashes every entry)"
echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); other work on the machine slows both sides)"
