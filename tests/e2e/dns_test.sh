#!/usr/bin/env bash
# Private DNS records end to end: service web has two FQDNs; both overlapping consumer networks
# have an Approved endpoint at the same address. Network A's zone files (privlinkctl dns) load in
# Debian's BIND (named-checkzone, then named in consumer namespace A); network B's hosts file in
# dnsmasq (namespace B). Each namespace's resolv.conf names its own resolver: the FQDNs resolve to
# the PE there (dig), and curl by name reaches the service's backends. An endpoint still Pending
# has no record; approved, it appears.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/dns_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require
plk_work_dir /dev/shm/plk-dns.XXXXXX named
# zones_check, named_serves_a, dig_a_web, dig_a_api, curl_by_name_a, dnsmasq_serves_b, dig_b_web,
# curl_by_name_b, pending_has_no_record, approved_has_record, privlinkd_sigterm_exit_0.
PLK_EXPECTED_CHECKS=11
FQDNS=(web.fabrikam.internal api.fabrikam.internal)

for tool in named named-checkzone dig dnsmasq; do
  command -v "$tool" >/dev/null || { echo "missing $tool (tools/install-deps test)" >&2; exit 1; }
done

plk_log "building the topology"
plk_topo_up
plk_write_config --no-state --consumer-b --backends 1 --nat-ips 1 \
  --fqdn "${FQDNS[0]}" --fqdn "${FQDNS[1]}" --endpoint pe-b sub-a net-b "$PLK_PE_IP"
plk_start_privlinkd || exit 1

# Network A: one BIND zone file per domain, and a named.conf serving them on 127.0.0.1:53.
plk_ctl -o json dns --network net-a >"$PLK_WORK/dns-a.json"
python3 - "$PLK_WORK/dns-a.json" "$PLK_WORK/named" <<'PY' || exit 1
import json, sys
records, d = json.load(open(sys.argv[1])), sys.argv[2]
zones = []
for z in records["zones"]:
    open(f"{d}/{z['domain']}.zone", "w").write(z["zoneFile"])
    zones.append(f'zone "{z["domain"]}" {{ type primary; file "{d}/{z["domain"]}.zone"; }};')
open(f"{d}/named.conf", "w").write(f"""options {{
  directory "{d}"; pid-file "{d}/named.pid"; session-keyfile none;
  listen-on port 53 {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
  recursion no; dnssec-validation no;
}};
""" + "\n".join(zones) + "\n")
print(" ".join(z["domain"] for z in records["zones"]))
PY
checked=0
for zone in "$PLK_WORK"/named/*.zone; do
  domain=$(basename "$zone" .zone)
  if named-checkzone -q "$domain" "$zone"; then checked=$((checked + 1)); else
    named-checkzone "$domain" "$zone" >&2
  fi
done
if [ "$checked" -eq 1 ]; then
  plk_pass zones_check "named-checkzone accepts fabrikam.internal"
else
  plk_fail zones_check "$checked zone files accepted: $(cat "$PLK_WORK/dns-a.json")"
fi
plk_spawn "$PLK_NS_CONS_A" "$PLK_WORK/logs/named.log" named -g -c "$PLK_WORK/named/named.conf"
if plk_wait_for 10 plk_port_open "$PLK_NS_CONS_A" 127.0.0.1 53; then
  plk_pass named_serves_a
else
  plk_fail named_serves_a "$(cat "$PLK_WORK/logs/named.log")"
fi

# Network B: the hosts file in dnsmasq.
plk_ctl dns --network net-b --format hosts >"$PLK_WORK/hosts-b"
plk_spawn "$PLK_NS_CONS_B" "$PLK_WORK/logs/dnsmasq.log" dnsmasq --no-daemon --conf-file=/dev/null \
  --no-resolv --no-hosts --addn-hosts="$PLK_WORK/hosts-b" --listen-address=127.0.0.1 \
  --bind-interfaces --user=root --pid-file="$PLK_WORK/dnsmasq.pid"
if plk_wait_for 10 plk_port_open "$PLK_NS_CONS_B" 127.0.0.1 53; then
  plk_pass dnsmasq_serves_b "$(grep -c fabrikam "$PLK_WORK/hosts-b") names"
else
  plk_fail dnsmasq_serves_b "$(cat "$PLK_WORK/logs/dnsmasq.log")"
fi
for ns in "$PLK_NS_CONS_A" "$PLK_NS_CONS_B"; do
  mkdir -p "/etc/netns/$ns"
  echo "nameserver 127.0.0.1" >"/etc/netns/$ns/resolv.conf"
done

# dig_check CHECK NETNS_RUNNER FQDN
dig_check() {
  local got
  got=$("$2" dig +short +time=2 +tries=2 "$3" A 2>&1)
  if [ "$got" = "$PLK_PE_IP" ]; then plk_pass "$1" "$3 -> $got"; else plk_fail "$1" "$3 -> '$got'"; fi
}
# curl_check CHECK NETNS: the service's page by name, through the system resolver.
curl_check() {
  local page
  page=$(plk_in "$2" curl -sS --max-time 5 "http://${FQDNS[0]}/" 2>&1)
  if plk_is_backend_page "$page"; then plk_pass "$1"; else plk_fail "$1" "got '$page'"; fi
}
dig_check dig_a_web plk_in_a "${FQDNS[0]}"
dig_check dig_a_api plk_in_a "${FQDNS[1]}"
curl_check curl_by_name_a "$PLK_NS_CONS_A"
dig_check dig_b_web plk_in_b "${FQDNS[0]}"
curl_check curl_by_name_b "$PLK_NS_CONS_B"

# A new endpoint whose subscription is not auto-approved: no record until it is approved.
plk_ctl endpoint create pe-pending --subscription sub-x --network net-a --ip 10.0.0.101 \
  --service web >/dev/null
records_of_pending() {
  plk_ctl -o json dns --network net-a |
    python3 -c 'import json,sys; print(sum(r["endpoint"] == "pe-pending" for r in json.load(sys.stdin)["records"]))'
}
pending=$(records_of_pending)
if [ "$pending" = 0 ]; then plk_pass pending_has_no_record; else
  plk_fail pending_has_no_record "$pending records"
fi
plk_ctl connection approve pe-pending --service web >/dev/null
approved=$(records_of_pending)
if [ "$approved" = 2 ]; then plk_pass approved_has_record "its two FQDNs"; else
  plk_fail approved_has_record "$approved records"
fi

plk_check_clean_exit privlinkd_sigterm_exit_0
plk_report
