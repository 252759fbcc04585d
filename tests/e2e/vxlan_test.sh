#!/usr/bin/env bash
# VXLAN consumer network end to end: network net-v is VNI 100 on consumer0 (privlinkd's local IP
# 172.16.0.1), beside untagged net-a on the same link and net-b on VLAN 20, all three with the
# client at 10.0.0.2 and an Approved endpoint at 10.0.0.100. The Linux kernel is the VTEP: a
# `vxlan` device created in namespace A (its UDP socket on A's link, from 172.16.0.2) and moved
# into a namespace of its own, where it holds the third 10.0.0.2. Its ARP for the PE is answered
# inside the tunnel; TCP through it reaches the backends (a 1 GiB download intact), the same time
# as the untagged and VLAN clients; the flow listing shows each network's flow; the backends see
# NAT IPs only.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/vxlan_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require sha256sum
plk_work_dir /dev/shm/plk-vxlan.XXXXXX
# tunnel_device, page_through_tunnel, three_networks_at_once, flows_in_each_network,
# gib_through_tunnel_intact, backends_see_only_nat_ips, tunnel_drops_none,
# privlinkd_sigterm_exit_0.
PLK_EXPECTED_CHECKS=8
NS_V=plk-cv
PLK_EXTRA_NETNS=("$NS_V")
VNI=100
LOCAL_IP=172.16.0.1
VTEP_IP=172.16.0.2
GIB=$((1 << 30))

plk_log "building the topology"
plk_topo_up
plk_write_config --no-state --consumer-b --backends 2 \
  --vxlan-network net-v "$VNI" "$LOCAL_IP" \
  --endpoint pe-b sub-a net-b "$PLK_PE_IP" --endpoint pe-v sub-a net-v "$PLK_PE_IP"
plk_start_privlinkd || exit 1

# The VTEP: the underlay address on A's link, the vxlan device (its socket stays in A) moved into
# a namespace of its own with the overlay's 10.0.0.2.
plk_make_netns "$NS_V"
ok=1
ip -n "$PLK_NS_CONS_A" addr add "$VTEP_IP/24" dev "$PLK_IF_CONS_A_NS" || ok=
ip -n "$PLK_NS_CONS_A" link add vx100 type vxlan id "$VNI" local "$VTEP_IP" remote "$LOCAL_IP" \
  dstport 4789 dev "$PLK_IF_CONS_A_NS" || ok=
ip -n "$PLK_NS_CONS_A" link set vx100 netns "$NS_V" || ok=
ip netns exec "$NS_V" sysctl -qw net.ipv6.conf.vx100.disable_ipv6=1 || true
plk_offloads_off "$NS_V" vx100 || true
ip -n "$NS_V" addr add "$PLK_CLIENT_IP/24" dev vx100 || ok=
ip -n "$NS_V" link set vx100 up || ok=
if [ -n "$ok" ]; then
  plk_pass tunnel_device "vx100 (VNI $VNI, $VTEP_IP -> $LOCAL_IP) in $NS_V"
else
  plk_fail tunnel_device "the kernel could not make the vxlan device"
fi

page=$(ip netns exec "$NS_V" curl -sS --max-time 10 "$(plk_pe_url /)" 2>&1)
if plk_is_backend_page "$page"; then plk_pass page_through_tunnel; else
  plk_fail page_through_tunnel "got '$page'"
fi

# The same client address in three networks at once: untagged, VLAN 20 and the tunnel.
plk_random_file "$PLK_WORK/www/mid.bin" $((8 << 20))
want=$(sha256sum "$PLK_WORK/www/mid.bin" | cut -d' ' -f1)
pids=()
for ns in "$PLK_NS_CONS_A" "$PLK_NS_CONS_B" "$NS_V"; do
  ip netns exec "$ns" sh -c "curl -sS --fail --max-time 60 '$(plk_pe_url /files/mid.bin)' |
    sha256sum | cut -d' ' -f1 > '$PLK_WORK/mid-$ns'" &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed=$((failed + 1)); done
intact=0
for ns in "$PLK_NS_CONS_A" "$PLK_NS_CONS_B" "$NS_V"; do
  [ "$(cat "$PLK_WORK/mid-$ns" 2>/dev/null)" = "$want" ] && intact=$((intact + 1))
done
if [ "$failed" -eq 0 ] && [ "$intact" -eq 3 ]; then
  plk_pass three_networks_at_once "8 MiB intact in net-a, net-b and net-v"
else
  plk_fail three_networks_at_once "$failed failed, $intact of 3 intact"
fi
networks=$(plk_ctl -o json flows 2>&1 | python3 -c '
import json, sys
print(" ".join(sorted({f["network"] for f in json.load(sys.stdin)["value"]})))' 2>&1)
if [ "$networks" = "net-a net-b net-v" ]; then
  plk_pass flows_in_each_network "$networks"
else
  plk_fail flows_in_each_network "got '$networks'"
fi

plk_log "1 GiB through the tunnel"
plk_random_file "$PLK_WORK/www/gib.bin" "$GIB"
want=$(sha256sum "$PLK_WORK/www/gib.bin" | cut -d' ' -f1)
started=$(plk_now)
got=$(ip netns exec "$NS_V" sh -c \
  "curl -sS --fail --max-time 240 '$(plk_pe_url /files/gib.bin)' | sha256sum | cut -d' ' -f1" 2>&1)
rm -f "$PLK_WORK/www/gib.bin"
if [ "$got" = "$want" ]; then
  plk_pass gib_through_tunnel_intact "sha256 ${got:0:16}... in $(plk_elapsed_since "$started") s"
else
  plk_fail gib_through_tunnel_intact "got '$got', want $want"
fi

sources=$(cat "$PLK_WORK"/logs/access-*.log | awk '{print $1}' | sort -u | tr '\n' ' ')
foreign=0
for src in $sources; do
  [[ " ${PLK_NAT_IPS[*]} " == *" $src "* ]] || foreign=$((foreign + 1))
done
if [ -n "$sources" ] && [ "$foreign" -eq 0 ]; then
  plk_pass backends_see_only_nat_ips "sources: $sources"
else
  plk_fail backends_see_only_nat_ips "sources: '$sources'"
fi
drops=$(plk_stats_value "' '.join(f'{k}={v}' for k, v in d['drops'].items() if k.startswith('vxlan') and v)")
if [ -z "$drops" ]; then plk_pass tunnel_drops_none; else plk_fail tunnel_drops_none "$drops"; fi

plk_check_clean_exit privlinkd_sigterm_exit_0
plk_report
