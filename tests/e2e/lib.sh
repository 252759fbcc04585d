# shellcheck shell=bash
# The one helper library of privlinkd's end-to-end tests (tests/e2e/*_test.sh) and `make demo`
# (tools/demo); source it. It holds everything more than one of them does: the topology below
# (network namespaces, veth pairs, the HTTP backends), the arguments and requirements, the work
# directory and the exit trap, background processes and waiting for them, privlinkd's config,
# start, stop and log, privlinkctl and the stats, requests to the private endpoint, the traffic
# overhead bounds, and the checks' PASS/FAIL verdicts with the final report. The scripts keep only
# their own scenario.
#
#   plk-cons-a: plk-c0n 10.0.0.2/24 ------ plk-c0h  (root ns: port consumer0, untagged)
#   plk-cons-b: plk-c1n.20 10.0.0.2/24 --- plk-c1h  (root ns: port consumer1, VLAN 20)
#   plk-prov:   plk-p0n 192.168.10.11-13/24 --- plk-p0h (root ns: port provider0)
#
# Both consumer networks use the same subnet and client address; privlinkd tells them apart by
# port (consumer0 vs consumer1) and VLAN (consumer1 carries VLAN 20). privlinkd runs in the root
# namespace on the plk-*h ends (net_af_packet). Each backend address has its own HTTP server
# (backend.py). Every name starts with plk- so nothing clashes with the host.
#
# A script sets PLK_PRIVLINKD and PLK_PRIVLINKCTL (plk_args does), calls plk_work_dir, and, if it
# reports verdicts, sets PLK_EXPECTED_CHECKS. Works under `set -u` and under `set -e`.

PLK_E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

PLK_NS_CONS_A=plk-cons-a
PLK_NS_CONS_B=plk-cons-b
PLK_NS_PROV=plk-prov
# Root-namespace ends, which privlinkd's ports open.
PLK_IF_CONS_A=plk-c0h
PLK_IF_CONS_B=plk-c1h
PLK_IF_PROV=plk-p0h
# Namespace ends.
PLK_IF_CONS_A_NS=plk-c0n
PLK_IF_CONS_B_NS=plk-c1n
PLK_VLAN_B=20
PLK_IF_CONS_B_VLAN=plk-c1n.20
PLK_IF_PROV_NS=plk-p0n

# Used by the scripts that source this file.
# shellcheck disable=SC2034
{
  PLK_CLIENT_IP=10.0.0.2
  PLK_PE_IP=10.0.0.100
  PLK_PROVIDER_PORT_IP=192.168.10.1
  PLK_BACKENDS=(192.168.10.11 192.168.10.12 192.168.10.13)
  PLK_NAT_IPS=(192.168.10.200 192.168.10.201)
  PLK_BACKEND_PORT=8080
  # Frame bytes counted by privlinkd versus HTTP body bytes: a full segment carries 1448 body
  # bytes in a 1514-byte frame (Ethernet 14 + IPv4 20 + TCP 20 + timestamps 12), 4.6% more. The
  # bound of 10% leaves room for segments that are not full; the slack covers handshakes, HTTP
  # headers and the few pure ACKs and window updates that travel in the same direction as the
  # data. The opposite direction carries the ACKs: at most one 66-byte frame per 1448-byte
  # segment. See plk_frame_bytes_max.
  PLK_OVERHEAD_RATIO=1.10
  PLK_ACK_RATIO=0.10
  PLK_OVERHEAD_SLACK=$((200 * 1024))
}

# Set by the script: privlinkd and privlinkctl (plk_args), the number of verdicts (plk_report),
# optionally a line for plk_on_exit to print when the script fails.
PLK_PRIVLINKD=
PLK_PRIVLINKCTL=
PLK_EXPECTED_CHECKS=
PLK_FAILURE_NOTE=
# Set by plk_work_dir: the work directory, privlinkd's API address and config file (a script may
# set others after plk_work_dir), the start time.
PLK_WORK=
PLK_API=
PLK_CONFIG=
PLK_TEST_START=
# Filled in by the functions below; plk_topo_cleanup uses them.
PLK_PIDS=()          # background processes (plk_spawn), ended with SIGTERM
PLK_DAEMON_PID=
PLK_DAEMON_LOGS=()   # every log privlinkd wrote, for plk_report
PLK_LOCK_FD=
PLK_EXTRA_NETNS=()   # namespaces a script adds to the topology (removed with it)
# The verdicts.
PLK_PASSED=0
PLK_FAILED=()

plk_log() { echo "[$(date +%T)] $*" >&2; }

# --- arguments, requirements, the work directory and the exit trap -----------------------------

# plk_args NAME... -- ARG...: one ARG for each NAME (else the usage, exit 2); each NAME is set to
# its ARG's absolute path. The usage calls each argument NAME without PLK_.
plk_args() {
  local -a names=()
  while [ "$1" != -- ]; do
    names+=("$1")
    shift
  done
  shift
  if [ $# -ne ${#names[@]} ]; then
    echo "usage: $0 ${names[*]#PLK_}" >&2
    exit 2
  fi
  local name
  for name in "${names[@]}"; do
    printf -v "$name" '%s' "$(realpath "$1")"
    shift
  done
}

# Root, the tools (these and any named as arguments), and permission to make namespaces; exits
# 77 (meson's skip) without root or namespaces, 1 when a tool is missing. Also drops proxy
# settings: curl must reach the namespaces' addresses directly.
plk_topo_require() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the end-to-end topology needs root (network namespaces, veth pairs)" >&2
    exit 77
  fi
  local tool
  for tool in ip ethtool curl python3 sysctl flock "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "FAIL: '$tool' is missing (tools/install-deps installs it)" >&2
      exit 1
    fi
  done
  local probe="plk-probe-$$"
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "SKIP: cannot create network namespaces here ('ip netns add' was refused)" >&2
    exit 77
  fi
  ip netns del "$probe"
  unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
}

# plk_work_dir TEMPLATE [SUBDIR...]: PLK_WORK, a new directory (mktemp -d TEMPLATE) with www
# (the backends' files), logs, state and each SUBDIR; PLK_API and PLK_CONFIG in it. At exit, also
# on SIGINT and SIGTERM, plk_on_exit removes it with the topology. The test's clock starts here.
plk_work_dir() {
  PLK_WORK=$(mktemp -d "$1") || exit 1
  shift
  PLK_API=unix:$PLK_WORK/api.sock
  PLK_CONFIG=$PLK_WORK/privlink.json
  local dir
  for dir in www logs state "$@"; do mkdir -p "$PLK_WORK/$dir"; done
  trap plk_on_exit EXIT
  trap 'exit 130' INT TERM
  PLK_TEST_START=$(plk_now)
}

# The EXIT trap: stops everything, removes the topology and the work directory, keeps the exit
# status; a non-zero one is also reported as "$PLK_FAILURE_NOTE (exit N)" when that is set.
# shellcheck disable=SC2317  # run by the EXIT trap
plk_on_exit() {
  local status=$?
  plk_topo_cleanup
  if [ -n "${PLK_WORK:-}" ]; then rm -rf "$PLK_WORK"; fi
  if [ "$status" -ne 0 ] && [ -n "$PLK_FAILURE_NOTE" ]; then
    echo "$PLK_FAILURE_NOTE (exit $status)" >&2
  fi
  exit "$status"
}

# --- processes ---------------------------------------------------------------------------------

# plk_in NS CMD...: CMD in network namespace NS ("": the root namespace).
plk_in() {
  local ns=$1
  shift
  if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}
plk_in_a() { ip netns exec "$PLK_NS_CONS_A" "$@"; }
plk_in_b() { ip netns exec "$PLK_NS_CONS_B" "$@"; }
plk_in_prov() { ip netns exec "$PLK_NS_PROV" "$@"; }

# plk_wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds (returns 0) or SECONDS have
# passed (returns 1). CMD runs in this shell: a function may set its caller's variables (the
# locals here have names no caller uses).
plk_wait_for() {
  local _plk_tries=$(($1 * 10)) _plk_try
  shift
  for ((_plk_try = 0; _plk_try < _plk_tries; _plk_try++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

plk_exited() { ! kill -0 "$1" 2>/dev/null; }

# plk_port_open NS IP PORT: a TCP connection to IP:PORT from NS succeeds (within 1 s).
plk_port_open() {
  plk_in "$1" python3 -c 'import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()' "$2" "$3" 2>/dev/null
}

# plk_background NS LOG CMD...: starts the program CMD (a program, not a shell function, so that
# $! is the program's pid) in namespace NS ("": the root namespace), stdout and stderr to LOG,
# without the topology lock's descriptor (a child holding it would keep the lock after the script
# exits). $! is its pid.
plk_background() {
  local ns=$1 log=$2
  shift 2
  local -a exec_in=()
  if [ -n "$ns" ]; then exec_in=(ip netns exec "$ns"); fi
  "${exec_in[@]}" "$@" >"$log" 2>&1 {PLK_LOCK_FD}>&- &
}

# plk_spawn NS LOG CMD...: plk_background, and plk_topo_cleanup ends it (SIGTERM) unless plk_stop
# did.
plk_spawn() {
  plk_background "$@"
  PLK_PIDS+=("$!")
}

# plk_stop SIGNAL PID...: sends SIGNAL to each (spawned) PID, waits for it and forgets it.
plk_stop() {
  local signal=$1 pid i
  shift
  for pid in "$@"; do
    kill "-$signal" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for i in "${!PLK_PIDS[@]}"; do
      if [ "${PLK_PIDS[$i]}" = "$pid" ]; then unset "PLK_PIDS[$i]"; fi
    done
  done
}

# plk_start_capture NS DEV PCAP: tcpdump on DEV in NS ("": the root namespace) into PCAP, spawned
# (plk_topo_cleanup ends it); -U writes each frame at once. Returns when tcpdump listens, its pid
# in PLK_CAPTURE_PID.
PLK_CAPTURE_PID=
plk_start_capture() {
  local ns=$1 dev=$2 pcap=$3
  local log
  log=$PLK_WORK/logs/tcpdump-$(basename "$pcap" .pcap).log
  plk_spawn "$ns" "$log" tcpdump -i "$dev" -n -s 0 -U -Z root -w "$pcap"
  PLK_CAPTURE_PID=$!
  if ! plk_wait_for 5 grep -q "listening on" "$log"; then
    echo "tcpdump on $dev in ${ns:-the root namespace} did not start:" >&2
    cat "$log" >&2
    return 1
  fi
}

# --- the topology ------------------------------------------------------------------------------

# The namespace and interface names are fixed, so two runs (the e2e test in two build directories,
# the demo) must take turns: an exclusive lock held until the script exits.
plk_topo_lock() {
  local lock_dir=/run/lock
  [ -d "$lock_dir" ] || lock_dir=/tmp
  exec {PLK_LOCK_FD}>"$lock_dir/privlink-topology.lock"
  if ! flock -n "$PLK_LOCK_FD"; then
    echo "waiting for another privlink topology user (e2e test or demo) to finish" >&2
    if ! flock -w 600 "$PLK_LOCK_FD"; then
      echo "the privlink topology stayed in use for 10 minutes" >&2
      return 1
    fi
  fi
}

# Stops what the scripts started (privlinkd, backends, anything plk_spawn started) and removes
# namespaces and links. Safe to call any number of times, also when nothing exists (cleans
# leftovers of an interrupted run).
plk_topo_cleanup() {
  if [ -n "${PLK_DAEMON_PID:-}" ] && ! plk_exited "$PLK_DAEMON_PID"; then
    plk_stop_privlinkd 5 2>/dev/null || true
  fi
  PLK_DAEMON_PID=
  plk_stop TERM "${PLK_PIDS[@]}"
  PLK_PIDS=()
  local ns pid
  for ns in "$PLK_NS_CONS_A" "$PLK_NS_CONS_B" "$PLK_NS_PROV" "${PLK_EXTRA_NETNS[@]}"; do
    # A namespace's own resolv.conf (ip netns exec mounts it over /etc/resolv.conf).
    rm -rf "/etc/netns/$ns"
    if [ -e "/run/netns/$ns" ]; then
      # Processes left inside a namespace (an earlier run's backends) keep it alive; end them.
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  # Deleting a namespace deletes its veth ends and so their peers; this catches half-made pairs.
  local link
  for link in "$PLK_IF_CONS_A" "$PLK_IF_CONS_B" "$PLK_IF_PROV"; do
    if [ -e "/sys/class/net/$link" ]; then ip link del "$link" 2>/dev/null || true; fi
  done
  return 0
}

# Offloads off on a veth end: with TX checksum offload the kernel leaves checksums unfilled (an
# af_packet reader sees them wrong), TSO/GSO/GRO would hand over frames above the MTU, and with RX
# checksum offload a namespace would trust privlinkd's checksums instead of verifying them.
plk_offloads_off() {
  local ns=$1 dev=$2
  plk_in "$ns" ethtool -K "$dev" rx off tx off tso off gso off gro off >/dev/null 2>&1 ||
    plk_in "$ns" ethtool -K "$dev" tx off >/dev/null
}

# veth pair ROOT_END <-> NS_END, NS_END moved into NS; the root end is left to privlinkd alone.
plk_make_veth() {
  local root_end=$1 ns_end=$2 ns=$3
  ip link add "$root_end" mtu 1500 type veth peer name "$ns_end" mtu 1500
  ip link set "$ns_end" netns "$ns"
  # The root namespace must neither answer ARP on this end, nor route what arrives (privlinkd's
  # port MAC is this end's MAC, so the kernel sees those frames too): with forwarding off such
  # packets are dropped silently (no ICMP back to the client). No IPv6 chatter.
  sysctl -qw "net.ipv6.conf.$root_end.disable_ipv6=1"
  sysctl -qw "net.ipv4.conf.$root_end.forwarding=0"
  ip link set "$root_end" arp off
  plk_offloads_off "" "$root_end"
  ip link set "$root_end" up
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ns_end.disable_ipv6=1"
  plk_offloads_off "$ns" "$ns_end"
  ip -n "$ns" link set "$ns_end" up
}

plk_make_netns() {
  local ns=$1
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
}

# VLAN VID on DEV in NS without a VLAN device: a tc egress program tags every frame, an ingress one
# accepts only frames of VID and untags them (tests/e2e/vlan_bpf.py). The programs are pinned on a
# private bpffs mount only until tc holds them.
plk_vlan_by_bpf() {
  local ns=$1 dev=$2 vid=$3 pins
  pins=$(mktemp -d /tmp/plk-bpf.XXXXXX) || return 1
  local ok=
  if mount -t bpf bpf "$pins" && python3 "$PLK_E2E_DIR/vlan_bpf.py" --pin-dir "$pins" --vlan "$vid" &&
      ip netns exec "$ns" tc qdisc add dev "$dev" clsact &&
      ip netns exec "$ns" tc filter add dev "$dev" egress bpf da pinned "$pins/push" &&
      ip netns exec "$ns" tc filter add dev "$dev" ingress bpf da pinned "$pins/pop"; then
    ok=1
  fi
  rm -f "$pins/push" "$pins/pop"
  umount "$pins" 2>/dev/null || true
  rmdir "$pins" 2>/dev/null || true
  if [ -z "$ok" ]; then
    echo "cannot put $dev into VLAN $vid: the kernel has neither 8021q nor cls_bpf" >&2
    return 1
  fi
}

# Builds the three namespaces and their links (after cleaning leftovers), holding the lock.
plk_topo_create() {
  if [ -z "${PLK_LOCK_FD:-}" ]; then plk_topo_lock || return 1; fi
  plk_topo_cleanup
  plk_make_netns "$PLK_NS_CONS_A"
  plk_make_netns "$PLK_NS_CONS_B"
  plk_make_netns "$PLK_NS_PROV"

  plk_make_veth "$PLK_IF_CONS_A" "$PLK_IF_CONS_A_NS" "$PLK_NS_CONS_A"
  ip -n "$PLK_NS_CONS_A" addr add "$PLK_CLIENT_IP/24" dev "$PLK_IF_CONS_A_NS"

  # Consumer B: the same client address, in VLAN 20 on the second consumer link.
  plk_make_veth "$PLK_IF_CONS_B" "$PLK_IF_CONS_B_NS" "$PLK_NS_CONS_B"
  local client_b_dev
  if ip -n "$PLK_NS_CONS_B" link add link "$PLK_IF_CONS_B_NS" name "$PLK_IF_CONS_B_VLAN" \
      type vlan id "$PLK_VLAN_B" 2>/dev/null; then
    client_b_dev=$PLK_IF_CONS_B_VLAN
    ip netns exec "$PLK_NS_CONS_B" sysctl -qw "net.ipv6.conf.$client_b_dev.disable_ipv6=1"
    plk_offloads_off "$PLK_NS_CONS_B" "$client_b_dev"
    ip -n "$PLK_NS_CONS_B" link set "$client_b_dev" up
  else
    # No 8021q in this kernel: tc programs tag and untag on the veth end itself.
    client_b_dev=$PLK_IF_CONS_B_NS
    plk_vlan_by_bpf "$PLK_NS_CONS_B" "$client_b_dev" "$PLK_VLAN_B" || return 1
  fi
  ip -n "$PLK_NS_CONS_B" addr add "$PLK_CLIENT_IP/24" dev "$client_b_dev"

  # Provider: three backend addresses on one link; the NAT IPs are on-link (same /24).
  plk_make_veth "$PLK_IF_PROV" "$PLK_IF_PROV_NS" "$PLK_NS_PROV"
  local ip
  for ip in "${PLK_BACKENDS[@]}"; do
    ip -n "$PLK_NS_PROV" addr add "$ip/24" dev "$PLK_IF_PROV_NS"
  done
}

# Starts one HTTP server per backend address in the provider namespace, serving $PLK_WORK/www and
# logging each request's client address to $PLK_WORK/logs/access-<ip>.log; waits until all answer.
plk_start_backends() {
  local logs=$PLK_WORK/logs ip
  for ip in "${PLK_BACKENDS[@]}"; do
    : >"$logs/access-$ip.log"
    plk_spawn "$PLK_NS_PROV" "$logs/backend-$ip.stderr" python3 "$PLK_E2E_DIR/backend.py" \
      --bind "$ip" --port "$PLK_BACKEND_PORT" --root "$PLK_WORK/www" --log "$logs/access-$ip.log"
  done
  for ip in "${PLK_BACKENDS[@]}"; do
    if ! plk_wait_for 10 plk_port_open "$PLK_NS_PROV" "$ip" "$PLK_BACKEND_PORT"; then
      echo "backend $ip did not start:" >&2
      cat "$logs/backend-$ip.stderr" >&2
      return 1
    fi
  done
  # The readiness probes were logged; start the logs empty.
  for ip in "${PLK_BACKENDS[@]}"; do : >"$logs/access-$ip.log"; done
}

# The topology with its backends running; exits 1 where it cannot be built.
plk_topo_up() {
  if ! plk_topo_create; then
    echo "FAIL topology: could not build it" >&2
    exit 1
  fi
  plk_start_backends || exit 1
}

# --- privlinkd ---------------------------------------------------------------------------------

# plk_write_config [OPTION...]: privlinkd's config for this topology, to $PLK_CONFIG: the API on
# $PLK_API, state in $PLK_WORK/state; ports consumer0 (link A) and provider0; network net-a
# (consumer0, untagged); service web (subscription sub-provider, port 80 to the backends' port,
# visible to all, auto-approving sub-a) with the three backends and both NAT IPs; endpoint pe-a
# (sub-a, in net-a, $PLK_PE_IP). Options:
#   --consumer-b                  port consumer1 (link B) with network net-b on it (VLAN 20)
#   --backends N, --nat-ips N     only the first N backends, NAT IPs
#   --flow-table N                flowTableSize (65536)
#   --no-state                    no stateDir
#   --port-macs                   each port's "mac" is its veth end's own
#   --teardown MODE               the service's connectionTeardown
#   --tcp-reset                   the service's enableTcpReset
#   --probe JSON                  the service's probe
#   --proxy-protocol              the service's enableProxyProtocol
#   --rule FRONTEND:BACKEND[/udp] a load-balancing rule instead of 80 to the backends' port
#                                 (repeatable)
#   --endpoint NAME SUBSCRIPTION NETWORK IP   one more private endpoint of service web
#   --vxlan-network NAME VNI LOCAL_IP         a VXLAN network on consumer0 (repeatable)
plk_write_config() {
  python3 - "$@" -- "out=$PLK_CONFIG" "api=$PLK_API" "state=$PLK_WORK/state" \
    "if_a=$PLK_IF_CONS_A" "if_b=$PLK_IF_CONS_B" "if_prov=$PLK_IF_PROV" \
    "subnet=$PLK_PROVIDER_PORT_IP/24" "vlan_b=$PLK_VLAN_B" "backend_port=$PLK_BACKEND_PORT" \
    "pe_ip=$PLK_PE_IP" "backends=${PLK_BACKENDS[*]}" "nat_ips=${PLK_NAT_IPS[*]}" <<'EOF'
import argparse, json
parser = argparse.ArgumentParser(prog="plk_write_config")
parser.add_argument("--consumer-b", action="store_true")
parser.add_argument("--backends", type=int, default=3)
parser.add_argument("--nat-ips", type=int, default=2)
parser.add_argument("--flow-table", type=int, default=65536)
parser.add_argument("--no-state", action="store_true")
parser.add_argument("--port-macs", action="store_true")
parser.add_argument("--teardown")
parser.add_argument("--tcp-reset", action="store_true")
parser.add_argument("--probe", type=json.loads)
parser.add_argument("--proxy-protocol", action="store_true")
parser.add_argument("--fqdn", action="append", default=[])
parser.add_argument("--rule", action="append", default=[], help="FRONTEND:BACKEND[/udp]")
parser.add_argument("--endpoint", nargs=4, action="append", default=[])
parser.add_argument("--vxlan-network", nargs=3, metavar=("NAME", "VNI", "LOCAL_IP"),
                    action="append", default=[])
parser.add_argument("topology", nargs="*", help="KEY=VALUE (from lib.sh)")
args = parser.parse_args()
t = dict(kv.split("=", 1) for kv in args.topology)

ports, networks = [], [{"name": "net-a", "port": "consumer0", "vlan": 0}]
def add_port(name, role, iface, **extra):
    port = {"name": name, "role": role, "device": f"net_af_packet{len(ports)},iface={iface}"}
    if args.port_macs:
        with open(f"/sys/class/net/{iface}/address") as f:
            port["mac"] = f.read().strip()
    ports.append({**port, **extra})
add_port("consumer0", "consumer", t["if_a"])
if args.consumer_b:
    add_port("consumer1", "consumer", t["if_b"])
    networks.append({"name": "net-b", "port": "consumer1", "vlan": int(t["vlan_b"])})
add_port("provider0", "provider", t["if_prov"], subnet=t["subnet"])
for name, vni, local_ip in args.vxlan_network:
    networks.append({"name": name, "port": "consumer0",
                     "vxlan": {"vni": int(vni), "localIp": local_ip}})

dataplane = {"region": "e2e", "workers": 1, "flowTableSize": args.flow_table,
             "api": {"listen": t["api"]}}
if not args.no_state:
    dataplane["stateDir"] = t["state"]
dataplane["ports"] = ports
service = {"name": "web", "subscription": "sub-provider",
           "loadBalancingRules": [{"frontendPort": 80, "backendPort": int(t["backend_port"])}],
           "backends": [{"ip": ip} for ip in t["backends"].split()[:args.backends]],
           "natIps": t["nat_ips"].split()[:args.nat_ips],
           "visibility": ["*"], "autoApproval": ["sub-a"]}
if args.teardown:
    service["connectionTeardown"] = args.teardown
if args.tcp_reset:
    service["enableTcpReset"] = True
if args.probe:
    service["probe"] = args.probe
if args.proxy_protocol:
    service["enableProxyProtocol"] = True
if args.fqdn:
    service["fqdns"] = args.fqdn
if args.rule:
    service["loadBalancingRules"] = [
        {"frontendPort": int(f), "backendPort": int(b), "protocol": p or "tcp"}
        for (f, b), p in ((r.partition("/")[0].split(":"), r.partition("/")[2])
                          for r in args.rule)]
endpoints = [["pe-a", "sub-a", "net-a", t["pe_ip"]]] + args.endpoint
with open(t["out"], "w") as f:
    json.dump({"dataplane": dataplane, "networks": networks, "privateLinkServices": [service],
               "privateEndpoints": [{"name": n, "subscription": s, "network": net, "ip": ip,
                                     "privateLinkService": "web"}
                                    for n, s, net, ip in endpoints]}, f, indent=2)
    f.write("\n")
EOF
}

# Starts $PLK_PRIVLINKD in the root namespace on $PLK_CONFIG with one worker lcore (lcore 1; lcore
# 0 runs control), no hugepages and no PCI, and waits for its "privlinkd: forwarding" line. Its
# arguments go on privlinkd's command line. Output
# goes to $PLK_WORK/privlinkd.log (privlinkd-2.log for a second start, ...), which plk_report shows
# when a check failed.
plk_start_privlinkd() {
  local log=$PLK_WORK/privlinkd.log
  if [ ${#PLK_DAEMON_LOGS[@]} -gt 0 ]; then
    log=$PLK_WORK/privlinkd-$((${#PLK_DAEMON_LOGS[@]} + 1)).log
  fi
  PLK_DAEMON_LOGS+=("$log")
  plk_background "" "$log" "$PLK_PRIVLINKD" -l 0,1 --no-huge --no-pci --no-shconf -m 512 \
    --file-prefix="plk-e2e-$$" --log-level='*:notice' -- --config "$PLK_CONFIG" --idle-sleep-us 50 \
    "$@"
  PLK_DAEMON_PID=$!
  plk_wait_for 30 plk_forwarding_or_exited "$log" || true
  if grep -q '^privlinkd: forwarding' "$log"; then return 0; fi
  if plk_exited "$PLK_DAEMON_PID"; then
    local status=0
    wait "$PLK_DAEMON_PID" || status=$?
    PLK_DAEMON_PID=
    echo "privlinkd exited with status $status before forwarding:" >&2
  else
    echo "privlinkd did not print 'privlinkd: forwarding' within 30 s:" >&2
  fi
  cat "$log" >&2
  return 1
}
plk_forwarding_or_exited() {
  grep -q '^privlinkd: forwarding' "$1" || plk_exited "$PLK_DAEMON_PID"
}

# plk_stop_privlinkd [SECONDS]: SIGTERM to privlinkd, SIGKILL when it still runs SECONDS (10)
# later; returns its exit status (the daemon promises 0).
plk_stop_privlinkd() {
  [ -n "${PLK_DAEMON_PID:-}" ] || return 1
  local pid=$PLK_DAEMON_PID seconds=${1:-10} status=0
  PLK_DAEMON_PID=
  kill -TERM "$pid" || true
  if ! plk_wait_for "$seconds" plk_exited "$pid"; then
    echo "privlinkd still running $seconds s after SIGTERM; killing it" >&2
    kill -KILL "$pid" || true
  fi
  wait "$pid" || status=$?
  return "$status"
}

# plk_check_clean_exit [NAME]: the check NAME (privlinkd_sigterm_exit_0) that privlinkd exits 0
# on SIGTERM (it stops privlinkd).
plk_check_clean_exit() {
  local status=0 name=${1:-privlinkd_sigterm_exit_0}
  plk_stop_privlinkd || status=$?
  if [ $status -eq 0 ]; then
    plk_pass "$name"
  else
    plk_fail "$name" "exit status $status"
  fi
}

plk_ctl() { "$PLK_PRIVLINKCTL" --server "$PLK_API" "$@"; }

# plk_stats_value EXPR: a Python expression over d = GET /v1/stats's "dataplane" object and ep, its
# endpoints by name.
plk_stats_value() {
  plk_ctl -o json stats | python3 -c '
import json, sys
d = json.load(sys.stdin)["dataplane"]
ep = {e["name"]: e for e in d.get("endpoints", [])}
print(eval(sys.argv[1]))' "$1"
}
plk_drop_count() { plk_stats_value "d['drops'].get('$1', 0)"; }
# "BYTES_IN BYTES_OUT" of an endpoint (in: delivered to the consumer, out: sent by it).
plk_endpoint_bytes() { plk_stats_value "f\"{ep['$1']['bytesIn']} {ep['$1']['bytesOut']}\""; }

# --- requests, files, numbers ------------------------------------------------------------------

plk_pe_url() { echo "http://$PLK_PE_IP${1:-/}"; }
# plk_pe_get NS [PATH]: GET PATH (/) from the private endpoint in NS, the body to stdout.
plk_pe_get() { plk_in "$1" curl -sS --max-time 5 "$(plk_pe_url "${2:-/}")"; }
# plk_pe_download NS NAME SECONDS: a backend's file NAME (from $PLK_WORK/www) to stdout.
plk_pe_download() { plk_in "$1" curl -sS --fail --max-time "$3" "$(plk_pe_url "/files/$2")"; }
# plk_pe_upload NS FILE SECONDS: POSTs FILE; the backend answers "<length> <sha256>".
plk_pe_upload() {
  plk_in "$1" curl -sS --fail --max-time "$3" -H 'Expect:' \
    -H 'Content-Type: application/octet-stream' --data-binary "@$2" "$(plk_pe_url /upload)"
}
# plk_provider_connect IP:PORT SECONDS: an HTTP request from the provider namespace, giving up
# after SECONDS to connect (curl's exit 28).
plk_provider_connect() {
  plk_in_prov curl -sS --connect-timeout "$2" --max-time $(($2 + 1)) "http://$1/"
}
# The page GET / answers with: one of the backends' (backend.py).
plk_is_backend_page() {
  local ip
  for ip in "${PLK_BACKENDS[@]}"; do
    if [ "$1" = "privlink e2e backend $ip" ]; then return 0; fi
  done
  return 1
}

# plk_random_file PATH BYTES: random content (openssl is fast; /dev/urandom where it is missing).
plk_random_file() {
  if command -v openssl >/dev/null; then
    openssl rand -out "$1" "$2"
  else
    head -c "$2" /dev/urandom >"$1"
  fi
}

plk_now() { date +%s.%N; }
plk_elapsed_since() {
  python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.2f}")' "$1"
}
# plk_calc EXPR: prints a Python expression's value.
plk_calc() { python3 -c "print($1)"; }
# plk_within LOW VALUE HIGH: LOW <= VALUE <= HIGH (numbers; fails on anything else).
plk_within() {
  python3 -c 'import sys
low, value, high = map(float, sys.argv[1:])
sys.exit(0 if low <= value <= high else 1)' "$@" 2>/dev/null
}
# plk_frame_bytes_max DATA ACKED: the most frame bytes privlinkd may count in one direction that
# carries DATA HTTP body bytes and the ACKs for ACKED body bytes going the other way.
plk_frame_bytes_max() {
  plk_calc "int($1 * $PLK_OVERHEAD_RATIO + $2 * $PLK_ACK_RATIO + $PLK_OVERHEAD_SLACK)"
}

# --- verdicts ----------------------------------------------------------------------------------

# plk_pass NAME [DETAIL], plk_fail NAME DETAIL: a check's verdict, one line.
plk_pass() {
  echo "PASS $1${2:+: $2}"
  PLK_PASSED=$((PLK_PASSED + 1))
}
plk_fail() {
  echo "FAIL $1: $2"
  PLK_FAILED+=("$1")
}
# plk_tally LINES: counts another program's "PASS NAME: ..." and "FAIL NAME: ..." lines as
# verdicts.
plk_tally() {
  local verdict name _
  while read -r verdict name _; do
    case $verdict in
      PASS) PLK_PASSED=$((PLK_PASSED + 1)) ;;
      FAIL) PLK_FAILED+=("${name%:}") ;;
    esac
  done <<<"$1"
}

# The summary line; exits 0 when all PLK_EXPECTED_CHECKS checks passed, else 1 after naming the
# failed ones and showing the end of each privlinkd log.
plk_report() {
  local lines=40 reported=$((PLK_PASSED + ${#PLK_FAILED[@]})) log
  echo "--- $PLK_PASSED passed, ${#PLK_FAILED[@]} failed in $(plk_elapsed_since "$PLK_TEST_START")s"
  # A check that broke before printing its verdict must not go unnoticed.
  if [ "$reported" -ne "$PLK_EXPECTED_CHECKS" ]; then
    PLK_FAILED+=("verdicts: $reported of $PLK_EXPECTED_CHECKS checks reported")
  fi
  if [ ${#PLK_FAILED[@]} -eq 0 ]; then exit 0; fi
  echo "failed: ${PLK_FAILED[*]}"
  for log in "${PLK_DAEMON_LOGS[@]}"; do
    echo "--- $(basename "$log") (last $lines lines)"
    tail -n "$lines" "$log"
  done
  exit 1
}
