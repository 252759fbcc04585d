#!/usr/bin/env bash
# End-to-end test: privlinkd between real Linux TCP stacks (network namespaces, veth pairs,
# net_af_packet ports; see lib.sh). Two consumers with the same client address reach one private
# link service with three HTTP backends and two NAT IPs through their private endpoints.
# Each check prints PASS or FAIL with details; the exit status is 1 if any failed, 77 (skip) where
# namespaces cannot be made.
#
# usage: tests/e2e/e2e_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require sha256sum
# tmpfs: the 1 GiB file and everything else go away with the directory.
plk_work_dir /dev/shm/plk-e2e.XXXXXX

BULK_BYTES=$((1024 * 1024 * 1024))
UPLOAD_BYTES=$((64 * 1024 * 1024))
CONCURRENT=300
PLK_EXPECTED_CHECKS=15

# Lines of the backends' access logs: "<source ip> <source port> <method> <path> <status>".
access_lines() { cat "$PLK_WORK"/logs/access-*.log; }
access_count() { access_lines | wc -l; }

# --- the checks -----------------------------------------------------------------------------

check_pending_endpoint_refused() {
  local name=pending_endpoint_gets_no_connection before_logs before_drops start out rc took
  before_logs=$(access_count)
  before_drops=$(plk_drop_count endpoint_not_approved)
  start=$(plk_now)
  out=$(plk_pe_get "$PLK_NS_CONS_B" 2>&1)
  rc=$?
  took=$(plk_elapsed_since "$start")
  local status
  status=$(plk_ctl -o json endpoint show pe-b | python3 -c \
    'import json, sys; print(json.load(sys.stdin)["connectionStatus"])')
  local after_drops
  after_drops=$(plk_drop_count endpoint_not_approved)
  # privlinkd answers a Pending endpoint's SYN with a RST: curl fails at once (exit 7, refused).
  if [ "$status" = Pending ] && [ "$rc" -eq 7 ] && [ "$(access_count)" -eq "$before_logs" ] &&
      [ "$after_drops" -gt "$before_drops" ]; then
    plk_pass $name "status $status, curl exit 7 after ${took}s ($out), endpoint_not_approved +$((after_drops - before_drops))"
  else
    plk_fail $name "status '$status', curl exit $rc after ${took}s ($out), backend requests $before_logs -> $(access_count), endpoint_not_approved $before_drops -> $after_drops"
  fi
}

# One try of check_approve_without_restart's request from consumer B (sets its out, rc, tries).
# shellcheck disable=SC2317  # run by plk_wait_for
request_after_approve() {
  out=$(plk_pe_get "$PLK_NS_CONS_B" 2>&1) && rc=0 && return 0
  tries=$((tries + 1))
  return 1
}
check_approve_without_restart() {
  local name=approve_via_api_without_restart pid=$PLK_DAEMON_PID out rc=1 tries=0
  if ! plk_ctl connection approve pe-b --service web --description "e2e" >/dev/null; then
    plk_fail $name "privlinkctl connection approve failed"
    return
  fi
  # Publication is asynchronous (a snapshot swap); allow it a moment.
  plk_wait_for 2 request_after_approve
  if [ $rc -eq 0 ] && plk_is_backend_page "$out" && ! plk_exited "$pid" &&
      [ "$PLK_DAEMON_PID" = "$pid" ]; then
    plk_pass $name "after approve, curl from consumer B got '$out' ($tries retries), privlinkd pid $pid unchanged"
  else
    plk_fail $name "curl exit $rc after approve: '$out'; privlinkd pid $pid alive: $(plk_exited "$pid" && echo no || echo yes)"
  fi
}

check_curl_both_consumers() {
  local name=curl_from_both_consumers out_a out_b rc_a rc_b
  out_a=$(plk_pe_get "$PLK_NS_CONS_A" 2>&1)
  rc_a=$?
  out_b=$(plk_pe_get "$PLK_NS_CONS_B" 2>&1)
  rc_b=$?
  if [ $rc_a -eq 0 ] && [ $rc_b -eq 0 ] && plk_is_backend_page "$out_a" &&
      plk_is_backend_page "$out_b"; then
    plk_pass $name "A ($PLK_CLIENT_IP, consumer0 untagged): '$out_a'; B ($PLK_CLIENT_IP, consumer1 VLAN $PLK_VLAN_B): '$out_b'"
  else
    plk_fail $name "A: exit $rc_a '$out_a'; B: exit $rc_b '$out_b'"
  fi
}

check_backends_see_only_nat_ips() {
  local name=backends_see_only_nat_ips${1:+_$1} sources
  sources=$(access_lines | awk '{print $1}' | sort | uniq -c | awk '{printf "%s x%s ", $2, $1}')
  local others
  others=$(access_lines | awk '{print $1}' | sort -u |
    grep -vxF -e "${PLK_NAT_IPS[0]}" -e "${PLK_NAT_IPS[1]}")
  if [ "$(access_count)" -gt 0 ] && [ -z "$others" ]; then
    plk_pass "$name" "$(access_count) requests, sources: $sources"
  else
    plk_fail "$name" "sources: ${sources:-none}; not NAT IPs: ${others:-none}"
  fi
}

# Records each access log's current length, so check_concurrent_spread counts only new requests.
mark_access_logs() {
  local f
  for f in "$PLK_WORK"/logs/access-*.log; do wc -l <"$f" >"$f.mark"; done
}

check_concurrent_spread() {
  mark_access_logs
  local name=concurrent_${CONCURRENT}_spread summary rc
  summary=$(plk_in_a python3 "$PLK_E2E_DIR/concurrent_client.py" "$PLK_PE_IP" 80 \
    --count $CONCURRENT --timeout 60)
  rc=$?
  # Spread from the backends' own logs: the requests of this run only.
  local spread
  spread=$(python3 - "$PLK_WORK/logs" "$CONCURRENT" "${PLK_NAT_IPS[@]}" <<'PYEOF'
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
PYEOF
  )
  if [ $rc -eq 0 ] && [[ "$spread" == ok* ]]; then
    plk_pass "$name" "${spread#ok }; client: $summary"
  else
    plk_fail "$name" "${spread}; client (exit $rc): $summary"
  fi
}

check_bulk_download() {
  local name=bulk_1GiB_download_intact expected before after start got rc took
  plk_random_file "$PLK_WORK/www/bulk.bin" $BULK_BYTES
  expected=$(sha256sum "$PLK_WORK/www/bulk.bin" | cut -d' ' -f1)
  before=$(plk_endpoint_bytes pe-a)
  start=$(plk_now)
  got=$(plk_pe_download "$PLK_NS_CONS_A" bulk.bin 150 | sha256sum | cut -d' ' -f1)
  rc=$?
  took=$(plk_elapsed_since "$start")
  after=$(plk_endpoint_bytes pe-a)
  if [ $rc -eq 0 ] && [ "$got" = "$expected" ]; then
    plk_pass $name "$BULK_BYTES bytes in ${took}s ($(plk_calc "f'{$BULK_BYTES * 8 / $took / 1e9:.2f}'") Gbit/s), sha256 $got"
  else
    plk_fail $name "exit $rc after ${took}s, sha256 got '$got' want '$expected'"
  fi
  check_endpoint_bytes pe-a "$before" "$after" "$BULK_BYTES" download
  rm -f "$PLK_WORK/www/bulk.bin"
}

check_upload() {
  local name=upload_64MiB_intact before after out rc expected
  plk_random_file "$PLK_WORK/upload.bin" $UPLOAD_BYTES
  expected="$UPLOAD_BYTES $(sha256sum "$PLK_WORK/upload.bin" | cut -d' ' -f1)"
  before=$(plk_endpoint_bytes pe-b)
  out=$(plk_pe_upload "$PLK_NS_CONS_B" "$PLK_WORK/upload.bin" 60 2>&1)
  rc=$?
  after=$(plk_endpoint_bytes pe-b)
  if [ $rc -eq 0 ] && [ "$out" = "$expected" ]; then
    plk_pass $name "backend received '$out'"
  else
    plk_fail $name "exit $rc: got '$out' want '$expected'"
  fi
  check_endpoint_bytes pe-b "$before" "$after" "$UPLOAD_BYTES" upload
  rm -f "$PLK_WORK/upload.bin"
}

# check_endpoint_bytes PE "IN OUT" (before) "IN OUT" (after) BODY download|upload: the endpoint's
# byte counters grew by the body plus headers in the data direction and by ACKs in the other
# (plk_frame_bytes_max).
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
  local data_bound ack_bound
  data_bound=$(plk_frame_bytes_max "$body" 0)
  ack_bound=$(plk_frame_bytes_max 0 "$body")
  if plk_within "$body" "$data" "$data_bound" && [ "$acks" -gt 0 ] &&
      [ "$acks" -le "$ack_bound" ]; then
    plk_pass "$name" "body $body bytes, endpoint counted $data in the data direction (+$(plk_calc "f'{($data - $body) / $body * 100:.2f}'")%), $acks the other way"
  else
    plk_fail "$name" "body $body bytes; data direction counted $data (want $body..$data_bound), other direction $acks (want 1..$ack_bound); before in/out $before, after $after"
  fi
}

check_provider_cannot_open() {
  local name=provider_cannot_open_connections before after target rc results="" ok=1
  before=$(plk_drop_count nat_ip_no_flow)
  # A privileged port (never a NAT port) and a port from the NAT range, on both NAT IPs.
  for target in "${PLK_NAT_IPS[0]}:80" "${PLK_NAT_IPS[1]}:40000"; do
    plk_provider_connect "$target" 2 >/dev/null 2>&1
    rc=$?
    results+="$target exit $rc; "
    # 28: timed out. The SYN must vanish: neither a backend nor privlinkd may answer it.
    [ $rc -eq 28 ] || ok=
  done
  after=$(plk_drop_count nat_ip_no_flow)
  if [ -n "$ok" ] && [ "$after" -ge $((before + 2)) ]; then
    plk_pass $name "${results}nat_ip_no_flow $before -> $after"
  else
    plk_fail $name "${results}nat_ip_no_flow $before -> $after (want curl exit 28 and +2 or more)"
  fi
}

check_reject_tears_down() {
  local name=reject_tears_down_open_connection before after pid start took rc
  truncate -s $((256 * 1024 * 1024)) "$PLK_WORK/www/slow.bin"  # content does not matter here
  before=$(plk_drop_count connection_torn_down)
  # curl reports a reset only after reading what its socket already holds; with the default
  # (autotuned, megabytes) receive buffer and a 1 MB/s reader that alone takes seconds. A small
  # buffer makes curl's exit time show when the reset arrived.
  plk_in_b sysctl -qw net.ipv4.tcp_rmem="4096 32768 131072"
  # 256 MiB at 1 MB/s: runs for minutes unless torn down.
  plk_in_b curl -sS --limit-rate 1M -o /dev/null "$(plk_pe_url /files/slow.bin)" \
    2>"$PLK_WORK/slow.err" &
  pid=$!
  sleep 2
  if plk_exited $pid; then
    wait $pid
    plk_fail $name "the slow transfer ended (exit $?) before the reject: $(cat "$PLK_WORK/slow.err")"
    return
  fi
  if ! plk_ctl connection reject pe-b --service web --description "e2e teardown" >/dev/null; then
    plk_fail $name "privlinkctl connection reject failed"
    kill $pid
    return
  fi
  start=$(plk_now)
  plk_wait_for 10 plk_exited $pid
  took=$(plk_elapsed_since "$start")
  if ! plk_exited $pid; then
    kill $pid
    wait $pid
    plk_fail $name "the transfer still ran 10 s after the reject"
    return
  fi
  wait $pid
  rc=$?
  after=$(plk_drop_count connection_torn_down)
  local new_rc
  plk_pe_get "$PLK_NS_CONS_B" >/dev/null 2>&1
  new_rc=$?
  if [ $rc -ne 0 ] && plk_within 0 "$took" 5 && [ "$after" -gt "$before" ] && [ $new_rc -ne 0 ]; then
    plk_pass $name "transfer ended ${took}s after the reject (curl exit $rc: $(tr -d '\n' <"$PLK_WORK/slow.err")), connection_torn_down $before -> $after, a new connection fails (exit $new_rc)"
  else
    plk_fail $name "transfer ended ${took}s after the reject with exit $rc ($(tr -d '\n' <"$PLK_WORK/slow.err")); connection_torn_down $before -> $after; new connection exit $new_rc (want non-zero)"
  fi
  rm -f "$PLK_WORK/www/slow.bin"
}

# Flows by state come from the workers' expiry sweeps; once traffic is quiet every flow is counted
# in exactly one state. flows_settled reads "SUM TOTAL BY_STATE" into check_flows_by_state's result.
# shellcheck disable=SC2317  # run by plk_wait_for
flows_settled() {
  result=$(plk_stats_value "f\"{sum(d['flows']['byState'].values())} {d['flows']['total']} {d['flows']['byState']}\"")
  [ "${result%% *}" = "$(cut -d' ' -f2 <<<"$result")" ]
}
check_flows_by_state() {
  local name=stats_flows_by_state_sum_to_total result
  plk_wait_for 3 flows_settled
  local sum total
  read -r sum total _ <<<"$result"
  if [ "$sum" = "$total" ] && [ "$total" -gt 0 ]; then
    plk_pass $name "$total flows: ${result#* * }"
  else
    plk_fail $name "byState sums to $sum, flows.total is $total: ${result#* * }"
  fi
}

# Issue 8, scenario 14: kill -9 while a transfer runs, then a restart: the control state is
# exactly what was acknowledged before the kill (it comes back from the state directory) and the
# new daemon serves new connections at once (a Rejected endpoint stays refused).
api_state() { curl -sS --max-time 5 --unix-socket "$PLK_WORK/api.sock" http://privlink/v1/state; }
check_kill9_under_load_restart() {
  local name=kill9_under_load_then_restart pid before after start took out_a rc_a rc_b
  truncate -s $((256 * 1024 * 1024)) "$PLK_WORK/www/load.bin"
  plk_in_a curl -sS --limit-rate 4M -o /dev/null "$(plk_pe_url /files/load.bin)" 2>/dev/null &
  pid=$!
  sleep 1
  before=$(api_state)
  kill -KILL "$PLK_DAEMON_PID"
  wait "$PLK_DAEMON_PID" 2>/dev/null
  PLK_DAEMON_PID=
  kill $pid 2>/dev/null
  wait $pid 2>/dev/null
  rm -f "$PLK_WORK/www/load.bin"
  start=$(plk_now)
  if ! plk_start_privlinkd; then
    plk_fail $name "privlinkd did not start again after kill -9"
    return 1
  fi
  after=$(api_state)
  out_a=$(plk_pe_get "$PLK_NS_CONS_A" 2>&1)
  rc_a=$?
  plk_in_b curl -sS --max-time 3 "$(plk_pe_url)" >/dev/null 2>&1
  rc_b=$?
  took=$(plk_elapsed_since "$start")
  if [ -n "$before" ] && [ "$before" = "$after" ] && [ $rc_a -eq 0 ] &&
      plk_is_backend_page "$out_a" && [ $rc_b -ne 0 ]; then
    plk_pass $name "state identical ($(echo -n "$before" | wc -c) bytes of /v1/state); restart + first connection through pe-a in ${took}s; pe-b (Rejected) still refused"
  else
    plk_fail $name "state identical: $([ "$before" = "$after" ] && echo yes || echo no); pe-a: exit $rc_a '$out_a'; pe-b exit $rc_b (want non-zero)"
  fi
}

# --- main -----------------------------------------------------------------------------------

plk_log "building the topology"
plk_topo_up
plk_write_config --consumer-b --teardown reset --endpoint pe-b sub-b net-b "$PLK_PE_IP"
plk_log "starting privlinkd ($PLK_PRIVLINKD)"
plk_start_privlinkd || exit 1

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
plk_ctl stats
plk_check_clean_exit
plk_report
