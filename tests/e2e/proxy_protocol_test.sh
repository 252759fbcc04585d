#!/usr/bin/env bash
# PROXY protocol v2 with the LinkID end to end. Service web (enableProxyProtocol) has one backend
# running two real servers that parse the header: tests/e2e/proxy_server.go (built here on
# Debian's golang-github-pires-go-proxyproto-dev, whose tlvparse reads Azure's LinkID; it speaks
# first) and Debian's haproxy with accept-proxy (it answers with the client address it was told).
# The same client address in two overlapping consumer networks reaches the service through pe-a
# and pe-b: each connection's header carries that client's address and port and its own
# endpoint's LinkID. A connection closed before any data still delivers a header; 1 GiB each way
# arrives intact (sha256); the http probe's LOCAL header passes haproxy; without the flag the
# server gets no header.
# Exit status 1 if a check failed, 77 (skip) where namespaces cannot be made.
#
# usage: tests/e2e/proxy_protocol_test.sh PRIVLINKD PRIVLINKCTL   (as root)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
plk_args PLK_PRIVLINKD PLK_PRIVLINKCTL -- "$@"
plk_topo_require
plk_work_dir /dev/shm/plk-proxy.XXXXXX
# greeting_with_link_a, greeting_with_link_b, links_differ, header_without_data, gib_down_intact,
# gib_up_intact, haproxy_told_the_client, probe_local_header_passes, no_header_without_flag,
# privlinkd_sigterm_exit_0
PLK_EXPECTED_CHECKS=10
GO_PORT=9100
HAPROXY_PORT=9200
GIB=$((1 << 30))
BACKEND=${PLK_BACKENDS[0]}
CLIENT=(python3 "$PLK_E2E_DIR/proxy_client.py" "$PLK_PE_IP")
SERVER_LOG=$PLK_WORK/logs/proxy-server.log

for tool in go haproxy; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL setup: $tool is missing (make install-deps installs the test packages)" >&2
    exit 1
  fi
done

plk_log "building the PROXY protocol server"
if ! GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$PLK_WORK/go-cache HOME=$PLK_WORK \
    go build -o "$PLK_WORK/proxy-server" "$PLK_E2E_DIR/proxy_server.go" 2>"$PLK_WORK/go-build.log"; then
  cat "$PLK_WORK/go-build.log" >&2
  echo "FAIL setup: cannot build tests/e2e/proxy_server.go" >&2
  exit 1
fi

plk_log "building the topology"
plk_topo_create || { echo "FAIL topology: could not build it" >&2; exit 1; }
: >"$SERVER_LOG"
plk_spawn "$PLK_NS_PROV" "$PLK_WORK/logs/proxy-server.stderr" "$PLK_WORK/proxy-server" \
  --listen "$BACKEND:$GO_PORT" --log "$SERVER_LOG"
cat >"$PLK_WORK/haproxy.cfg" <<EOF
global
  log stdout format raw local0
defaults
  mode http
  log global
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend told
  bind $BACKEND:$HAPROXY_PORT accept-proxy
  log-format "client %ci:%cp"
  http-request return status 200 content-type text/plain lf-string "client %ci:%cp\n"
EOF
plk_spawn "$PLK_NS_PROV" "$PLK_WORK/logs/haproxy.log" haproxy -db -f "$PLK_WORK/haproxy.cfg"
for port in "$GO_PORT" "$HAPROXY_PORT"; do
  plk_wait_for 10 plk_port_open "$PLK_NS_PROV" "$BACKEND" "$port" || {
    cat "$PLK_WORK/logs/proxy-server.stderr" "$PLK_WORK/logs/haproxy.log" >&2
    exit 1
  }
done
: >"$SERVER_LOG"

plk_write_config --no-state --consumer-b --backends 1 --nat-ips 1 --proxy-protocol \
  --rule "80:$GO_PORT" --rule "81:$HAPROXY_PORT" --endpoint pe-b sub-a net-b "$PLK_PE_IP"
plk_start_privlinkd || exit 1

link_of() {
  plk_ctl -o json endpoint show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["linkIdentifier"])'
}
LINK_A=$(link_of pe-a)
LINK_B=$(link_of pe-b)

# greet NETNS_RUNNER CHECK LINK
greet() {
  local out port greeting want
  out=$("$1" "${CLIENT[@]}" 80 greet 2>&1)
  port=${out%% *}
  greeting=${out#* }
  want="HELLO $PLK_CLIENT_IP:$port link=$3 header=PROXY"
  if [ "$greeting" = "$want" ]; then
    plk_pass "$2" "$greeting"
  else
    plk_fail "$2" "got '$out', want '$want'"
  fi
}
greet plk_in_a greeting_with_link_a "$LINK_A"
greet plk_in_b greeting_with_link_b "$LINK_B"
if [ -n "$LINK_A" ] && [ "$LINK_A" != "$LINK_B" ]; then
  plk_pass links_differ "pe-a $LINK_A, pe-b $LINK_B"
else
  plk_fail links_differ "pe-a '$LINK_A', pe-b '$LINK_B'"
fi

port=$(plk_in_a "${CLIENT[@]}" 80 close)
header_logged() { grep -q "^PROXY $PLK_CLIENT_IP:$port link=$LINK_A\$" "$SERVER_LOG"; }
if plk_wait_for 5 header_logged; then
  plk_pass header_without_data "the server read the header of a connection closed at once"
else
  plk_fail header_without_data "no header for client port $port in $(cat "$SERVER_LOG")"
fi

plk_log "1 GiB from the backend to a client in network a"
read -r port got sha < <(plk_in_a "${CLIENT[@]}" 80 down "$GIB")
sent=$(grep "^sent $PLK_CLIENT_IP:$port $GIB " "$SERVER_LOG" | awk '{print $4}')
if [ "$got" = "$GIB" ] && [ -n "$sent" ] && [ "$sha" = "$sent" ]; then
  plk_pass gib_down_intact "$got bytes, sha256 ${sha:0:16}..."
else
  plk_fail gib_down_intact "received $got bytes, sha256 $sha; the server sent '$sent'"
fi
plk_log "1 GiB from a client in network b to the backend"
read -r port sent got < <(plk_in_b "${CLIENT[@]}" 80 up "$GIB")
if [ -n "$sent" ] && [ "$sent" = "$got" ]; then
  plk_pass gib_up_intact "sha256 ${sent:0:16}... at both ends"
else
  plk_fail gib_up_intact "sent sha256 '$sent', the server got '$got'"
fi

answer=$(plk_in_a curl -sS --max-time 5 -w ' %{local_port}' "http://$PLK_PE_IP:81/")
if [[ "$answer" =~ ^client\ $PLK_CLIENT_IP:([0-9]+)$'\n'\ ([0-9]+)$ ]] &&
    [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]; then
  plk_pass haproxy_told_the_client "$(echo "$answer" | head -1)"
else
  plk_fail haproxy_told_the_client "'$answer'"
fi

plk_ctl service update web --probe "http:$HAPROXY_PORT/health" --probe-interval 1 >/dev/null
probed_ok() {
  plk_ctl -o json service show web | python3 -c '
import json, sys
h = json.load(sys.stdin)["backendHealth"][0]
sys.exit(0 if h["health"] == "Up" and h["lastResult"] == "http 200" else 1)'
}
if plk_wait_for 10 probed_ok; then
  plk_pass probe_local_header_passes "haproxy (accept-proxy) answered the probe's request"
else
  plk_fail probe_local_header_passes "$(plk_ctl -o json service show web)"
fi

plk_ctl service update web --proxy-protocol false >/dev/null
# A PROXY-aware server waits for a client's first bytes to tell a header from data, so the client
# speaks first here.
out=$(plk_in_a "${CLIENT[@]}" 80 first 2>&1)
if [[ "$out" == *"HELLO ${PLK_NAT_IPS[0]}:"*" link=0 header=none" ]]; then
  plk_pass no_header_without_flag "${out#* }"
else
  plk_fail no_header_without_flag "'$out'"
fi

plk_check_clean_exit
plk_report
