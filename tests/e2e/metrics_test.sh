#!/usr/bin/env bash
# Metrics end to end: the real Prometheus server scrapes privlinkd's GET /metrics (every second)
# while clients transfer files of known size through a private endpoint; Prometheus's query API
# must then report the endpoint's byte and connection counters: equal to privlinkd's own
# /v1/stats, and matching what the clients transferred within header overhead.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/metrics_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 PRIVLINKD PRIVLINKCTL" >&2
  exit 2
fi
PRIVLINKD=$(realpath "$1")
PRIVLINKCTL=$(realpath "$2")
# shellcheck source=tests/e2e/topology.sh
source "$(dirname "${BASH_SOURCE[0]}")/topology.sh"
plk_topo_require prometheus

WORK=$(mktemp -d /dev/shm/plk-metrics.XXXXXX)
mkdir -p "$WORK/www" "$WORK/logs" "$WORK/prometheus"
PROM_PID=
# shellcheck disable=SC2317  # run by the EXIT trap
on_exit() {
  local status=$?
  if [ -n "$PROM_PID" ]; then
    kill -TERM "$PROM_PID" 2>/dev/null
    wait "$PROM_PID" 2>/dev/null
  fi
  plk_topo_cleanup
  rm -rf "$WORK"
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

DOWNLOAD_BYTES=$((8 * 1024 * 1024))
DOWNLOADS=2
UPLOAD_BYTES=$((4 * 1024 * 1024))
SCRAPE_INTERVAL=1s
# As in e2e_test.sh: frames are at most 10% (+200 KiB for handshakes, HTTP headers) above the
# body bytes in the data direction; the other direction adds at most 10% of the body in ACKs.
OVERHEAD_RATIO=1.10
ACK_RATIO=0.10
OVERHEAD_SLACK=$((200 * 1024))

FAILED=0
pass() { echo "PASS $1${2:+: $2}"; }
fail() {
  echo "FAIL $1: $2"
  FAILED=$((FAILED + 1))
}
in_a() { ip netns exec "$PLK_NS_CONS_A" "$@"; }
# Two free TCP ports on loopback: privlinkd's API and Prometheus's web listener.
read -r API_PORT PROM_PORT < <(python3 -c 'import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
PROM="http://127.0.0.1:$PROM_PORT"

write_config() {
  cat >"$WORK/privlink.json" <<EOF
{
  "dataplane": {
    "region": "e2e", "workers": 1, "flowTableSize": 4096,
    "api": {"listen": "127.0.0.1:$API_PORT"},
    "ports": [
      {"name": "consumer0", "role": "consumer", "device": "net_af_packet0,iface=$PLK_IF_CONS_A"},
      {"name": "provider0", "role": "provider", "device": "net_af_packet1,iface=$PLK_IF_PROV",
       "subnet": "$PLK_PROVIDER_PORT_IP/24"}
    ]
  },
  "networks": [{"name": "net-a", "port": "consumer0", "vlan": 0}],
  "privateLinkServices": [{
    "name": "web", "subscription": "sub-provider",
    "loadBalancingRules": [{"frontendPort": 80, "backendPort": $PLK_BACKEND_PORT}],
    "backends": [{"ip": "${PLK_BACKENDS[0]}"}, {"ip": "${PLK_BACKENDS[1]}"}],
    "natIps": ["${PLK_NAT_IPS[0]}"],
    "visibility": ["*"], "autoApproval": ["sub-a"]
  }],
  "privateEndpoints": [
    {"name": "pe-a", "subscription": "sub-a", "network": "net-a", "ip": "$PLK_PE_IP",
     "privateLinkService": "web"}
  ]
}
EOF
  cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: $SCRAPE_INTERVAL
  scrape_timeout: $SCRAPE_INTERVAL
scrape_configs:
  - job_name: privlink
    static_configs:
      - targets: ["127.0.0.1:$API_PORT"]
EOF
}

# prom_query EXPR: the value of an instant query's single result ("" when there is none).
prom_query() {
  curl -sS --max-time 5 "$PROM/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if len(r) == 1 else "")'
}

# "IN OUT": pe-a's byte counters in privlinkd's own GET /v1/stats.
stats_endpoint_bytes() {
  "$PRIVLINKCTL" --server "127.0.0.1:$API_PORT" -o json stats | python3 -c '
import json, sys
d = json.load(sys.stdin)["dataplane"]
e = next(e for e in d["endpoints"] if e["name"] == "pe-a")
print(e["bytesIn"], e["bytesOut"])'
}

# "IN OUT": the same counters as Prometheus last scraped them (one query, both directions).
prom_endpoint_bytes() {
  curl -sS --max-time 5 "$PROM/api/v1/query" \
    --data-urlencode 'query=privlink_endpoint_bytes_total{endpoint="pe-a"}' | python3 -c '
import json, sys
v = {r["metric"]["direction"]: r["value"][1] for r in json.load(sys.stdin)["data"]["result"]}
print(v.get("in", "none"), v.get("out", "none"))'
}

# within LOW VALUE HIGH
within() { python3 -c 'import sys; l, v, h = map(float, sys.argv[1:]); sys.exit(0 if l <= v <= h else 1)' "$@"; }

plk_log "building the topology"
test_start=$(date +%s.%N)
plk_topo_create || { echo "FAIL topology: could not build it" >&2; exit 1; }
plk_start_backends "$WORK/www" "$WORK/logs" || exit 1
write_config
plk_log "starting privlinkd and prometheus"
plk_start_privlinkd "$PRIVLINKD" "$WORK/privlink.json" "$WORK/privlinkd.log" || exit 1

prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 \
  {PLK_LOCK_FD}>&- &
PROM_PID=$!
up=
for _ in $(seq 150); do
  [ "$(prom_query 'up{job="privlink"}' 2>/dev/null)" = 1 ] && up=1 && break
  sleep 0.1
done
if [ -z "$up" ]; then
  fail prometheus_scrapes_privlinkd "no successful scrape within 15 s"
  tail -n 20 "$WORK/prometheus.log"
  exit 1
fi
pass prometheus_scrapes_privlinkd "up{job=\"privlink\"} = 1"

plk_log "transfers"
# The transfers: DOWNLOADS downloads and one upload, one connection each.
head -c "$DOWNLOAD_BYTES" /dev/urandom >"$WORK/www/file.bin"
head -c "$UPLOAD_BYTES" /dev/urandom >"$WORK/upload.bin"
transfers_ok=1
for _ in $(seq "$DOWNLOADS"); do
  got=$(in_a curl -sS --fail --max-time 20 "http://$PLK_PE_IP/files/file.bin" | wc -c)
  [ "$got" -eq "$DOWNLOAD_BYTES" ] || transfers_ok=
done
out=$(in_a curl -sS --fail --max-time 20 -H 'Expect:' -H 'Content-Type: application/octet-stream' \
  --data-binary "@$WORK/upload.bin" "http://$PLK_PE_IP/upload")
[ "${out%% *}" = "$UPLOAD_BYTES" ] || transfers_ok=
CONNECTIONS=$((DOWNLOADS + 1))
if [ -n "$transfers_ok" ]; then
  pass transfers "$DOWNLOADS x $DOWNLOAD_BYTES bytes down, $UPLOAD_BYTES up"
else
  fail transfers "a download or the upload failed (upload answer '$out')"
fi

plk_log "queries"
# Traffic is over: privlinkd's counters stand still; wait until Prometheus's latest scrape has
# the connections, then compare with privlinkd's own view.
read -r want_in want_out < <(stats_endpoint_bytes)
for _ in $(seq 50); do
  read -r got_in got_out < <(prom_endpoint_bytes)
  [ "$got_in" = "$want_in" ] && [ "$got_out" = "$want_out" ] && break
  sleep 0.2
done
got_conn=$(prom_query 'privlink_endpoint_connections_total{endpoint="pe-a"}')
if [ "$got_in" = "$want_in" ] && [ "$got_out" = "$want_out" ]; then
  pass prometheus_equals_stats "in $got_in, out $got_out bytes"
else
  fail prometheus_equals_stats "Prometheus in '$got_in' out '$got_out'; /v1/stats in $want_in out $want_out"
fi
if [ "$got_conn" = "$CONNECTIONS" ]; then
  pass prometheus_endpoint_connections "$got_conn connections"
else
  fail prometheus_endpoint_connections "privlink_endpoint_connections_total '$got_conn', want $CONNECTIONS"
fi

# Against what the clients moved: in = downloads (data) + the upload's ACKs, out = the reverse.
down=$((DOWNLOADS * DOWNLOAD_BYTES))
in_high=$(python3 -c "print(int($down * $OVERHEAD_RATIO + $UPLOAD_BYTES * $ACK_RATIO + $OVERHEAD_SLACK))")
out_high=$(python3 -c "print(int($UPLOAD_BYTES * $OVERHEAD_RATIO + $down * $ACK_RATIO + $OVERHEAD_SLACK))")
if within "$down" "${got_in:-0}" "$in_high" && within "$UPLOAD_BYTES" "${got_out:-0}" "$out_high"; then
  pass prometheus_bytes_match_transfers "in $got_in for $down body bytes down (<= $in_high), out $got_out for $UPLOAD_BYTES up (<= $out_high)"
else
  fail prometheus_bytes_match_transfers "in '$got_in' want $down..$in_high, out '$got_out' want $UPLOAD_BYTES..$out_high"
fi

# A service-level query over the same scrapes, as the dashboard makes them.
got_svc=$(prom_query 'sum(privlink_service_bytes_total{service="web"})')
if [ -n "$got_svc" ] && [ "$got_svc" = "$(python3 -c "print(int($got_in) + int($got_out))")" ]; then
  pass prometheus_service_bytes "service web: $got_svc bytes both ways = its one endpoint's"
else
  fail prometheus_service_bytes "sum(privlink_service_bytes_total{service=\"web\"}) '$got_svc', want in+out of pe-a"
fi

plk_stop_privlinkd || fail privlinkd_exit "privlinkd did not exit 0"
echo "--- $FAILED failed in $(python3 -c "import time; print(f'{time.time() - $test_start:.1f}')")s"
if [ "$FAILED" -gt 0 ]; then
  tail -n 20 "$WORK/privlinkd.log"
  exit 1
fi
exit 0
