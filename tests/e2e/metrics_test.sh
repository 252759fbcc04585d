#!/usr/bin/env bash
# Metrics end to end: the real Prometheus server scrapes privlinkd's GET /metrics (every second)
# while clients transfer files of known size through a private endpoint; Prometheus's query API
# must then report the endpoint's byte and connection counters: equal to privlinkd's own
# /v1/stats, and matching what the clients transferred within header overhead.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/metrics_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require prometheus
plk_work_dir /dev/shm/plk-metrics.XXXXXX prometheus

DOWNLOAD_BYTES=$((8 * 1024 * 1024))
DOWNLOADS=2
UPLOAD_BYTES=$((4 * 1024 * 1024))
SCRAPE_INTERVAL=1s
# prometheus_scrapes_privlinkd, transfers, prometheus_equals_stats,
# prometheus_endpoint_connections, prometheus_bytes_match_transfers, prometheus_service_bytes,
# privlinkd_sigterm_exit_0.
PLK_EXPECTED_CHECKS=7

# Two free TCP ports on loopback: privlinkd's API and Prometheus's web listener.
read -r API_PORT PROM_PORT < <(python3 -c 'import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
PLK_API=127.0.0.1:$API_PORT
PROM="http://127.0.0.1:$PROM_PORT"

# prom_query EXPR [PRINT]: an instant query; prints the Python expression PRINT over r, its results
# (by default the value of its single result, "" when there is not exactly one).
prom_query() {
  local print=${2:-'r[0]["value"][1] if len(r) == 1 else ""'}
  curl -sS --max-time 5 "$PROM/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(eval(sys.argv[1]))' "$print"
}

# "IN OUT": pe-a's byte counters as Prometheus last scraped them (one query, both directions).
# shellcheck disable=SC2317  # run by prom_equals_stats
prom_endpoint_bytes() {
  prom_query 'privlink_endpoint_bytes_total{endpoint="pe-a"}' \
    '" ".join({m["metric"]["direction"]: m["value"][1] for m in r}.get(d, "none") for d in ("in", "out"))'
}

# shellcheck disable=SC2317  # run by plk_wait_for
prom_scrapes_privlinkd() { [ "$(prom_query 'up{job="privlink"}' 2>/dev/null)" = 1 ]; }
# Reads Prometheus's pe-a bytes into got_in, got_out; true when they equal want_in, want_out.
# shellcheck disable=SC2317  # run by plk_wait_for
prom_equals_stats() {
  read -r got_in got_out < <(prom_endpoint_bytes)
  [ "$got_in" = "$want_in" ] && [ "$got_out" = "$want_out" ]
}

plk_log "building the topology"
plk_topo_up
plk_write_config --flow-table 4096 --no-state --backends 2 --nat-ips 1
cat >"$PLK_WORK/prometheus.yml" <<YAML
global:
  scrape_interval: $SCRAPE_INTERVAL
  scrape_timeout: $SCRAPE_INTERVAL
scrape_configs:
  - job_name: privlink
    static_configs:
      - targets: ["$PLK_API"]
YAML
plk_log "starting privlinkd and prometheus"
plk_start_privlinkd || exit 1
plk_spawn "" "$PLK_WORK/prometheus.log" prometheus --config.file="$PLK_WORK/prometheus.yml" \
  --storage.tsdb.path="$PLK_WORK/prometheus" --web.listen-address="127.0.0.1:$PROM_PORT" \
  --log.level=warn
if ! plk_wait_for 15 prom_scrapes_privlinkd; then
  plk_fail prometheus_scrapes_privlinkd "no successful scrape within 15 s"
  tail -n 20 "$PLK_WORK/prometheus.log"
  exit 1
fi
plk_pass prometheus_scrapes_privlinkd "up{job=\"privlink\"} = 1"

plk_log "transfers"
# The transfers: DOWNLOADS downloads and one upload, one connection each.
plk_random_file "$PLK_WORK/www/file.bin" "$DOWNLOAD_BYTES"
plk_random_file "$PLK_WORK/upload.bin" "$UPLOAD_BYTES"
transfers_ok=1
for _ in $(seq "$DOWNLOADS"); do
  got=$(plk_pe_download "$PLK_NS_CONS_A" file.bin 20 | wc -c)
  [ "$got" -eq "$DOWNLOAD_BYTES" ] || transfers_ok=
done
out=$(plk_pe_upload "$PLK_NS_CONS_A" "$PLK_WORK/upload.bin" 20)
[ "${out%% *}" = "$UPLOAD_BYTES" ] || transfers_ok=
CONNECTIONS=$((DOWNLOADS + 1))
if [ -n "$transfers_ok" ]; then
  plk_pass transfers "$DOWNLOADS x $DOWNLOAD_BYTES bytes down, $UPLOAD_BYTES up"
else
  plk_fail transfers "a download or the upload failed (upload answer '$out')"
fi

plk_log "queries"
# Traffic is over: privlinkd's counters stand still; wait until Prometheus's latest scrape has
# the connections, then compare with privlinkd's own view.
read -r want_in want_out < <(plk_endpoint_bytes pe-a)
plk_wait_for 10 prom_equals_stats
got_conn=$(prom_query 'privlink_endpoint_connections_total{endpoint="pe-a"}')
if [ "$got_in" = "$want_in" ] && [ "$got_out" = "$want_out" ]; then
  plk_pass prometheus_equals_stats "in $got_in, out $got_out bytes"
else
  plk_fail prometheus_equals_stats "Prometheus in '$got_in' out '$got_out'; /v1/stats in $want_in out $want_out"
fi
if [ "$got_conn" = "$CONNECTIONS" ]; then
  plk_pass prometheus_endpoint_connections "$got_conn connections"
else
  plk_fail prometheus_endpoint_connections "privlink_endpoint_connections_total '$got_conn', want $CONNECTIONS"
fi

# Against what the clients moved: in = downloads (data) + the upload's ACKs, out = the reverse.
down=$((DOWNLOADS * DOWNLOAD_BYTES))
in_high=$(plk_frame_bytes_max "$down" "$UPLOAD_BYTES")
out_high=$(plk_frame_bytes_max "$UPLOAD_BYTES" "$down")
if plk_within "$down" "${got_in:-0}" "$in_high" &&
    plk_within "$UPLOAD_BYTES" "${got_out:-0}" "$out_high"; then
  plk_pass prometheus_bytes_match_transfers "in $got_in for $down body bytes down (<= $in_high), out $got_out for $UPLOAD_BYTES up (<= $out_high)"
else
  plk_fail prometheus_bytes_match_transfers "in '$got_in' want $down..$in_high, out '$got_out' want $UPLOAD_BYTES..$out_high"
fi

# A service-level query over the same scrapes, as the dashboard makes them.
got_svc=$(prom_query 'sum(privlink_service_bytes_total{service="web"})')
if [ -n "$got_svc" ] && [ "$got_svc" = "$(plk_calc "int($got_in) + int($got_out)")" ]; then
  plk_pass prometheus_service_bytes "service web: $got_svc bytes both ways = its one endpoint's"
else
  plk_fail prometheus_service_bytes "sum(privlink_service_bytes_total{service=\"web\"}) '$got_svc', want in+out of pe-a"
fi

plk_check_clean_exit
plk_report
