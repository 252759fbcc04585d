#!/usr/bin/env bash
# Hostile packets end to end: scapy sends corrupt packets into the real privlinkd from a consumer
# namespace and from the provider namespace (tests/e2e/hostile.py), and captures on the other side
# show that none arrived. From the consumer: SYNs with a wrong IPv4 or TCP checksum, or both, or
# a zero TCP checksum (and one intact SYN, which must arrive: the captures' control); and RSTs on a live connection at the right sequence number with a wrong TCP
# or IPv4 checksum, and one behind it with a good checksum. From the provider: the same RSTs
# towards the client. The live connection (an upload held open half-way) must survive them all and
# complete, the corrupt SYNs must have made no flow, the drops must be counted under their
# reasons, and a new client still gets through.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made or scapy is missing.
#
# usage: tests/e2e/hygiene_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require tcpdump
if ! /usr/bin/python3 -c 'import scapy' 2>/dev/null; then
  echo "SKIP: scapy is not installed (Debian: python3-scapy)" >&2
  exit 77
fi
plk_work_dir /dev/shm/plk-hygiene.XXXXXX pcap

HOSTILE=(/usr/bin/python3 "$PLK_E2E_DIR/hostile.py")
MARK=plk-hygiene-$$
CONS_PCAP=$PLK_WORK/pcap/consumer.pcap
PROV_PCAP=$PLK_WORK/pcap/provider.pcap
# first_request, held_connection_open, consumer_packets_not_forwarded,
# provider_packets_not_forwarded, held_connection_survived, corrupt_syns_made_no_flow,
# drops_counted, new_client_after, privlinkd_sigterm_exit_0.
PLK_EXPECTED_CHECKS=9

plk_log "building the topology"
plk_topo_up
plk_write_config --no-state --backends 1 --nat-ips 1
plk_start_privlinkd || exit 1

# A real request first: the client learns the PE's MAC and privlinkd the backend's.
out=$(plk_pe_get "$PLK_NS_CONS_A" 2>&1)
if plk_is_backend_page "$out"; then
  plk_pass first_request
else
  plk_fail first_request "'$out'"
fi

plk_start_capture "$PLK_NS_CONS_A" "$PLK_IF_CONS_A_NS" "$CONS_PCAP" || exit 1
CONS_CAPTURE=$PLK_CAPTURE_PID
plk_start_capture "$PLK_NS_PROV" "$PLK_IF_PROV_NS" "$PROV_PCAP" || exit 1
PROV_CAPTURE=$PLK_CAPTURE_PID

# The live connection: half an upload, then it waits for $PLK_WORK/go.
plk_spawn "$PLK_NS_CONS_A" "$PLK_WORK/logs/held.log" "${HOSTILE[@]}" held "$PLK_PE_IP" 80 \
  "$PLK_WORK/go"
HELD=$!
flow=
held_open() {
  grep -q "half sent" "$PLK_WORK/logs/held.log" || return 1
  flow=$(plk_ctl -o json flows | python3 -c '
import json, sys
flows = [f for f in json.load(sys.stdin)["value"] if f["state"] == "ESTABLISHED"]
if len(flows) == 1:
    f = flows[0]
    print(f["client"].replace(":", " "), f["nat"].replace(":", " "), f["backend"].replace(":", " "))')
  [ -n "$flow" ]
}
if plk_wait_for 10 held_open; then
  plk_pass held_connection_open "$flow"
else
  plk_fail held_connection_open "no established flow: $(cat "$PLK_WORK/logs/held.log")"
  plk_report
fi
read -r client_ip client_port nat_ip nat_port backend_ip backend_port <<<"$flow"
sleep 0.5  # the upload's first half acknowledged, so both sides' numbers are settled

cons_mac=$(cat "/sys/class/net/$PLK_IF_CONS_A/address")
prov_mac=$(cat "/sys/class/net/$PLK_IF_PROV/address")
client_seq=$("${HOSTILE[@]}" next-seq "$CONS_PCAP" "$client_ip" "$client_port" 80)
backend_seq=$("${HOSTILE[@]}" next-seq "$PROV_PCAP" "$backend_ip" "$backend_port" "$nat_port")
plk_log "client next $client_seq, backend next $backend_seq"

plk_in_a "${HOSTILE[@]}" consumer "$PLK_IF_CONS_A_NS" "$cons_mac" "$PLK_PE_IP" "$MARK"
plk_in_a "${HOSTILE[@]}" rst "$PLK_IF_CONS_A_NS" "$cons_mac" "$client_ip" "$PLK_PE_IP" \
  "$client_port" 80 "$client_seq" "$MARK"
plk_in_prov "${HOSTILE[@]}" rst "$PLK_IF_PROV_NS" "$prov_mac" "$backend_ip" "$nat_ip" \
  "$backend_port" "$nat_port" "$backend_seq" "$MARK"
sleep 1

touch "$PLK_WORK/go"
plk_wait_for 10 plk_exited "$HELD" || true
answer=$(tail -n 1 "$PLK_WORK/logs/held.log")
if [[ $answer == "held: 20480 "* ]]; then
  plk_pass held_connection_survived "$answer"
else
  plk_fail held_connection_survived "$(cat "$PLK_WORK/logs/held.log")"
fi

sleep 0.5
plk_stop INT "$CONS_CAPTURE" "$PROV_CAPTURE"
# 5 SYNs and 3 RSTs left the client's side, 3 RSTs the provider's; only the intact SYN may arrive.
if result=$("${HOSTILE[@]}" expect "$CONS_PCAP" "$cons_mac" "$PROV_PCAP" "$prov_mac" "$MARK" 8 1)
then
  plk_pass consumer_packets_not_forwarded "$result"
else
  plk_fail consumer_packets_not_forwarded "$result"
fi
if result=$("${HOSTILE[@]}" expect "$PROV_PCAP" "$prov_mac" "$CONS_PCAP" "$cons_mac" "$MARK" 3 0)
then
  plk_pass provider_packets_not_forwarded "$result"
else
  plk_fail provider_packets_not_forwarded "$result"
fi

hostile_flows=$(plk_ctl -o json flows | python3 -c '
import json, sys
print(sum(f["client"].split(":")[1] in ("41001", "41002", "41003", "41004")
          for f in json.load(sys.stdin)["value"]))')
if [ "$hostile_flows" = 0 ]; then
  plk_pass corrupt_syns_made_no_flow
else
  plk_fail corrupt_syns_made_no_flow "$hostile_flows flows from the corrupt SYNs' ports"
fi

# ipv4_bad_checksum: the SYN with a wrong IPv4 checksum, the one with both wrong, and one RST from
# each side; tcp_bad_checksum: the SYN with a wrong TCP checksum, the zero one, one RST from each
# side; tcp_rst_out_of_window: the RST behind, from each side.
drops=$(plk_stats_value "' '.join(str(d['drops'].get(r, 0)) for r in
  ('ipv4_bad_checksum', 'tcp_bad_checksum', 'tcp_rst_out_of_window'))")
if [ "$drops" = "4 4 2" ]; then
  plk_pass drops_counted "ipv4_bad_checksum tcp_bad_checksum tcp_rst_out_of_window: $drops"
else
  plk_fail drops_counted "ipv4_bad_checksum tcp_bad_checksum tcp_rst_out_of_window: $drops," \
    "want 4 4 2"
fi

out=$(plk_pe_get "$PLK_NS_CONS_A" 2>&1)
if plk_is_backend_page "$out"; then
  plk_pass new_client_after
else
  plk_fail new_client_after "'$out'"
fi

plk_check_clean_exit
plk_report
