#!/usr/bin/env bash
# End-to-end test: privlinkd between real Linux TCP stacks (network namespaces, veth pairs,
# net_af_packet ports; see topology.sh). Two consumers with the same client address reach one
# private link service with three HTTP backends and two NAT IPs through their private endpoints.
# Each check prints PASS or FAIL with details; the exit status is 1 if any failed, 77 (skip) where
# namespaces cannot be made.
#
# usage: tests/e2e/e2e_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 PRIVLINKD PRIVLINKCTL" >&2
  exit 2
fi
PRIVLINKD=$(realpath "$1")
PRIVLINKCTL=$(realpath "$2")
# shellcheck source=tests/e2e/topology.sh
source "$(dirname "${BASH_SOURCE[0]}")/topology.sh"
plk_topo_require

# tmpfs: the 1 GiB file and everything else go away with the directory.
WORK=$(mktemp -d /dev/shm/plk-e2e.XXXXXX)
API="unix:$WORK/api.sock"
mkdir -p "$WORK/www" "$WORK/logs" "$WORK/state"
# shellcheck disable=SC2317  # run by the EXIT trap
on_exit() {
  local status=$?
  plk_topo_cleanup
  rm -rf "$WORK"
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

BULK_BYTES=$((1024 * 1024 * 1024))
UPLOAD_BYTES=$((64 * 1024 * 1024))
CONCURRENT=300
# Frame bytes counted by privlinkd versus HTTP body bytes: a full segment carries 1448 body bytes
# in a 1514-byte frame (Ethernet 14 + IPv4 20 + TCP 20 + timestamps 12), 4.6% more. The bound of
# 10% leaves room for segments that are not full; the slack covers handshakes, HTTP headers and
# the few pure ACKs and window updates that travel in the same direction as the data.
OVERHEAD_RATIO=1.10
OVERHEAD_SLACK=$((200 * 1024))
# The opposite direction carries the ACKs: at most one 66-byte frame per 1448-byte segment.
ACK_RATIO=0.10

FAILED=()
PASSED=0
EXPECTED_CHECKS=15
pass() {
  echo "PASS $1${2:+: $2}"
  PASSED=$((PASSED + 1))
}
fail() {
  echo "FAIL $1: $2"
  FAILED+=("$1")
}

ctl() { "$PRIVLINKCTL" --server "$API" "$@"; }
in_a() { ip netns exec "$PLK_NS_CONS_A" "$@"; }
in_b() { ip netns exec "$PLK_NS_CONS_B" "$@"; }
in_prov() { ip netns exec "$PLK_NS_PROV" "$@"; }
pe_url() { echo "http://$PLK_PE_IP${1:-/}"; }

# stats_value EXPR: evaluates a Python expression over d = GET /v1/stats's "dataplane" object.
stats_value() {
  ctl -o json stats | python3 -c '
import json, sys
d = json.load(sys.stdin)["dataplane"]
ep = {e["name"]: e for e in d.get("endpoints", [])}
print(eval(sys.argv[1]))' "$1"
}
drop_count() { stats_value "d['drops'].get('$1', 0)"; }
# "BYTES_IN BYTES_OUT" of an endpoint (in: delivered to the consumer, out: sent by it).
endpoint_bytes() { stats_value "f\"{ep['$1']['bytesIn']} {ep['$1']['bytesOut']}\""; }

# Lines of the backends' access logs: "<source ip> <source port> <method> <path> <status>".
access_lines() { cat "$WORK"/logs/access-*.log; }
access_count() { access_lines | wc -l; }

write_config() {
  cat >"$WORK/privlink.json" <<EOF
{
  "dataplane": {
    "region": "e2e",
    "workers": 1,
    "flowTableSize": 65536,
    "api": {"listen": "$API"},
    "stateDir": "$WORK/state",
    "ports": [
      {"name": "consumer0", "role": "consumer", "device": "net_af_packet0,iface=$PLK_IF_CONS_A"},
      {"name": "consumer1", "role": "consumer", "device": "net_af_packet1,iface=$PLK_IF_CONS_B"},
      {"name": "provider0", "role": "provider", "device": "net_af_packet2,iface=$PLK_IF_PROV",
       "subnet": "$PLK_PROVIDER_PORT_IP/24"}
    ]
  },
  "networks": [
    {"name": "net-a", "port": "consumer0", "vlan": 0},
    {"name": "net-b", "port": "consumer1", "vlan": $PLK_VLAN_B}
  ],
  "privateLinkServices": [{
    "name": "web", "subscription": "sub-provider",
    "loadBalancingRules": [{"frontendPort": 80, "backendPort": $PLK_BACKEND_PORT}],
    "backends": [{"ip": "${PLK_BACKENDS[0]}"}, {"ip": "${PLK_BACKENDS[1]}"},
                 {"ip": "${PLK_BACKENDS[2]}"}],
    "natIps": ["${PLK_NAT_IPS[0]}", "${PLK_NAT_IPS[1]}"],
    "visibility": ["*"], "autoApproval": ["sub-a"], "connectionTeardown": "reset"
  }],
  "privateEndpoints": [
    {"name": "pe-a", "subscription": "sub-a", "network": "net-a", "ip": "$PLK_PE_IP",
     "privateLinkService": "web"},
    {"name": "pe-b", "subscription": "sub-b", "network": "net-b", "ip": "$PLK_PE_IP",
     "privateLinkService": "web"}
  ]
}
EOF
}

# Random content (openssl is fast; python's os.urandom where it is missing).
random_file() {
  local path=$1 bytes=$2
  if command -v openssl >/dev/null; then
    openssl rand -out "$path" "$bytes"
  else
    python3 -c 'import os, sys
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2]) >> 20): f.write(os.urandom(1 << 20))' "$path" "$bytes"
  fi
}

# within_overhead ACTUAL BODY RATIO: BODY <= ACTUAL <= BODY * RATIO + slack.
within_overhead() {
  python3 -c 'import sys
actual, body, ratio, slack = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
sys.exit(0 if body <= actual <= body * ratio + slack else 1)' "$1" "$2" "$3" "$OVERHEAD_SLACK"
}

now() { date +%s.%N; }
elapsed_since() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.2f}")' "$1"; }

# --- the checks -----------------------------------------------------------------------------

check_pending_endpoint_refused() {
  local name=pending_endpoint_gets_no_connection before_logs before_drops start out rc took
  before_logs=$(access_count)
  before_drops=$(drop_count endpoint_not_approved)
  start=$(now)
  out=$(in_b curl -sS --max-time 5 "$(pe_url)" 2>&1)
  rc=$?
  took=$(elapsed_since "$start")
  local status
  status=$(ctl -o json endpoint show pe-b | python3 -c \
    'import json, sys; print(json.load(sys.stdin)["connectionStatus"])')
  local after_drops
  after_drops=$(drop_count endpoint_not_approved)
  # privlinkd answers a Pending endpoint's SYN with a RST: curl fails at once (exit 7, refused).
  if [ "$status" = Pending ] && [ "$rc" -eq 7 ] && [ "$(access_count)" -eq "$before_logs" ] &&
      [ "$after_drops" -gt "$before_drops" ]; then
    pass $name "status $status, curl exit 7 after ${took}s ($out), endpoint_not_approved +$((after_drops - before_drops))"
  else
    fail $name "status '$status', curl exit $rc after ${took}s ($out), backend requests $before_logs -> $(access_count), endpoint_not_approved $before_drops -> $after_drops"
  fi
}

check_approve_without_restart() {
  local name=approve_via_api_without_restart pid=$PLK_DAEMON_PID out rc=1 tries=0
  if ! ctl connection approve pe-b --service web --description "e2e" >/dev/null; then
    fail $name "privlinkctl connection approve failed"
    return
  fi
  # Publication is asynchronous (a snapshot swap); allow it a moment.
  while [ $tries -lt 20 ]; do
    out=$(in_b curl -sS --max-time 5 "$(pe_url)" 2>&1) && rc=0 && break
    tries=$((tries + 1))
    sleep 0.1
  done
  if [ $rc -eq 0 ] && [[ "$out" == "privlink e2e backend "* ]] && kill -0 "$pid" 2>/dev/null &&
      [ "$PLK_DAEMON_PID" = "$pid" ]; then
    pass $name "after approve, curl from consumer B got '$out' ($tries retries), privlinkd pid $pid unchanged"
  else
    fail $name "curl exit $rc after approve: '$out'; privlinkd pid $pid alive: $(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
  fi
}

check_curl_both_consumers() {
  local name=curl_from_both_consumers out_a out_b rc_a rc_b
  out_a=$(in_a curl -sS --max-time 5 "$(pe_url)" 2>&1)
  rc_a=$?
  out_b=$(in_b curl -sS --max-time 5 "$(pe_url)" 2>&1)
  rc_b=$?
  local page='^privlink e2e backend 192\.168\.10\.1[123]$'
  if [ $rc_a -eq 0 ] && [ $rc_b -eq 0 ] && [[ "$out_a" =~ $page ]] && [[ "$out_b" =~ $page ]]; then
    pass $name "A ($PLK_CLIENT_IP, consumer0 untagged): '$out_a'; B ($PLK_CLIENT_IP, consumer1 VLAN $PLK_VLAN_B): '$out_b'"
  else
    fail $name "A: exit $rc_a '$out_a'; B: exit $rc_b '$out_b'"
  fi
}

check_backends_see_only_nat_ips() {
  local name=backends_see_only_nat_ips${1:+_$1} sources
  sources=$(access_lines | awk '{print $1}' | sort | uniq -c | awk '{printf "%s x%s ", $2, $1}')
  local others
  others=$(access_lines | awk '{print $1}' | sort -u |
    grep -vxF -e "${PLK_NAT_IPS[0]}" -e "${PLK_NAT_IPS[1]}")
  if [ "$(access_count)" -gt 0 ] && [ -z "$others" ]; then
    pass "$name" "$(access_count) requests, sources: $sources"
  else
    fail "$name" "sources: ${sources:-none}; not NAT IPs: ${others:-none}"
  fi
}

# Records each access log's current length, so check_concurrent_spread counts only new requests.
mark_access_logs() {
  local f
  for f in "$WORK"/logs/access-*.log; do wc -l <"$f" >"$f.mark"; done
}

check_concurrent_spread() {
  mark_access_logs
  local name=concurrent_${CONCURRENT}_spread summary rc
  summary=$(in_a python3 "$PLK_E2E_DIR/concurrent_client.py" "$PLK_PE_IP" 80 --count $CONCURRENT \
    --timeout 60)
  rc=$?
  # Spread from the backends' own logs: the requests of this run only.
  local spread
  spread=$(python3 - "$WORK/logs" "$CONCURRENT" "${PLK_NAT_IPS[@]}" <<'EOF'
import collections, glob, os, sys
logs, total, nat_ips = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
by_backend, by_nat = collections.Counter(), collections.Counter()
# Only the lines after each log's length recorded by mark_access_logs.
for path in sorted(glob.glob(os.path.join(logs, "access-*.log"))):
    backend = path.rsplit("access-", 1)[1][:-4]
    with open(path + ".mark") as f:
        start = int(f.read())
    with open(path) as f:
        lines = f.read().splitlines()[start:]
    for line in lines:
        by_backend[backend] += 1
        by_nat[line.split()[0]] += 1
ok = (sum(by_backend.values()) == total and len(by_backend) == 3 and
      min(by_backend.values()) >= 0.15 * total and all(by_nat[ip] > 0 for ip in nat_ips))
print(("ok " if ok else "bad ") + "backends " + ", ".join(f"{b}: {n}" for b, n in sorted(by_backend.items())) +
      "; NAT IPs " + ", ".join(f"{ip}: {by_nat[ip]}" for ip in nat_ips))
EOF
  )
  if [ $rc -eq 0 ] && [[ "$spread" == ok* ]]; then
    pass "$name" "${spread#ok }; client: $summary"
  else
    fail "$name" "${spread}; client (exit $rc): $summary"
  fi
}

check_bulk_download() {
  local name=bulk_1GiB_download_intact expected before after start got rc took
  random_file "$WORK/www/bulk.bin" $BULK_BYTES
  expected=$(sha256sum "$WORK/www/bulk.bin" | cut -d' ' -f1)
  before=$(endpoint_bytes pe-a)
  start=$(now)
  got=$(in_a curl -sS --fail --max-time 150 "$(pe_url /files/bulk.bin)" | sha256sum | cut -d' ' -f1)
  rc=$?
  took=$(elapsed_since "$start")
  after=$(endpoint_bytes pe-a)
  if [ $rc -eq 0 ] && [ "$got" = "$expected" ]; then
    pass $name "$BULK_BYTES bytes in ${took}s ($(python3 -c "print(f'{$BULK_BYTES * 8 / $took / 1e9:.2f}')") Gbit/s), sha256 $got"
  else
    fail $name "exit $rc after ${took}s, sha256 got '$got' want '$expected'"
  fi
  check_endpoint_bytes pe-a "$before" "$after" "$BULK_BYTES" download
  rm -f "$WORK/www/bulk.bin"
}

check_upload() {
  local name=upload_64MiB_intact before after out rc expected
  random_file "$WORK/upload.bin" $UPLOAD_BYTES
  expected="$UPLOAD_BYTES $(sha256sum "$WORK/upload.bin" | cut -d' ' -f1)"
  before=$(endpoint_bytes pe-b)
  out=$(in_b curl -sS --fail --max-time 60 -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    --data-binary "@$WORK/upload.bin" "$(pe_url /upload)" 2>&1)
  rc=$?
  after=$(endpoint_bytes pe-b)
  if [ $rc -eq 0 ] && [ "$out" = "$expected" ]; then
    pass $name "backend received '$out'"
  else
    fail $name "exit $rc: got '$out' want '$expected'"
  fi
  check_endpoint_bytes pe-b "$before" "$after" "$UPLOAD_BYTES" upload
  rm -f "$WORK/upload.bin"
}

# check_endpoint_bytes PE "IN OUT" (before) "IN OUT" (after) BODY download|upload: the endpoint's
# byte counters grew by the body plus headers in the data direction and by ACKs in the other.
check_endpoint_bytes() {
  local before=$2 after=$3 body=$4 direction=$5 name="stats_bytes_${1}_$5"
  local in_before out_before in_after out_after
  read -r in_before out_before <<<"$before"
  read -r in_after out_after <<<"$after"
  local data acks
  if [ "$direction" = download ]; then
    data=$((in_after - in_before)) acks=$((out_after - out_before))
  else
    data=$((out_after - out_before)) acks=$((in_after - in_before))
  fi
  local ack_bound
  ack_bound=$(python3 -c "print(int($body * $ACK_RATIO) + $OVERHEAD_SLACK)")
  if within_overhead "$data" "$body" "$OVERHEAD_RATIO" && [ "$acks" -gt 0 ] &&
      [ "$acks" -le "$ack_bound" ]; then
    pass "$name" "body $body bytes, endpoint counted $data in the data direction (+$(python3 -c "print(f'{($data - $body) / $body * 100:.2f}')")%), $acks the other way"
  else
    fail "$name" "body $body bytes; data direction counted $data (want $body..$(python3 -c "print(int($body * $OVERHEAD_RATIO) + $OVERHEAD_SLACK)")), other direction $acks (want 1..$ack_bound); before in/out $before, after $after"
  fi
}

check_provider_cannot_open() {
  local name=provider_cannot_open_connections before after target rc results="" ok=1
  before=$(drop_count nat_ip_no_flow)
  # A privileged port (never a NAT port) and a port from the NAT range, on both NAT IPs.
  for target in "${PLK_NAT_IPS[0]}:80" "${PLK_NAT_IPS[1]}:40000"; do
    in_prov curl -sS --connect-timeout 2 --max-time 3 "http://$target/" >/dev/null 2>&1
    rc=$?
    results+="$target exit $rc; "
    # 28: timed out. The SYN must vanish: neither a backend nor privlinkd may answer it.
    [ $rc -eq 28 ] || ok=
  done
  after=$(drop_count nat_ip_no_flow)
  if [ -n "$ok" ] && [ "$after" -ge $((before + 2)) ]; then
    pass $name "${results}nat_ip_no_flow $before -> $after"
  else
    fail $name "${results}nat_ip_no_flow $before -> $after (want curl exit 28 and +2 or more)"
  fi
}

check_reject_tears_down() {
  local name=reject_tears_down_open_connection before after pid start took rc
  truncate -s $((256 * 1024 * 1024)) "$WORK/www/slow.bin"  # content does not matter here
  before=$(drop_count connection_torn_down)
  # curl reports a reset only after reading what its socket already holds; with the default
  # (autotuned, megabytes) receive buffer and a 1 MB/s reader that alone takes seconds. A small
  # buffer makes curl's exit time show when the reset arrived.
  in_b sysctl -qw net.ipv4.tcp_rmem="4096 32768 131072"
  # 256 MiB at 1 MB/s: runs for minutes unless torn down.
  in_b curl -sS --limit-rate 1M -o /dev/null "$(pe_url /files/slow.bin)" 2>"$WORK/slow.err" &
  pid=$!
  sleep 2
  if ! kill -0 $pid 2>/dev/null; then
    wait $pid
    fail $name "the slow transfer ended (exit $?) before the reject: $(cat "$WORK/slow.err")"
    return
  fi
  if ! ctl connection reject pe-b --service web --description "e2e teardown" >/dev/null; then
    fail $name "privlinkctl connection reject failed"
    kill $pid
    return
  fi
  start=$(now)
  for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  took=$(elapsed_since "$start")
  if kill -0 $pid 2>/dev/null; then
    kill $pid
    wait $pid
    fail $name "the transfer still ran 10 s after the reject"
    return
  fi
  wait $pid
  rc=$?
  after=$(drop_count connection_torn_down)
  local new_rc
  in_b curl -sS --max-time 5 "$(pe_url)" >/dev/null 2>&1
  new_rc=$?
  if [ $rc -ne 0 ] && python3 -c "import sys; sys.exit(0 if $took <= 5 else 1)" &&
      [ "$after" -gt "$before" ] && [ $new_rc -ne 0 ]; then
    pass $name "transfer ended ${took}s after the reject (curl exit $rc: $(tr -d '\n' <"$WORK/slow.err")), connection_torn_down $before -> $after, a new connection fails (exit $new_rc)"
  else
    fail $name "transfer ended ${took}s after the reject with exit $rc ($(tr -d '\n' <"$WORK/slow.err")); connection_torn_down $before -> $after; new connection exit $new_rc (want non-zero)"
  fi
  rm -f "$WORK/www/slow.bin"
}

# Flows by state come from the workers' expiry sweeps; once traffic is quiet every flow is counted
# in exactly one state.
check_flows_by_state() {
  local name=stats_flows_by_state_sum_to_total result
  for _ in $(seq 30); do
    result=$(stats_value "f\"{sum(d['flows']['byState'].values())} {d['flows']['total']} {d['flows']['byState']}\"")
    [ "${result%% *}" = "$(cut -d' ' -f2 <<<"$result")" ] && break
    sleep 0.1
  done
  local sum total
  read -r sum total _ <<<"$result"
  if [ "$sum" = "$total" ] && [ "$total" -gt 0 ]; then
    pass $name "$total flows: ${result#* * }"
  else
    fail $name "byState sums to $sum, flows.total is $total: ${result#* * }"
  fi
}

# Issue 8, scenario 14: kill -9 while a transfer runs, then a restart: the control state is
# exactly what was acknowledged before the kill (it comes back from the state directory) and the
# new daemon serves new connections at once (a Rejected endpoint stays refused).
api_state() { curl -sS --max-time 5 --unix-socket "$WORK/api.sock" http://privlink/v1/state; }
check_kill9_under_load_restart() {
  local name=kill9_under_load_then_restart pid before after start took out_a rc_a rc_b
  truncate -s $((256 * 1024 * 1024)) "$WORK/www/load.bin"
  in_a curl -sS --limit-rate 4M -o /dev/null "$(pe_url /files/load.bin)" 2>/dev/null &
  pid=$!
  sleep 1
  before=$(api_state)
  kill -KILL "$PLK_DAEMON_PID"
  wait "$PLK_DAEMON_PID" 2>/dev/null
  PLK_DAEMON_PID=
  kill $pid 2>/dev/null
  wait $pid 2>/dev/null
  rm -f "$WORK/www/load.bin"
  start=$(now)
  if ! plk_start_privlinkd "$PRIVLINKD" "$WORK/privlink.json" "$WORK/privlinkd-restarted.log"; then
    fail $name "privlinkd did not start again after kill -9"
    return 1
  fi
  after=$(api_state)
  out_a=$(in_a curl -sS --max-time 5 "$(pe_url)" 2>&1)
  rc_a=$?
  in_b curl -sS --max-time 3 "$(pe_url)" >/dev/null 2>&1
  rc_b=$?
  took=$(elapsed_since "$start")
  local page='^privlink e2e backend 192\.168\.10\.1[123]$'
  if [ -n "$before" ] && [ "$before" = "$after" ] && [ $rc_a -eq 0 ] && [[ "$out_a" =~ $page ]] &&
      [ $rc_b -ne 0 ]; then
    pass $name "state identical ($(echo -n "$before" | wc -c) bytes of /v1/state); restart + first connection through pe-a in ${took}s; pe-b (Rejected) still refused"
  else
    fail $name "state identical: $([ "$before" = "$after" ] && echo yes || echo no); pe-a: exit $rc_a '$out_a'; pe-b exit $rc_b (want non-zero)"
  fi
}

check_clean_exit() {
  local name=privlinkd_sigterm_exit_0 rc
  plk_stop_privlinkd
  rc=$?
  if [ $rc -eq 0 ]; then pass $name; else fail $name "exit status $rc"; fi
}

# --- main -----------------------------------------------------------------------------------

test_start=$(now)
plk_log "building the topology"
plk_topo_create || { echo "FAIL topology: could not build it" >&2; exit 1; }
plk_start_backends "$WORK/www" "$WORK/logs" || exit 1
write_config
plk_log "starting privlinkd ($PRIVLINKD)"
plk_start_privlinkd "$PRIVLINKD" "$WORK/privlink.json" "$WORK/privlinkd.log" || exit 1

plk_log "checks"
check_pending_endpoint_refused
check_approve_without_restart
check_curl_both_consumers
check_backends_see_only_nat_ips
check_concurrent_spread
check_bulk_download
check_upload
check_provider_cannot_open
check_reject_tears_down
check_backends_see_only_nat_ips all_requests
check_flows_by_state
check_kill9_under_load_restart
echo "--- privlinkctl stats"
ctl stats
check_clean_exit

echo "--- $PASSED passed, ${#FAILED[@]} failed in $(elapsed_since "$test_start")s"
# A check that broke before printing its verdict must not go unnoticed.
if [ $((PASSED + ${#FAILED[@]})) -ne $EXPECTED_CHECKS ]; then
  FAILED+=("verdicts: $((PASSED + ${#FAILED[@]})) of $EXPECTED_CHECKS checks reported")
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "failed: ${FAILED[*]}"
  echo "--- privlinkd log (last 40 lines)"
  tail -n 40 "$WORK/privlinkd.log"
  exit 1
fi
exit 0
