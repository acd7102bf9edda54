#!/usr/bin/env bash
# Benchmark for `mmops rotate` on object storage, against a real S3-compatible server (moto) on
# 127.0.0.1. Prints, in one run:
#   - wall time of `mmops rotate --dry-run` over OBJECTS objects vs a plain boto3 paginated
#     listing of the same prefix (ratio; target <= 1.2x: both are bound by the server);
#   - peak RSS of that dry run (target <= 64 MB);
#   - the requests a real run sends to delete DELETES objects (target <= 11 DeleteObjects
#     requests, plus one HEAD re-check per object), from mmops's own request counts.
#
# Usage: benches/object_store.sh [OBJECTS] [DELETES]   (defaults 100000 and 10000)
#   MMOPS=path/to/mmops uses that binary instead of building a release one.
#   MMOPS_TEST_PYTHON=python with moto[server] and boto3 (default target/test-venv/bin/python;
#   bash .ci/install-test-tools makes it).
set -euo pipefail
cd "$(dirname "$0")/.."

objects=${1:-100000}
deletes=${2:-10000}
python=${MMOPS_TEST_PYTHON:-$PWD/target/test-venv/bin/python}
"$python" -c 'import moto.server, boto3' 2>/dev/null || {
  echo "bench: $python cannot import moto.server and boto3 (bash .ci/install-test-tools)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: missing /usr/bin/time (apt-get install time)" >&2; exit 2; }
if [ -z "${MMOPS:-}" ]; then
  cargo build --release --quiet
  MMOPS=$PWD/target/release/mmops
fi

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setpriv --pdeathsig KILL -- "$python" -m moto.server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  "$python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.2
done

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ALLOW_HTTP=true
work=$(mktemp -d "${TMPDIR:-/tmp}/mmops-bench-s3.XXXXXX")
trap 'kill "$moto_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

echo "bench: putting $objects + $deletes objects into moto on 127.0.0.1:$port" >&2
"$python" - "$objects" "$deletes" <<'PY'
import sys, boto3
from concurrent.futures import ThreadPoolExecutor
from botocore.config import Config
objects, deletes = int(sys.argv[1]), int(sys.argv[2])
s3 = boto3.client("s3", config=Config(max_pool_connections=32))
s3.create_bucket(Bucket="bench")
def put(item):
    prefix, i = item
    s3.put_object(Bucket="bench", Key=f"{prefix}/day-{i % 30:02}/report-{i:06}.json", Body=b"{}")
with ThreadPoolExecutor(32) as pool:
    list(pool.map(put, [("list", i) for i in range(objects)] + [("delete", i) for i in range(deletes)]))
PY

cat >"$work/list.py" <<'PY'
import boto3
s3 = boto3.client("s3")
count = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix="list/"):
    count += len(page.get("Contents", []))
print(count)
PY
seconds() { "$python" -c 'import time; print(time.monotonic())'; }

t0=$(seconds); listed=$("$python" "$work/list.py"); t1=$(seconds)
/usr/bin/time -f '%e %M' -o "$work/time" "$MMOPS" rotate --base-dir s3://bench/list/ --keep 0 --allow-delete-all \
  --dry-run --quiet >/dev/null 2>"$work/dry.err"
read -r rotate_seconds rss_kb <"$work/time"
boto_seconds=$("$python" -c "print(round($t1 - $t0, 2))")
echo "listing of $listed objects:   boto3 paginated ${boto_seconds} s, mmops rotate --dry-run ${rotate_seconds} s (ratio $("$python" -c "print(round($rotate_seconds / max($t1 - $t0, 0.01), 2))")x, target <= 1.2x)"
echo "peak RSS of the dry run:      $((rss_kb / 1024)) MB (target <= 64 MB)"

"$MMOPS" rotate --base-dir s3://bench/delete/ --keep 0 --allow-delete-all >/dev/null 2>"$work/real.err"
requests=$(grep -o 'requests: .*' "$work/real.err")
echo "deleting $deletes objects:     $requests (target <= 11 DeleteObjects; the put is the lease, released after this count)"
left=$("$python" -c "import boto3; print(boto3.client('s3').list_objects_v2(Bucket='bench', Prefix='delete/').get('KeyCount', 0))")
echo "objects left under delete/:   $left"
