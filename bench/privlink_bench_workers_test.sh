#!/bin/sh
# privlink-bench with two workers on two lcores, briefly: it must run, forward without drops and
# print each worker's figures (table and JSON). Skipped (77) where the process has one CPU.
set -eu
bench="$1"
if [ "$(nproc)" -lt 2 ]; then
  echo "one CPU: --workers 2 needs two"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bench" --workers 2 --flows 1000 --seconds 1 --connections 0 --no-churn \
  --json "$dir/out.json" >"$dir/out.txt"
cat "$dir/out.txt"
fail() {
  echo "FAIL: $1"
  exit 1
}
# The run's row: 1000 flows, 2 workers, ..., 0 dropped; then one row per worker.
awk '$1 == 1000 && $2 == 2 { found = 1; if ($10 != 0) exit 1 } END { exit !found }' \
  "$dir/out.txt" || fail "no 2-worker row with 0 drops"
grep -q 'worker 0$' "$dir/out.txt" || fail "no figures of worker 0"
grep -q 'worker 1$' "$dir/out.txt" || fail "no figures of worker 1"
grep -q '"workers":\[2\]' "$dir/out.json" || fail "JSON: workers"
grep -q '"steady_by_worker":\[{' "$dir/out.json" || fail "JSON: per-worker figures"
echo PASS
