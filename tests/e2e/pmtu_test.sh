#!/usr/bin/env bash
# Path MTU end to end: the smaller MTU lies between two routers, never on a peer's own link, so
# only ICMP "fragmentation needed" passed through privlinkd (or MSS clamping) lets the transfer
# through. The standard topology's namespaces become routers next to privlinkd:
#
#   client 10.1.0.2 (plk-cli) -- router C (plk-rc) ==MTU== router D (plk-cons-a) -- privlinkd
#   privlinkd -- router A (plk-prov, 192.168.10.254) ==MTU== router B (plk-rb) -- backend
#   192.168.20.11:8080 (plk-back)
#
# Phase 1, a 1280-byte link between A and B: a 100 MB upload (the client's 1500-byte segments
# meet router A, whose error goes to the NAT IP and through privlinkd to the client) and a 100 MB
# download arrive intact (sha256) and the to_client ICMP counter moved. Phase 2, the small link
# between C and D instead: the download's segments meet router D, whose error goes to the PE and
# through privlinkd to the backend; the to_backend counter moved. Phase 3, both links small, every
# router dropping the ICMP errors it would send (a PMTU black hole) and both privlinkd ports with
# mssClamp 1240: the transfers still complete.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/pmtu_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require nft sha256sum
plk_work_dir /dev/shm/plk-pmtu.XXXXXX
# Phases 1 and 2: upload, download, the ICMP counter; phase 3: upload, download; privlinkd's
# clean exit after phase 2 and after phase 3.
PLK_EXPECTED_CHECKS=10
SMALL_MTU=1280
MB=100
NS_RB=plk-rb NS_BACK=plk-back NS_RC=plk-rc NS_CLI=plk-cli
PLK_EXTRA_NETNS=("$NS_RB" "$NS_BACK" "$NS_RC" "$NS_CLI")
CLIENT=10.1.0.2 BACKEND=192.168.20.11 ROUTER_A=192.168.10.254

# A link between two namespaces, offloads off on both ends.
link() {
  local ns1=$1 if1=$2 addr1=$3 ns2=$4 if2=$5 addr2=$6
  ip link add "$if1" netns "$ns1" type veth peer name "$if2" netns "$ns2"
  local ns ifc addr
  for pair in "$ns1 $if1 $addr1" "$ns2 $if2 $addr2"; do
    read -r ns ifc addr <<<"$pair"
    plk_offloads_off "$ns" "$ifc"
    ip -n "$ns" addr add "$addr" dev "$ifc"
    ip -n "$ns" link set "$ifc" up
  done
}
router() { ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1; }
# The MTU of the A-B and C-D links.
set_mtus() {
  ip -n "$PLK_NS_PROV" link set plk-ab mtu "$1"
  ip -n "$NS_RB" link set plk-ba mtu "$1"
  ip -n "$PLK_NS_CONS_A" link set plk-dc mtu "$2"
  ip -n "$NS_RC" link set plk-cd mtu "$2"
  # Forget what path MTU discovery learned in the phase before: the learned MTUs hang on the
  # default route's next hop, and go with it.
  ip -n "$NS_CLI" route replace default via 10.1.0.1 mtu lock 1500
  ip -n "$NS_CLI" route replace default via 10.1.0.1
  ip -n "$NS_BACK" route replace default via 192.168.20.1 mtu lock 1500
  ip -n "$NS_BACK" route replace default via 192.168.20.1
}

plk_log "building the topology"
plk_topo_create || { echo "FAIL topology: could not build it" >&2; exit 1; }
for ns in "${PLK_EXTRA_NETNS[@]}"; do plk_make_netns "$ns"; done
# Consumer side: router D is the old client namespace, facing privlinkd with 10.0.0.1.
ip -n "$PLK_NS_CONS_A" addr flush dev "$PLK_IF_CONS_A_NS"
ip -n "$PLK_NS_CONS_A" addr add 10.0.0.1/24 dev "$PLK_IF_CONS_A_NS"
link "$PLK_NS_CONS_A" plk-dc 10.98.0.1/30 "$NS_RC" plk-cd 10.98.0.2/30
link "$NS_RC" plk-cc 10.1.0.1/24 "$NS_CLI" plk-cli0 "$CLIENT/24"
router "$PLK_NS_CONS_A"
router "$NS_RC"
ip -n "$PLK_NS_CONS_A" route add 10.1.0.0/24 via 10.98.0.2
ip -n "$NS_RC" route add default via 10.98.0.1
ip -n "$NS_CLI" route add default via 10.1.0.1
# Provider side: router A is the old backend namespace, facing privlinkd with 192.168.10.254.
ip -n "$PLK_NS_PROV" addr flush dev "$PLK_IF_PROV_NS"
ip -n "$PLK_NS_PROV" addr add "$ROUTER_A/24" dev "$PLK_IF_PROV_NS"
link "$PLK_NS_PROV" plk-ab 10.99.0.1/30 "$NS_RB" plk-ba 10.99.0.2/30
link "$NS_RB" plk-bb 192.168.20.1/24 "$NS_BACK" plk-back0 "$BACKEND/24"
router "$PLK_NS_PROV"
router "$NS_RB"
ip -n "$PLK_NS_PROV" route add 192.168.20.0/24 via 10.99.0.2
ip -n "$NS_RB" route add default via 10.99.0.1
ip -n "$NS_BACK" route add default via 192.168.20.1

plk_random_file "$PLK_WORK/www/big" $((MB * 1024 * 1024))
want=$(sha256sum <"$PLK_WORK/www/big" | cut -d' ' -f1)
plk_spawn "$NS_BACK" "$PLK_WORK/logs/backend.stderr" python3 "$PLK_E2E_DIR/backend.py" \
  --bind "$BACKEND" --port "$PLK_BACKEND_PORT" --root "$PLK_WORK/www" \
  --log "$PLK_WORK/logs/access.log"
plk_wait_for 10 plk_port_open "$NS_BACK" "$BACKEND" "$PLK_BACKEND_PORT" ||
  { echo "FAIL backend did not start" >&2; exit 1; }

# $1: mssClamp of both ports (0: none).
write_config() {
  python3 - "$1" "$PLK_CONFIG" "$PLK_API" "$PLK_IF_CONS_A" "$PLK_IF_PROV" "$ROUTER_A" "$BACKEND" \
    "$PLK_BACKEND_PORT" "$PLK_PE_IP" "${PLK_NAT_IPS[0]}" <<'PY'
import json, sys
clamp, out, api, if_a, if_prov, gateway, backend, port, pe, nat = sys.argv[1:]
ports = [{"name": "consumer0", "role": "consumer", "device": f"net_af_packet0,iface={if_a}"},
         {"name": "provider0", "role": "provider", "device": f"net_af_packet1,iface={if_prov}",
          "subnet": "192.168.10.1/24", "gateway": gateway}]
if int(clamp):
    for p in ports:
        p["mssClamp"] = int(clamp)
json.dump({"dataplane": {"region": "e2e", "workers": 1, "api": {"listen": api}, "ports": ports},
           "networks": [{"name": "net-a", "port": "consumer0", "vlan": 0}],
           "privateLinkServices": [{"name": "web", "subscription": "sub-provider",
               "loadBalancingRules": [{"frontendPort": 80, "backendPort": int(port)}],
               "backends": [{"ip": backend}], "natIps": [nat], "visibility": ["*"],
               "autoApproval": ["sub-a"]}],
           "privateEndpoints": [{"name": "pe-a", "subscription": "sub-a", "network": "net-a",
                                 "ip": pe, "privateLinkService": "web"}]}, open(out, "w"))
PY
}

icmp_count() { plk_stats_value "d['icmpErrorsTranslated']['$1']"; }

upload() {
  local out
  out=$(plk_in "$NS_CLI" curl -sS --fail --max-time 120 -H 'Expect:' \
    -H 'Content-Type: application/octet-stream' --data-binary "@$PLK_WORK/www/big" \
    "$(plk_pe_url /upload)" 2>&1)
  if [ "$out" = "$((MB * 1024 * 1024)) $want" ]; then
    plk_pass "upload_$1" "$MB MB, sha256 intact"
  else
    plk_fail "upload_$1" "'$out'"
  fi
}
download() {
  local got
  got=$(plk_in "$NS_CLI" curl -sS --fail --max-time 120 "$(plk_pe_url /files/big)" | sha256sum |
    cut -d' ' -f1)
  if [ "$got" = "$want" ]; then
    plk_pass "download_$1" "$MB MB, sha256 intact"
  else
    plk_fail "download_$1" "sha256 $got"
  fi
}
# $1: phase, $2: the counter of translated ICMP errors that must have moved since $3.
counter_moved() {
  local after
  after=$(icmp_count "$2")
  if [ "$after" -gt "$3" ]; then
    plk_pass "icmp_${2}_$1" "$((after - $3)) ICMP errors translated"
  else
    plk_fail "icmp_${2}_$1" "icmpErrorsTranslated.$2 stayed $after"
  fi
}


write_config 0
plk_start_privlinkd || exit 1

# The transfer whose segments meet the small link goes first in each phase: once a peer has
# learned the path MTU it announces a smaller MSS on its next connections, and the other
# direction's segments fit from the start.
plk_log "phase 1: $SMALL_MTU between routers A and B (provider side)"
set_mtus "$SMALL_MTU" 1500
before=$(icmp_count toClient)
upload provider
counter_moved provider toClient "$before"
download provider

plk_log "phase 2: $SMALL_MTU between routers C and D (consumer side)"
set_mtus 1500 "$SMALL_MTU"
before=$(icmp_count toBackend)
download consumer
counter_moved consumer toBackend "$before"
upload consumer
plk_check_clean_exit privlinkd_sigterm_exit_0_icmp

plk_log "phase 3: both small, ICMP errors dropped by every router, mssClamp 1240"
for ns in "$PLK_NS_CONS_A" "$NS_RC" "$PLK_NS_PROV" "$NS_RB"; do
  ip netns exec "$ns" nft add table inet plk_pmtu
  ip netns exec "$ns" nft add chain inet plk_pmtu out '{ type filter hook output priority 0; }'
  ip netns exec "$ns" nft add rule inet plk_pmtu out icmp type destination-unreachable drop
done
set_mtus "$SMALL_MTU" "$SMALL_MTU"
write_config 1240
plk_start_privlinkd || exit 1
upload clamp
download clamp
plk_check_clean_exit privlinkd_sigterm_exit_0_clamp
plk_report
