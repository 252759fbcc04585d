#!/usr/bin/env bash
# The Private Link Center page (GET / of the API) in Debian's headless Chromium, driven by
# tests/web/console_test.mjs, against privlinkd forwarding real TCP: the page lists what the API
# holds; a refused approval shows the API's message and changes nothing; approving a Pending
# connection on the page makes it Approved in /v1/state and lets the consumer's traffic through,
# rejecting one makes it Rejected;
# the live charts, NAT port usage and drop counters follow /v1/stats; no error in the browser's
# console. Then a second privlinkd (control plane only) that needs a bearer token: the page asks
# for it and sends it. Screenshots: console.png and console-token.png in SCREENSHOT_DIR.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/console_test.sh PRIVLINKD PRIVLINKCTL SCREENSHOT_DIR   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL SCREENSHOT_DIR -- "$@"
WEB_DIR=$(cd "$PLK_E2E_DIR/../web" && pwd)
plk_topo_require node
if [ ! -x /usr/bin/chromium ] || [ ! -d "$WEB_DIR/node_modules/puppeteer-core" ]; then
  echo "FAIL: Chromium or the pinned npm tools are missing (tools/install-deps web)" >&2
  exit 1
fi
plk_work_dir /dev/shm/plk-console.XXXXXX browser
# pending_blocks_traffic, the page's 14 (lists_services, lists_endpoints, lists_pending,
# refused_action_shows_api_error, refused_action_changes_nothing,
# approve_on_page_is_approved_in_state, endpoint_row_shows_approved,
# reject_on_page_is_rejected_in_state, endpoint_row_shows_rejected, live_bytes_chart,
# nat_port_usage_shown, flows_chart, drop_counters_shown, console_clean),
# approved_carries_traffic, the token page's 3 (token_asked, token_sent_with_each_call,
# console_clean), privlinkd_sigterm_exit_0.
PLK_EXPECTED_CHECKS=20
APPROVE=(pe-page 10.0.0.101)
REFUSE=(pe-refused 10.0.0.102)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# page_test SCENARIO ARGS...: the browser's checks, counted as this script's.
page_test() {
  local out
  out=$(HOME=$PLK_WORK/browser node "$WEB_DIR/console_test.mjs" --scenario "$@" 2>&1)
  echo "$out"
  plk_tally "$out"
}

plk_log "building the topology"
plk_topo_up
PLK_API=127.0.0.1:$(free_port)
plk_write_config --no-state
plk_start_privlinkd || exit 1
plk_ctl endpoint create "${APPROVE[0]}" --subscription sub-x --network net-a --ip "${APPROVE[1]}" \
  --service web >/dev/null
plk_ctl endpoint create "${REFUSE[0]}" --subscription sub-y --network net-a --ip "${REFUSE[1]}" \
  --service web >/dev/null
if plk_in_a curl -sS --max-time 3 "http://${APPROVE[1]}/" >/dev/null 2>&1; then
  plk_fail pending_blocks_traffic "a Pending endpoint answered"
else
  plk_pass pending_blocks_traffic
fi

# Traffic through pe-a while the page watches: its bytes-in chart must move.
plk_random_file "$PLK_WORK/www/blob" $((8 << 20))
plk_spawn "$PLK_NS_CONS_A" "$PLK_WORK/logs/traffic.log" bash -c \
  "while :; do curl -sS -o /dev/null --max-time 10 '$(plk_pe_url /files/blob)'; sleep 0.3; done"

page_test dataplane --url "http://$PLK_API" --approve "${APPROVE[0]}" --refuse "${REFUSE[0]}" \
  --busy pe-a --screenshot "$SCREENSHOT_DIR/console.png"
page=$(plk_in_a curl -sS --max-time 5 "http://${APPROVE[1]}/" 2>&1)
if plk_is_backend_page "$page"; then plk_pass approved_carries_traffic; else
  plk_fail approved_carries_traffic "got '$page'"
fi

# A control plane that needs a bearer token, on a port of its own.
(umask 077 && python3 -c 'import secrets; print(secrets.token_hex(16))' >"$PLK_WORK/token")
token_api=127.0.0.1:$(free_port)
plk_spawn "" "$PLK_WORK/logs/privlinkd-token.log" "$PLK_PRIVLINKD" --config "$PLK_CONFIG" \
  --no-dataplane --state-dir "$PLK_WORK/state" --listen "$token_api" \
  --api-token-file "$PLK_WORK/token"
plk_wait_for 10 plk_port_open "" "${token_api%:*}" "${token_api#*:}" ||
  cat "$PLK_WORK/logs/privlinkd-token.log" >&2
page_test token --url "http://$token_api" --token-file "$PLK_WORK/token" \
  --screenshot "$SCREENSHOT_DIR/console-token.png"

plk_check_clean_exit privlinkd_sigterm_exit_0
plk_report
