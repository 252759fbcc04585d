#!/usr/bin/env bash
# Draining a NAT IP and removing it, under load: 50 long downloads (rate-limited, about 5 s each)
# spread over the service's two NAT IPs; the first NAT IP is set draining. Its removal is refused
# (409 naming its flows) while they run; new connections meanwhile reach the backends from the
# other NAT IP only (the backends' own access logs); every download arrives intact (sha256); once
# they have ended (privlinkd's --test-idle-timeout-ms shortens the closing timeout to 8 s), the
# removal is accepted, the NAT IP leaves /v1/stats, and new connections still work. (Not much
# shorter: a rate-limited curl may stop reading for up to a download's length, and the sender's
# zero-window probes, backing off, then come 3.2 s apart; a 3 s idle timeout ended live
# downloads.)
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/nat_drain_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require sha256sum
plk_work_dir /dev/shm/plk-drain.XXXXXX downloads
# flows_on_both_nat_ips, drain_accepted, stats_show_draining, removal_refused_while_in_use,
# state_unchanged_after_refusal, new_flows_avoid_draining_ip, transfers_intact,
# removal_accepted_after, removed_ip_gone_from_stats, served_after_removal,
# privlinkd_sigterm_exit_0.
PLK_EXPECTED_CHECKS=11
TRANSFERS=50
FILE_BYTES=$((2 << 20))
RATE=400k  # 2 MiB at 400 kB/s: about 5 s a download, longer than the drain and the refusal take
DRAIN=${PLK_NAT_IPS[0]}
KEEP=${PLK_NAT_IPS[1]}

# nat_ip_value IP KEY: KEY of IP's entry in /v1/stats natPorts ("" when it has none).
nat_ip_value() {
  plk_stats_value "next((str(n['$2']) for n in d['natPorts'] if n['ip'] == '$1'), '')"
}
# Requests for / (not the downloads' file) the backends logged from IP.
requests_from() {
  cat "$PLK_WORK"/logs/access-*.log | awk -v ip="$1" '$1 == ip && $4 == "/"' | wc -l
}

plk_log "building the topology"
plk_topo_up
plk_write_config --no-state
plk_start_privlinkd --test-idle-timeout-ms 8000 || exit 1
plk_random_file "$PLK_WORK/www/long.bin" "$FILE_BYTES"
expected=$(sha256sum "$PLK_WORK/www/long.bin" | cut -d' ' -f1)

plk_log "starting $TRANSFERS downloads at $RATE each"
pids=()
for i in $(seq 1 "$TRANSFERS"); do
  plk_in_a curl -sS --fail --max-time 120 --limit-rate "$RATE" -o "$PLK_WORK/downloads/$i" \
    "$(plk_pe_url /files/long.bin)" 2>"$PLK_WORK/downloads/$i.err" &
  pids+=($!)
done
flows_started() { [ "$(plk_stats_value "d['flows']['total']")" -ge "$TRANSFERS" ]; }
plk_wait_for 20 flows_started || true
on_drain=$(nat_ip_value "$DRAIN" inUse)
on_keep=$(nat_ip_value "$KEEP" inUse)
if [ "${on_drain:-0}" -gt 0 ] && [ "${on_keep:-0}" -gt 0 ]; then
  plk_pass flows_on_both_nat_ips "$DRAIN: $on_drain, $KEEP: $on_keep"
else
  plk_fail flows_on_both_nat_ips "$DRAIN: '$on_drain', $KEEP: '$on_keep'"
fi

if out=$(plk_ctl service update web --draining-nat-ip "$DRAIN" 2>&1); then
  plk_pass drain_accepted
else
  plk_fail drain_accepted "$out"
fi
state=$(nat_ip_value "$DRAIN" state)
if [ "$state" = draining ]; then plk_pass stats_show_draining; else
  plk_fail stats_show_draining "state '$state'"
fi

before=$(plk_ctl -o json service show web)
refusal=$(plk_ctl service update web --nat-ip "$KEEP" --draining-nat-ip none 2>&1)
refused_rc=$?
if [ $refused_rc -ne 0 ] && [[ $refusal =~ still\ carries\ ([0-9]+)\ flow ]] &&
  [ "${BASH_REMATCH[1]}" -gt 0 ]; then
  plk_pass removal_refused_while_in_use "$refusal"
else
  plk_fail removal_refused_while_in_use "exit $refused_rc: $refusal"
fi
if [ "$(plk_ctl -o json service show web)" = "$before" ]; then
  plk_pass state_unchanged_after_refusal
else
  plk_fail state_unchanged_after_refusal "$(plk_ctl -o json service show web)"
fi

# New connections while the long ones run: none from the draining NAT IP.
from_drain=$(requests_from "$DRAIN")
from_keep=$(requests_from "$KEEP")
failed=0
for _ in $(seq 1 20); do plk_pe_get "$PLK_NS_CONS_A" >/dev/null || failed=$((failed + 1)); done
new_drain=$(($(requests_from "$DRAIN") - from_drain))
new_keep=$(($(requests_from "$KEEP") - from_keep))
if [ $failed -eq 0 ] && [ $new_drain -eq 0 ] && [ $new_keep -eq 20 ]; then
  plk_pass new_flows_avoid_draining_ip "20 requests, all from $KEEP"
else
  plk_fail new_flows_avoid_draining_ip "$failed failed; from $DRAIN: $new_drain, from $KEEP: $new_keep"
fi

plk_log "waiting for the downloads"
broken=0
for i in "${!pids[@]}"; do
  n=$((i + 1))
  if ! wait "${pids[$i]}" ||
    [ "$(sha256sum "$PLK_WORK/downloads/$n" | cut -d' ' -f1)" != "$expected" ]; then
    broken=$((broken + 1))
    echo "download $n: $(cat "$PLK_WORK/downloads/$n.err")" >&2
  fi
done
if [ $broken -eq 0 ]; then plk_pass transfers_intact "$TRANSFERS of $TRANSFERS, sha256 $expected"; else
  plk_fail transfers_intact "$broken of $TRANSFERS broken"
fi

# The closing flows end after 8 s; then the removal goes through.
remove() { plk_ctl service update web --nat-ip "$KEEP" --draining-nat-ip none >/dev/null 2>&1; }
started=$(plk_now)
if plk_wait_for 40 remove; then
  plk_pass removal_accepted_after "$(plk_elapsed_since "$started") s after the last download"
else
  plk_fail removal_accepted_after "$(plk_ctl service update web --nat-ip "$KEEP" \
    --draining-nat-ip none 2>&1)"
fi
ips=$(plk_stats_value "' '.join(n['ip'] for n in d['natPorts'])")
if [ "$ips" = "$KEEP" ]; then plk_pass removed_ip_gone_from_stats; else
  plk_fail removed_ip_gone_from_stats "natPorts: '$ips'"
fi
page=$(plk_pe_get "$PLK_NS_CONS_A" 2>&1)
if plk_is_backend_page "$page" && [ "$(nat_ip_value "$KEEP" inUse)" -ge 1 ]; then
  plk_pass served_after_removal
else
  plk_fail served_after_removal "got '$page'"
fi

plk_check_clean_exit privlinkd_sigterm_exit_0
plk_report
