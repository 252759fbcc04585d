#!/bin/sh
# privlink-bench with two workers on two lcores, briefly, under both flow steering modes, with TCP
# and with UDP flows: it must run, forward without drops, count foreign packets only where
# steering is shared, and print each worker's figures (table and JSON). Skipped (77) where the process has one CPU.
set -eu
bench="$1"
if [ "$(nproc)" -lt 2 ]; then
  echo "one CPU: --workers 2 needs two"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bench" --workers 2 --flows 1000 --seconds 1 --connections 0 --no-churn \
  --steering rss-port-choice,shared --protocol tcp,udp --json "$dir/out.json" >"$dir/out.txt"
cat "$dir/out.txt"
fail() {
  echo "FAIL: $1"
  exit 1
}
# The runs' rows: 1000 flows, the protocol, 2 workers, the steering, ..., dropped ($13), ...,
# foreign ($15); then one row per worker. RSS port choice keeps every packet on its flow's
# creator; shared steering sends return packets wherever RSS gives them, and the workers count
# them.
awk '$1 == 1000 && $2 == "tcp" && $3 == 2 && $4 == "rss-port-choice" {
       found = 1; if ($13 != 0 || $15 != 0) exit 1 }
     END { exit !found }' "$dir/out.txt" || fail "no rss-port-choice row with 0 drops, 0 foreign"
awk '$1 == 1000 && $2 == "tcp" && $3 == 2 && $4 == "shared" {
       found = 1; if ($13 != 0 || $15 == 0) exit 1 }
     END { exit !found }' "$dir/out.txt" || fail "no shared row with 0 drops and foreign packets"
# UDP flows are steered like TCP's.
awk '$1 == 1000 && $2 == "udp" && $3 == 2 && $4 == "rss-port-choice" {
       found = 1; if ($13 != 0 || $15 != 0) exit 1 }
     END { exit !found }' "$dir/out.txt" || fail "no UDP rss-port-choice row with 0 drops, 0 foreign"
grep -q 'worker 0$' "$dir/out.txt" || fail "no figures of worker 0"
grep -q 'worker 1$' "$dir/out.txt" || fail "no figures of worker 1"
grep -q '"workers":\[2\]' "$dir/out.json" || fail "JSON: workers"
grep -q '"steady_by_worker":\[{' "$dir/out.json" || fail "JSON: per-worker figures"
grep -q '"steering":"rss-port-choice","foreign_packets":0,' "$dir/out.json" ||
  fail "JSON: steering and foreign packets"
echo PASS
