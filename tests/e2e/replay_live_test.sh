#!/usr/bin/env bash
# Live versus offline: real Linux TCP traffic through a fresh privlinkd (the end-to-end topology of
# lib.sh, consumer A and the provider), captured with tcpdump for the daemon's whole life, is
# replayed through privlink-replay; what the offline dataplane sends must be what the live daemon
# sent (IPv4 frames byte for byte, in order, per side), with the same drops by reason and the same
# translations (tests/e2e/compare_pcaps.py). The NAT port allocator's state depends on every flow
# since start, hence the fresh daemon and the captures started before it. Each veth is captured at
# both ends: the namespace end shows what privlinkd sent, the root end what it received, in the
# order it received it (see compare_pcaps.py split). Prints PASS or FAIL per check; exit 1 if any
# failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/replay_live_test.sh PRIVLINKD PRIVLINKCTL PRIVLINK_REPLAY   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL PRIVLINK_REPLAY -- "$@"
plk_topo_require tcpdump
plk_work_dir /dev/shm/plk-replay-live.XXXXXX pcap

# live_traffic, privlinkd_sigterm_exit_0, replay_ran, and compare_pcaps.py's capture_consumer,
# capture_provider, tcp_consumer, tcp_provider, drops_by_reason, translations.
PLK_EXPECTED_CHECKS=9

# A PE nobody approved, in consumer A's network: its SYNs are answered with a RST.
PENDING_PE_IP=10.0.0.101
# A port no load-balancing rule covers: its SYNs are dropped (no_endpoint).
UNRULED_PORT=81
# privlinkd's (root) end of each side's veth.
declare -A PORT_IFACE=([consumer]=$PLK_IF_CONS_A [provider]=$PLK_IF_PROV)

CAPTURE_PIDS=()
# start_capture NS DEV NAME: tcpdump on DEV in NS into pcap/NAME.pcap (plk_start_capture).
start_capture() {
  plk_start_capture "$1" "$2" "$PLK_WORK/pcap/$3.pcap" || return 1
  CAPTURE_PIDS+=("$PLK_CAPTURE_PID")
}

# The live run: a handful of HTTP requests and a 300 kB download from consumer A (several
# backends), a SYN to the pending PE (RST), SYNs to a port without a rule and from the provider
# to a NAT IP (both dropped).
run_traffic() {
  local name=live_traffic results="" ok=1 out rc i
  declare -A backends=()
  for i in 1 2 3 4 5 6; do
    out=$(plk_pe_get "$PLK_NS_CONS_A" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && plk_is_backend_page "$out"; then
      backends[${out##* }]=1
    else
      ok=
      results+="request $i: exit $rc '$out'; "
    fi
  done
  plk_random_file "$PLK_WORK/www/medium.bin" 300000
  out=$(plk_pe_download "$PLK_NS_CONS_A" medium.bin 10 | cmp - "$PLK_WORK/www/medium.bin" 2>&1)
  rc=$?
  [ $rc -eq 0 ] || { ok=; results+="download: $out; "; }
  plk_in_a curl -sS --max-time 3 "http://$PENDING_PE_IP/" >/dev/null 2>&1
  rc=$?
  [ $rc -eq 7 ] || { ok=; results+="pending PE: curl exit $rc (want 7, refused); "; }
  # Both must time out (28): nothing answers these SYNs. Run side by side to save a second.
  plk_in_a curl -sS --connect-timeout 1 "http://$PLK_PE_IP:$UNRULED_PORT/" >/dev/null 2>&1 &
  local unruled=$!
  plk_provider_connect "${PLK_NAT_IPS[0]}:80" 1 >/dev/null 2>&1
  rc=$?
  [ $rc -eq 28 ] || { ok=; results+="provider to NAT IP: curl exit $rc (want 28); "; }
  wait $unruled
  rc=$?
  [ $rc -eq 28 ] || { ok=; results+="unruled port: curl exit $rc (want 28); "; }
  if [ -n "$ok" ]; then
    plk_pass $name "6 requests reached backends ${!backends[*]}, 300000-byte download intact, pending PE refused, port $UNRULED_PORT and provider->NAT IP timed out"
  else
    plk_fail $name "${results}backends reached: ${!backends[*]}"
  fi
}

plk_log "building the topology"
plk_topo_up
# Each port's "mac" is its veth end's own: the live daemon keeps it, and privlink-replay answers
# to it too (the captured frames are addressed to it).
plk_write_config --port-macs --endpoint pe-pending sub-x net-a "$PENDING_PE_IP"
start_capture "$PLK_NS_CONS_A" "$PLK_IF_CONS_A_NS" consumer-ns || exit 1
start_capture "" "$PLK_IF_CONS_A" consumer-root || exit 1
start_capture "$PLK_NS_PROV" "$PLK_IF_PROV_NS" provider-ns || exit 1
start_capture "" "$PLK_IF_PROV" provider-root || exit 1
plk_log "starting privlinkd ($PLK_PRIVLINKD)"
plk_start_privlinkd || exit 1

plk_log "live traffic"
run_traffic
# Quiet before the counters are read: nothing must arrive between them and the daemon's exit.
sleep 0.3
plk_ctl -o json stats >"$PLK_WORK/live-stats.json"
plk_check_clean_exit
sleep 0.2
plk_stop INT "${CAPTURE_PIDS[@]}"

plk_log "offline replay"
P=$PLK_WORK/pcap
for side in consumer provider; do
  split_out=$(python3 "$PLK_E2E_DIR/compare_pcaps.py" split --name "$side" \
    --mac "$(cat "/sys/class/net/${PORT_IFACE[$side]}/address")" --ns-capture "$P/$side-ns.pcap" \
    --root-capture "$P/$side-root.pcap" --entering "$P/$side-in.pcap" \
    --sent "$P/$side-live-out.pcap")
  echo "$split_out"
  plk_tally "$split_out"
done
start=$(plk_now)
if "$PRIVLINK_REPLAY" --quiet --config "$PLK_CONFIG" --consumer-port consumer0 \
    --provider-port provider0 --consumer-in "$P/consumer-in.pcap" \
    --provider-in "$P/provider-in.pcap" --consumer-out "$P/consumer-offline-out.pcap" \
    --provider-out "$P/provider-offline-out.pcap" >"$PLK_WORK/replay-summary.txt" \
    2>"$PLK_WORK/replay.err"; then
  plk_pass replay_ran "in $(plk_elapsed_since "$start")s"
else
  plk_fail replay_ran "privlink-replay failed: $(cat "$PLK_WORK/replay.err")"
fi
echo "--- privlink-replay summary"
cat "$PLK_WORK/replay-summary.txt"
echo "--- live versus offline"
compare_out=$(python3 "$PLK_E2E_DIR/compare_pcaps.py" compare \
  --side consumer "$P/consumer-live-out.pcap" "$P/consumer-offline-out.pcap" \
  --side provider "$P/provider-live-out.pcap" "$P/provider-offline-out.pcap" \
  --replay-summary "$PLK_WORK/replay-summary.txt" --live-stats "$PLK_WORK/live-stats.json" \
  --expect-drop endpoint_not_approved --expect-drop no_endpoint --expect-drop nat_ip_no_flow)
echo "$compare_out"
plk_tally "$compare_out"

# PLK_KEEP_PCAPS=DIR keeps the captures, the replay's outputs, the config and the stats.
if [ -n "${PLK_KEEP_PCAPS:-}" ]; then
  mkdir -p "$PLK_KEEP_PCAPS" && cp "$P"/*.pcap "$PLK_WORK"/*.json "$PLK_WORK"/*.txt "$PLK_KEEP_PCAPS"/
  echo "captures and outputs kept in $PLK_KEEP_PCAPS"
fi
plk_report
