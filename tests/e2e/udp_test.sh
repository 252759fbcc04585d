#!/usr/bin/env bash
# UDP end to end, from both overlapping consumer networks (net-a untagged, net-b on VLAN 20, the
# same client and PE addresses): service web has UDP rules 53 -> 5353 (dnsmasq on the backend)
# and 5201 -> 5201 (iperf3's data) beside TCP rules 53 -> 5353 (DNS over TCP, what a resolver
# falls back to for an answer too large for one datagram: privlink does not reassemble
# fragments) and 5201 -> 5201 (iperf3's control connection). dig asks the PE over UDP and TCP;
# `iperf3 -u` sends 1,200-byte datagrams at 20 Mbit/s for 2 s. The backend sees only NAT IPs
# (dnsmasq's query log, iperf3's "Accepted connection" lines); flow listings and the metrics say
# the protocol.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/udp_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require
plk_work_dir /dev/shm/plk-udp.XXXXXX
# dnsmasq_on_backend, iperf3_on_backend, dig_udp_a, dig_udp_b, dig_tcp_b, udp_flows_listed,
# iperf3_udp_a, iperf3_udp_b, backend_sees_only_nat_ips, udp_flow_metrics, no_udp_drops,
# privlinkd_sigterm_exit_0.
PLK_EXPECTED_CHECKS=12
BACKEND=${PLK_BACKENDS[0]}
NAME=web.fabrikam.internal
ANSWER=192.0.2.80

for tool in dnsmasq dig iperf3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (tools/install-deps test)" >&2; exit 1; }
done

plk_log "building the topology"
plk_topo_up
plk_write_config --no-state --consumer-b --backends 1 \
  --rule 53:5353/udp --rule 53:5353 --rule 5201:5201/udp --rule 5201:5201 --rule 80:8080 \
  --endpoint pe-b sub-a net-b "$PLK_PE_IP"
plk_start_privlinkd || exit 1

# The backend's UDP (and TCP) services: dnsmasq answering one name, logging each query's source;
# iperf3's server, logging each client's address.
plk_spawn "$PLK_NS_PROV" "$PLK_WORK/logs/dnsmasq.log" dnsmasq --no-daemon --conf-file=/dev/null \
  --no-resolv --no-hosts --listen-address="$BACKEND" --bind-interfaces --port=5353 \
  --address="/$NAME/$ANSWER" --log-queries --user=root --pid-file="$PLK_WORK/dnsmasq.pid"
if plk_wait_for 10 plk_port_open "$PLK_NS_PROV" "$BACKEND" 5353; then
  plk_pass dnsmasq_on_backend "$BACKEND:5353"
else
  plk_fail dnsmasq_on_backend "$(cat "$PLK_WORK/logs/dnsmasq.log")"
fi
plk_spawn "$PLK_NS_PROV" "$PLK_WORK/logs/iperf3.log" iperf3 -s -B "$BACKEND" -p 5201 --forceflush
# Ready when it says so (a probing connect would count as a client, and iperf3 serves one at a time).
iperf3_listening() { grep -q 'Server listening on 5201' "$PLK_WORK/logs/iperf3.log"; }
if plk_wait_for 10 iperf3_listening; then
  plk_pass iperf3_on_backend "$BACKEND:5201"
else
  plk_fail iperf3_on_backend "$(cat "$PLK_WORK/logs/iperf3.log")"
fi

# dig NS [OPTION...]: the answer for $NAME from the PE.
ask() {
  local ns=$1
  shift
  ip netns exec "$ns" dig @"$PLK_PE_IP" -p 53 "$NAME" A +short +time=2 +tries=2 "$@" 2>&1
}
got=$(ask "$PLK_NS_CONS_A")
if [ "$got" = "$ANSWER" ]; then plk_pass dig_udp_a "$NAME -> $got"; else
  plk_fail dig_udp_a "got '$got'"
fi
got=$(ask "$PLK_NS_CONS_B")
if [ "$got" = "$ANSWER" ]; then plk_pass dig_udp_b "$NAME -> $got"; else
  plk_fail dig_udp_b "got '$got'"
fi
got=$(ask "$PLK_NS_CONS_B" +tcp)
if [ "$got" = "$ANSWER" ]; then plk_pass dig_tcp_b "over TCP: $NAME -> $got"; else
  plk_fail dig_tcp_b "got '$got'"
fi

# The UDP flows of both networks, as privlinkctl lists them.
listing=$(plk_ctl -o json flows 2>&1)
udp_flows=$(python3 -c '
import json, sys
flows = json.loads(sys.argv[1])["value"]
print(" ".join(sorted(f["network"] for f in flows
                      if f["protocol"] == "udp" and f["state"] == "UDP"
                      and f["endpointAddress"].endswith(":53"))))' "$listing" 2>&1)
if [ "$udp_flows" = "net-a net-b" ]; then plk_pass udp_flows_listed "UDP flows to :53 in $udp_flows"
else
  plk_fail udp_flows_listed "got '$udp_flows': $listing"
fi

# iperf3 NS: a 2 s UDP run from NS through the PE; prints "datagrams lost_percent".
iperf_udp() {
  ip netns exec "$1" iperf3 -c "$PLK_PE_IP" -p 5201 -u -b 20M -l 1200 -t 2 -J \
    >"$PLK_WORK/iperf3-$1.json" 2>&1
  python3 -c '
import json, sys
end = json.load(open(sys.argv[1]))["end"]["sum"]
print(end["packets"], end["lost_percent"])' "$PLK_WORK/iperf3-$1.json" 2>/dev/null
}
for ns in "$PLK_NS_CONS_A" "$PLK_NS_CONS_B"; do
  check=iperf3_udp_a
  [ "$ns" = "$PLK_NS_CONS_B" ] && check=iperf3_udp_b
  read -r packets lost < <(iperf_udp "$ns")
  # About 4,100 datagrams are sent; a few may be lost on two busy cores, not more.
  if [ "${packets:-0}" -ge 3000 ] && [ "$(plk_calc "${lost:-100} < 5")" = True ]; then
    plk_pass "$check" "$packets datagrams, $lost% lost"
  else
    plk_fail "$check" "packets '${packets:-}', lost '${lost:-}': $(tail -c 600 "$PLK_WORK/iperf3-$ns.json")"
  fi
done

# The backend saw NAT IPs only: dnsmasq's query sources and iperf3's clients.
sources=$( (grep -o 'from [0-9.]*' "$PLK_WORK/logs/dnsmasq.log" | cut -d' ' -f2
  grep -o 'Accepted connection from [0-9.]*' "$PLK_WORK/logs/iperf3.log" | cut -d' ' -f4) |
  sort -u | tr '\n' ' ')
foreign=0
count=0
for src in $sources; do
  count=$((count + 1))
  [[ " ${PLK_NAT_IPS[*]} " == *" $src "* ]] || foreign=$((foreign + 1))
done
if [ "$count" -ge 1 ] && [ "$foreign" -eq 0 ] &&
  [ "$(grep -c 'query\[A\]' "$PLK_WORK/logs/dnsmasq.log")" -ge 3 ] &&
  [ "$(grep -c 'Accepted connection' "$PLK_WORK/logs/iperf3.log")" -ge 2 ]; then
  plk_pass backend_sees_only_nat_ips "sources: $sources"
else
  plk_fail backend_sees_only_nat_ips "sources: '$sources'; $(cat "$PLK_WORK/logs/dnsmasq.log")"
fi

# Metrics: UDP flows by state, and the bytes each endpoint carried.
metrics=$(curl -sS --max-time 5 --unix-socket "${PLK_API#unix:}" http://privlinkd/metrics 2>&1)
udp_state=$(grep -E '^privlink_flows\{.*state="udp"' <<<"$metrics" | awk '{s += $2} END {print s + 0}')
bytes=$(plk_endpoint_bytes pe-b)
# iperf3 sent about 5 MB from the client (bytesOut, the second figure).
if [ "${udp_state:-0}" -ge 1 ] && [ "${bytes##* }" -gt 1000000 ]; then
  plk_pass udp_flow_metrics "$udp_state UDP flows; pe-b bytes in/out: $bytes"
else
  plk_fail udp_flow_metrics "udp flows '$udp_state', pe-b '$bytes'; $(grep privlink_flows <<<"$metrics")"
fi
drops=$(plk_stats_value "' '.join(f'{k}={v}' for k, v in d['drops'].items() if k.startswith('udp') and v)")
if [ -z "$drops" ]; then plk_pass no_udp_drops; else plk_fail no_udp_drops "$drops"; fi

plk_check_clean_exit privlinkd_sigterm_exit_0
plk_report
