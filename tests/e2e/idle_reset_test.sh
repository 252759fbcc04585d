#!/usr/bin/env bash
# TCP reset on idle end to end: a service with enableTcpReset, privlinkd with a test-only idle
# timeout of 2 s (--test-idle-timeout-ms; the model's minimum is 4 minutes). A real Linux client
# holds an idle connection to the PE (half an HTTP request, so the backend's server waits too):
# when the flow times out, both real stacks must take privlink's resets (RFC 5961: exact sequence
# numbers), the client's recv fails with a reset and the backend's socket is gone, neither left
# hanging; the flow is counted as idle-reset. Without the flag the same connection expires
# silently: the backend's socket stays established.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/idle_reset_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require
plk_work_dir /dev/shm/plk-idle-reset.XXXXXX
# reset: held_connection_open, client_saw_reset, backend_socket_gone, counted_idle_reset,
# privlinkd_sigterm_exit_0; silent: held_connection_open_silent, backend_socket_left,
# privlinkd_sigterm_exit_0_silent.
PLK_EXPECTED_CHECKS=8
IDLE_MS=2000
CLIENT=(/usr/bin/python3 "$PLK_E2E_DIR/idle_client.py" "$PLK_PE_IP" 80)

# Sockets of the backend's server towards a NAT IP (any state).
backend_sockets() {
  plk_in_prov ss -Htn "( sport = :$PLK_BACKEND_PORT )" | grep -c "${PLK_NAT_IPS[0]}"
}
backend_socket_open() { [ "$(backend_sockets)" -ge 1 ]; }
backend_socket_closed() { [ "$(backend_sockets)" -eq 0 ]; }

plk_log "building the topology"
plk_topo_up

# $1: "reset" (enableTcpReset) or "silent". The client waits 20 s for an answer at most.
run() {
  local mode=$1 suffix=
  [ "$mode" = silent ] && suffix=_silent
  local log=$PLK_WORK/logs/client-$mode.log
  if [ "$mode" = reset ]; then
    plk_write_config --no-state --backends 1 --nat-ips 1 --tcp-reset
  else
    plk_write_config --no-state --backends 1 --nat-ips 1
  fi
  plk_start_privlinkd --test-idle-timeout-ms "$IDLE_MS" || exit 1
  # A first request teaches the client the PE's MAC and privlinkd the backend's.
  plk_pe_get "$PLK_NS_CONS_A" >/dev/null 2>&1
  plk_wait_for 10 backend_socket_closed || true
  plk_spawn "$PLK_NS_CONS_A" "$log" "${CLIENT[@]}" 20
  local client=$!
  if plk_wait_for 5 backend_socket_open && grep -q connected "$log"; then
    plk_pass "held_connection_open$suffix"
  else
    plk_fail "held_connection_open$suffix" "client: '$(cat "$log")', backend sockets: $(backend_sockets)"
  fi
  if [ "$mode" = reset ]; then
    wait "$client"
    local outcome
    outcome=$(tail -n 1 "$log")
    case $outcome in
      "reset after "*) plk_pass client_saw_reset "$outcome (idle timeout $IDLE_MS ms)" ;;
      *) plk_fail client_saw_reset "'$outcome'" ;;
    esac
    if plk_wait_for 5 backend_socket_closed; then
      plk_pass backend_socket_gone
    else
      plk_fail backend_socket_gone "$(plk_in_prov ss -tn "( sport = :$PLK_BACKEND_PORT )")"
    fi
    local counted
    counted=$(plk_stats_value "d['flows']['idleReset']")
    if [ "$counted" = 1 ]; then
      plk_pass counted_idle_reset
    else
      plk_fail counted_idle_reset "flows.idleReset $counted, want 1"
    fi
  else
    # Three idle timeouts and the sweep's pass: the flow is long gone, the server never told.
    # Two flows expired: the held one, and the first request's closed one (the test timeout is
    # the closing timeout too); none was reset.
    sleep $((3 * IDLE_MS / 1000 + 1))
    local flows
    flows=$(plk_stats_value "f\"{d['flows']['expired']} {d['flows']['idleReset']}\"")
    if backend_socket_open && [ "$flows" = "2 0" ]; then
      plk_pass backend_socket_left "expired silently: the backend still holds its socket"
    else
      plk_fail backend_socket_left "backend sockets $(backend_sockets), expired and idle-reset flows: $flows, want 2 0"
    fi
    kill "$client" 2>/dev/null
  fi
  plk_check_clean_exit "privlinkd_sigterm_exit_0$suffix"
}

run reset
run silent
plk_report
