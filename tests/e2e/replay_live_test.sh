#!/usr/bin/env bash
# Live versus offline: real Linux TCP traffic through a fresh privlinkd (the end-to-end topology of
# topology.sh, consumer A and the provider), captured with tcpdump for the daemon's whole life, is
# replayed through privlink-replay; what the offline dataplane sends must be what the live daemon
# sent (IPv4 frames byte for byte, in order, per side), with the same drops by reason and the same
# translations (tests/e2e/compare_pcaps.py). The NAT port allocator's state depends on every flow
# since start, hence the fresh daemon and the captures started before it. Each veth is captured at
# both ends: the namespace end shows what privlinkd sent, the root end what it received, in the
# order it received it (see compare_pcaps.py split). Prints PASS or FAIL per check; exit 1 if any failed, 77 (skip) where
# namespaces cannot be made.
#
# usage: tests/e2e/replay_live_test.sh PRIVLINKD PRIVLINKCTL PRIVLINK_REPLAY   (as root)
set -uo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 PRIVLINKD PRIVLINKCTL PRIVLINK_REPLAY" >&2
  exit 2
fi
PRIVLINKD=$(realpath "$1")
PRIVLINKCTL=$(realpath "$2")
PRIVLINK_REPLAY=$(realpath "$3")
# shellcheck source=tests/e2e/topology.sh
source "$(dirname "${BASH_SOURCE[0]}")/topology.sh"
plk_topo_require tcpdump

WORK=$(mktemp -d /dev/shm/plk-replay-live.XXXXXX)
API="unix:$WORK/api.sock"
mkdir -p "$WORK/www" "$WORK/logs" "$WORK/state" "$WORK/pcap"
CAPTURE_PIDS=()
stop_captures() {
  local pid
  for pid in "${CAPTURE_PIDS[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  CAPTURE_PIDS=()
}
# shellcheck disable=SC2317  # run by the EXIT trap
on_exit() {
  local status=$?
  stop_captures
  plk_topo_cleanup
  rm -rf "$WORK"
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

FAILED=()
PASSED=0
# live_traffic, privlinkd_sigterm_exit_0, replay_ran, and compare_pcaps.py's capture_consumer,
# capture_provider, tcp_consumer, tcp_provider, drops_by_reason, translations.
EXPECTED_CHECKS=9
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
in_prov() { ip netns exec "$PLK_NS_PROV" "$@"; }
now() { date +%s.%N; }
elapsed_since() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.2f}")' "$1"; }

# A PE nobody approved, in consumer A's network: its SYNs are answered with a RST.
PENDING_PE_IP=10.0.0.101
# A port no load-balancing rule covers: its SYNs are dropped (no_endpoint).
UNRULED_PORT=81

# Each port's "mac" is its veth end's own: the live daemon keeps it, and privlink-replay answers
# to it too (the captured frames are addressed to it).
write_config() {
  local mac_c mac_p
  mac_c=$(cat "/sys/class/net/$PLK_IF_CONS_A/address")
  mac_p=$(cat "/sys/class/net/$PLK_IF_PROV/address")
  cat >"$WORK/privlink.json" <<EOF
{
  "dataplane": {
    "region": "e2e",
    "workers": 1,
    "flowTableSize": 65536,
    "api": {"listen": "$API"},
    "stateDir": "$WORK/state",
    "ports": [
      {"name": "consumer0", "role": "consumer", "device": "net_af_packet0,iface=$PLK_IF_CONS_A",
       "mac": "$mac_c"},
      {"name": "provider0", "role": "provider", "device": "net_af_packet1,iface=$PLK_IF_PROV",
       "mac": "$mac_p", "subnet": "$PLK_PROVIDER_PORT_IP/24"}
    ]
  },
  "networks": [{"name": "net-a", "port": "consumer0", "vlan": 0}],
  "privateLinkServices": [{
    "name": "web", "subscription": "sub-provider",
    "loadBalancingRules": [{"frontendPort": 80, "backendPort": $PLK_BACKEND_PORT}],
    "backends": [{"ip": "${PLK_BACKENDS[0]}"}, {"ip": "${PLK_BACKENDS[1]}"},
                 {"ip": "${PLK_BACKENDS[2]}"}],
    "natIps": ["${PLK_NAT_IPS[0]}", "${PLK_NAT_IPS[1]}"],
    "visibility": ["*"], "autoApproval": ["sub-a"]
  }],
  "privateEndpoints": [
    {"name": "pe-a", "subscription": "sub-a", "network": "net-a", "ip": "$PLK_PE_IP",
     "privateLinkService": "web"},
    {"name": "pe-pending", "subscription": "sub-x", "network": "net-a", "ip": "$PENDING_PE_IP",
     "privateLinkService": "web"}
  ]
}
EOF
  echo "$mac_c" >"$WORK/mac-consumer"
  echo "$mac_p" >"$WORK/mac-provider"
}

# tally LINES: counts compare_pcaps.py's PASS and FAIL lines as this script's verdicts.
tally() {
  local verdict name _
  while read -r verdict name _; do
    case $verdict in
      PASS) PASSED=$((PASSED + 1)) ;;
      FAIL) FAILED+=("${name%:}") ;;
    esac
  done <<<"$1"
}

# start_capture NS DEV NAME: tcpdump on DEV in NS (the root namespace for ""). -U writes each
# frame at once; returns when tcpdump listens.
start_capture() {
  local ns=$1 dev=$2 name=$3
  local -a exec_in=()
  [ -n "$ns" ] && exec_in=(ip netns exec "$ns")
  "${exec_in[@]}" tcpdump -i "$dev" -n -s 0 -U -Z root -w "$WORK/pcap/$name.pcap" \
    2>"$WORK/logs/tcpdump-$name.log" {PLK_LOCK_FD}>&- &
  CAPTURE_PIDS+=($!)
  for _ in $(seq 50); do
    grep -q "listening on" "$WORK/logs/tcpdump-$name.log" && return 0
    sleep 0.1
  done
  echo "tcpdump on $dev in $ns did not start:" >&2
  cat "$WORK/logs/tcpdump-$name.log" >&2
  return 1
}

# The live run: a handful of HTTP requests and a 300 kB download from consumer A (several
# backends), a SYN to the pending PE (RST), SYNs to a port without a rule and from the provider
# to a NAT IP (both dropped).
run_traffic() {
  local name=live_traffic results="" ok=1 out rc i
  local page='^privlink e2e backend 192\.168\.10\.1[123]$'
  declare -A backends=()
  for i in 1 2 3 4 5 6; do
    out=$(in_a curl -sS --max-time 5 "http://$PLK_PE_IP/" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [[ "$out" =~ $page ]]; then
      backends[${out##* }]=1
    else
      ok=
      results+="request $i: exit $rc '$out'; "
    fi
  done
  head -c 300000 /dev/urandom >"$WORK/www/medium.bin"
  out=$(in_a curl -sS --fail --max-time 10 "http://$PLK_PE_IP/files/medium.bin" | cmp - "$WORK/www/medium.bin" 2>&1)
  rc=$?
  [ $rc -eq 0 ] || { ok=; results+="download: $out; "; }
  in_a curl -sS --max-time 3 "http://$PENDING_PE_IP/" >/dev/null 2>&1
  rc=$?
  [ $rc -eq 7 ] || { ok=; results+="pending PE: curl exit $rc (want 7, refused); "; }
  # Both must time out (28): nothing answers these SYNs. Run side by side to save a second.
  in_a curl -sS --connect-timeout 1 "http://$PLK_PE_IP:$UNRULED_PORT/" >/dev/null 2>&1 &
  local unruled=$!
  in_prov curl -sS --connect-timeout 1 "http://${PLK_NAT_IPS[0]}/" >/dev/null 2>&1
  rc=$?
  [ $rc -eq 28 ] || { ok=; results+="provider to NAT IP: curl exit $rc (want 28); "; }
  wait $unruled
  rc=$?
  [ $rc -eq 28 ] || { ok=; results+="unruled port: curl exit $rc (want 28); "; }
  if [ -n "$ok" ]; then
    pass $name "6 requests reached backends ${!backends[*]}, 300000-byte download intact, pending PE refused, port $UNRULED_PORT and provider->NAT IP timed out"
  else
    fail $name "${results}backends reached: ${!backends[*]}"
  fi
}

test_start=$(now)
plk_log "building the topology"
plk_topo_create || { echo "FAIL topology: could not build it" >&2; exit 1; }
plk_start_backends "$WORK/www" "$WORK/logs" || exit 1
write_config
start_capture "$PLK_NS_CONS_A" "$PLK_IF_CONS_A_NS" consumer-ns || exit 1
start_capture "" "$PLK_IF_CONS_A" consumer-root || exit 1
start_capture "$PLK_NS_PROV" "$PLK_IF_PROV_NS" provider-ns || exit 1
start_capture "" "$PLK_IF_PROV" provider-root || exit 1
plk_log "starting privlinkd ($PRIVLINKD)"
plk_start_privlinkd "$PRIVLINKD" "$WORK/privlink.json" "$WORK/privlinkd.log" || exit 1

plk_log "live traffic"
run_traffic
# Quiet before the counters are read: nothing must arrive between them and the daemon's exit.
sleep 0.3
ctl -o json stats >"$WORK/live-stats.json"
rc=0
plk_stop_privlinkd || rc=$?
if [ $rc -eq 0 ]; then pass privlinkd_sigterm_exit_0; else fail privlinkd_sigterm_exit_0 "exit status $rc"; fi
sleep 0.2
stop_captures

plk_log "offline replay"
P=$WORK/pcap
for side in consumer provider; do
  split_out=$(python3 "$PLK_E2E_DIR/compare_pcaps.py" split --name "$side" \
    --mac "$(cat "$WORK/mac-$side")" --ns-capture "$P/$side-ns.pcap" \
    --root-capture "$P/$side-root.pcap" --entering "$P/$side-in.pcap" \
    --sent "$P/$side-live-out.pcap")
  echo "$split_out"
  tally "$split_out"
done
start=$(now)
if "$PRIVLINK_REPLAY" --quiet --config "$WORK/privlink.json" --consumer-port consumer0 \
    --provider-port provider0 --consumer-in "$P/consumer-in.pcap" \
    --provider-in "$P/provider-in.pcap" --consumer-out "$P/consumer-offline-out.pcap" \
    --provider-out "$P/provider-offline-out.pcap" >"$WORK/replay-summary.txt" \
    2>"$WORK/replay.err"; then
  pass replay_ran "in $(elapsed_since "$start")s"
else
  fail replay_ran "privlink-replay failed: $(cat "$WORK/replay.err")"
fi
echo "--- privlink-replay summary"
cat "$WORK/replay-summary.txt"
echo "--- live versus offline"
compare_out=$(python3 "$PLK_E2E_DIR/compare_pcaps.py" compare \
  --side consumer "$P/consumer-live-out.pcap" "$P/consumer-offline-out.pcap" \
  --side provider "$P/provider-live-out.pcap" "$P/provider-offline-out.pcap" \
  --replay-summary "$WORK/replay-summary.txt" --live-stats "$WORK/live-stats.json" \
  --expect-drop endpoint_not_approved --expect-drop no_endpoint --expect-drop nat_ip_no_flow)
echo "$compare_out"
tally "$compare_out"

# PLK_KEEP_PCAPS=DIR keeps the captures, the replay's outputs, the config and the stats.
if [ -n "${PLK_KEEP_PCAPS:-}" ]; then
  mkdir -p "$PLK_KEEP_PCAPS" && cp "$P"/*.pcap "$WORK"/*.json "$WORK"/*.txt "$PLK_KEEP_PCAPS"/
  echo "captures and outputs kept in $PLK_KEEP_PCAPS"
fi
echo "--- $PASSED passed, ${#FAILED[@]} failed in $(elapsed_since "$test_start")s"
if [ $((PASSED + ${#FAILED[@]})) -ne $EXPECTED_CHECKS ]; then
  FAILED+=("verdicts: $((PASSED + ${#FAILED[@]})) of $EXPECTED_CHECKS checks reported")
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "failed: ${FAILED[*]}"
  echo "--- privlinkd log (last 20 lines)"
  tail -n 20 "$WORK/privlinkd.log"
  exit 1
fi
exit 0
