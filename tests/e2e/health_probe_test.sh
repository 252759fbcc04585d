#!/usr/bin/env bash
# Backend health probes end to end: service web probes its three HTTP backends (http, every
# second, two failures take a backend down, two passes bring it back). Killing one backend's
# server takes it down within interval x threshold + 1 s, after which 300 requests in a row all
# succeed on the other two (a connection given to the dead one would be refused by its kernel);
# restarting it brings it back into the Maglev table. A second service on a listener that speaks
# no HTTP passes a tcp probe and fails an http one. The API, privlinkctl and /metrics show it.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/health_probe_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require
plk_work_dir /dev/shm/plk-health.XXXXXX
# all_up_first, down_within_bound, metrics_show_down, requests_avoid_down, back_up_after_restart,
# takes_traffic_again, tcp_probe_passes_raw_listener, http_probe_fails_raw_listener,
# privlinkd_sigterm_exit_0
PLK_EXPECTED_CHECKS=9
INTERVAL=1
THRESHOLD=2
RAW_PORT=9000
DEAD=${PLK_BACKENDS[2]}

# The backendHealth entry of BACKEND in service $1: "health lastResult".
health_of() {
  plk_ctl -o json service show "$1" | python3 -c '
import json, sys
for b in json.load(sys.stdin).get("backendHealth", []):
    if b["ip"] == sys.argv[1]:
        print(b["health"], b.get("lastResult"))' "$2"
}
# is_health SERVICE BACKEND WANT: its "health lastResult" starts with WANT ("Down", "Up ok").
is_health() { health_of "$1" "$2" | grep -qE "^$3( |\$)"; }
all_up_probed() {
  local ip
  for ip in "${PLK_BACKENDS[@]}"; do
    health_of web "$ip" | grep -q '^Up http 200$' || return 1
  done
}

# $1 requests in a row through the PE, each on a new connection (one client process, so the
# test does not wait for 300 process starts); prints how many failed.
requests() {
  plk_in_a python3 -c '
import sys, urllib.request
failed = 0
for _ in range(int(sys.argv[2])):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
            failed += r.status != 200
            r.read()
    except OSError:
        failed += 1
print(failed)' "$(plk_pe_url /)" "$1"
}
# Requests a backend served to clients: the probes' requests come from a probe port (below 1024,
# where no client flow's NAT port is).
served() { awk '$2 >= 1024 && $3 == "GET"' "$PLK_WORK/logs/access-$1.log" | wc -l; }

start_dead_backend() {
  plk_spawn "$PLK_NS_PROV" "$PLK_WORK/logs/backend-$DEAD-2.stderr" python3 \
    "$PLK_E2E_DIR/backend.py" --bind "$DEAD" --port "$PLK_BACKEND_PORT" --root "$PLK_WORK/www" \
    --log "$PLK_WORK/logs/access-$DEAD.log"
  DEAD_PID=$!
}

plk_log "building the topology"
plk_topo_create || { echo "FAIL topology: could not build it" >&2; exit 1; }
mkdir -p "$PLK_WORK/www"
# Every backend but the one this test kills, as lib.sh starts them; that one by hand, to kill it.
PLK_BACKENDS_ALL=("${PLK_BACKENDS[@]}")
PLK_BACKENDS=("${PLK_BACKENDS_ALL[@]:0:2}")
plk_start_backends || exit 1
PLK_BACKENDS=("${PLK_BACKENDS_ALL[@]}")
start_dead_backend
plk_wait_for 10 plk_port_open "$PLK_NS_PROV" "$DEAD" "$PLK_BACKEND_PORT" || exit 1
: >"$PLK_WORK/logs/access-$DEAD.log"
# A listener that accepts and greets in something other than HTTP.
plk_spawn "$PLK_NS_PROV" "$PLK_WORK/logs/raw.log" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
while True:
    c, _ = s.accept()
    try:
        c.sendall(b"SSH-2.0-not-http\r\n")
    except OSError:
        pass
    c.close()' "${PLK_BACKENDS[0]}" "$RAW_PORT"

plk_write_config --no-state --nat-ips 1 --probe "{\"protocol\": \"http\", \"port\": $PLK_BACKEND_PORT,
  \"path\": \"/\", \"intervalSeconds\": $INTERVAL, \"unhealthyThreshold\": $THRESHOLD,
  \"healthyThreshold\": $THRESHOLD}"
plk_start_privlinkd || exit 1

if plk_wait_for 10 all_up_probed; then
  plk_pass all_up_first
else
  plk_fail all_up_first "$(plk_ctl -o json service show web)"
fi

plk_log "killing the server of $DEAD"
killed_at=$(plk_now)
plk_stop KILL "$DEAD_PID"
bound=$((INTERVAL * THRESHOLD + 1))
# Judged by the time the control plane took it down (backendHealth's "since"), not by how soon
# this script's polling saw it.
down_after() {
  plk_ctl -o json service show web | python3 -c '
import datetime, json, sys
for b in json.load(sys.stdin)["backendHealth"]:
    if b["ip"] == sys.argv[1] and b["health"] == "Down":
        since = datetime.datetime.strptime(b["since"], "%Y-%m-%dT%H:%M:%S.%fZ")
        since = since.replace(tzinfo=datetime.timezone.utc).timestamp()
        print(f"{since - float(sys.argv[2]):.2f}")' "$DEAD" "$killed_at"
}
if plk_wait_for 10 is_health web "$DEAD" Down; then
  after=$(down_after)
  if [ "$(plk_calc "$after <= $bound")" = True ]; then
    plk_pass down_within_bound "down $after s after the kill (bound $bound s): $(health_of web "$DEAD")"
  else
    plk_fail down_within_bound "down $after s after the kill (bound $bound s)"
  fi
else
  plk_fail down_within_bound "still $(health_of web "$DEAD") 10 s after the kill"
fi
metric=$(curl -sS --unix-socket "${PLK_API#unix:}" http://privlink/metrics |
  grep "^privlink_backend_up{.*backend=\"$DEAD\"")
if [[ "$metric" == *" 0" ]]; then
  plk_pass metrics_show_down "$metric"
else
  plk_fail metrics_show_down "'$metric'"
fi

for ip in "${PLK_BACKENDS[@]}"; do : >"$PLK_WORK/logs/access-$ip.log"; done
failed=$(requests 300)
a=$(served "${PLK_BACKENDS[0]}")
b=$(served "${PLK_BACKENDS[1]}")
if [ "$failed" -eq 0 ] && [ $((a + b)) -eq 300 ] && [ "$a" -gt 0 ] && [ "$b" -gt 0 ]; then
  plk_pass requests_avoid_down "300 of 300 succeeded: $a and $b on the live backends"
else
  plk_fail requests_avoid_down "$failed of 300 failed; live backends served $a and $b"
fi

plk_log "restarting the server of $DEAD"
start_dead_backend
if plk_wait_for 10 is_health web "$DEAD" Up; then
  plk_pass back_up_after_restart "$(health_of web "$DEAD")"
else
  plk_fail back_up_after_restart "$(health_of web "$DEAD")"
fi
: >"$PLK_WORK/logs/access-$DEAD.log"
failed=$(requests 90)
# Its Maglev share is a third: 90 requests give it some unless it is left out.
got=$(served "$DEAD")
if [ "$failed" -eq 0 ] && [ "$got" -gt 0 ]; then
  plk_pass takes_traffic_again "$got of 90 requests"
else
  plk_fail takes_traffic_again "$failed failed, $got reached it"
fi

# The raw listener, through a service of its own on the second NAT IP.
plk_ctl service create raw --subscription sub-provider --rule "$RAW_PORT" \
  --backend "${PLK_BACKENDS[0]}" --nat-ip "${PLK_NAT_IPS[1]}" --probe "tcp:$RAW_PORT" \
  --probe-interval "$INTERVAL" >/dev/null
if plk_wait_for 10 is_health raw "${PLK_BACKENDS[0]}" "Up ok"; then
  plk_pass tcp_probe_passes_raw_listener "$(health_of raw "${PLK_BACKENDS[0]}")"
else
  plk_fail tcp_probe_passes_raw_listener "$(health_of raw "${PLK_BACKENDS[0]}")"
fi
plk_ctl service update raw --probe "http:$RAW_PORT/" --probe-interval "$INTERVAL" >/dev/null
if plk_wait_for 10 is_health raw "${PLK_BACKENDS[0]}" Down; then
  plk_pass http_probe_fails_raw_listener "$(health_of raw "${PLK_BACKENDS[0]}")"
else
  plk_fail http_probe_fails_raw_listener "$(health_of raw "${PLK_BACKENDS[0]}")"
fi

plk_check_clean_exit
plk_report
