# shellcheck shell=bash
# Network namespaces and veth pairs for privlinkd's end-to-end test and `make demo` (source it).
#
#   plk-cons-a: plk-c0n 10.0.0.2/24 ------ plk-c0h  (root ns: port consumer0, untagged)
#   plk-cons-b: plk-c1n.20 10.0.0.2/24 --- plk-c1h  (root ns: port consumer1, VLAN 20)
#   plk-prov:   plk-p0n 192.168.10.11-13/24 --- plk-p0h (root ns: port provider0)
#
# Both consumer networks use the same subnet and client address; privlinkd tells them apart by
# port (consumer0 vs consumer1) and VLAN (consumer1 carries VLAN 20). privlinkd runs in the root
# namespace on the plk-*h ends (net_af_packet). Each backend address has its own HTTP server
# (backend.py). Every name starts with plk- so nothing clashes with the host.

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
}

# Filled in by the functions below; plk_topo_cleanup uses them.
PLK_BACKEND_PIDS=()
PLK_DAEMON_PID=
PLK_LOCK_FD=

plk_log() { echo "[$(date +%T)] $*" >&2; }

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

# Stops what the topology started (backends, privlinkd) and removes namespaces and links. Safe to
# call any number of times, also when nothing exists (cleans leftovers of an interrupted run).
plk_topo_cleanup() {
  local pid
  if [ -n "${PLK_DAEMON_PID:-}" ] && kill -0 "$PLK_DAEMON_PID" 2>/dev/null; then
    kill -TERM "$PLK_DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PLK_DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PLK_DAEMON_PID" 2>/dev/null || true
    wait "$PLK_DAEMON_PID" 2>/dev/null || true
  fi
  PLK_DAEMON_PID=
  for pid in "${PLK_BACKEND_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PLK_BACKEND_PIDS=()
  local ns
  for ns in "$PLK_NS_CONS_A" "$PLK_NS_CONS_B" "$PLK_NS_PROV"; do
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
  local -a exec_in=()
  [ -n "$ns" ] && exec_in=(ip netns exec "$ns")
  "${exec_in[@]}" ethtool -K "$dev" rx off tx off tso off gso off gro off >/dev/null 2>&1 ||
    "${exec_in[@]}" ethtool -K "$dev" tx off >/dev/null
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

# Starts one HTTP server per backend address in the provider namespace, serving DOCROOT and logging
# each request's client address to LOGDIR/access-<ip>.log; waits until all answer.
plk_start_backends() {
  local docroot=$1 logdir=$2 ip
  for ip in "${PLK_BACKENDS[@]}"; do
    : >"$logdir/access-$ip.log"
    ip netns exec "$PLK_NS_PROV" python3 "$PLK_E2E_DIR/backend.py" --bind "$ip" \
      --port "$PLK_BACKEND_PORT" --root "$docroot" --log "$logdir/access-$ip.log" \
      2>>"$logdir/backend-$ip.stderr" {PLK_LOCK_FD}>&- &
    PLK_BACKEND_PIDS+=($!)
  done
  for ip in "${PLK_BACKENDS[@]}"; do
    local ready=
    for _ in $(seq 100); do
      if ip netns exec "$PLK_NS_PROV" python3 -c "import socket,sys; socket.create_connection(
          (sys.argv[1], int(sys.argv[2])), 1).close()" "$ip" "$PLK_BACKEND_PORT" 2>/dev/null; then
        ready=1
        break
      fi
      sleep 0.1
    done
    if [ -z "$ready" ]; then
      echo "backend $ip did not start:" >&2
      cat "$logdir/backend-$ip.stderr" >&2
      return 1
    fi
  done
  # The readiness probes were logged; start the logs empty.
  for ip in "${PLK_BACKENDS[@]}"; do : >"$logdir/access-$ip.log"; done
}

# Starts privlinkd in the root namespace with one worker lcore (lcore 1; lcore 0 runs control),
# no hugepages and no PCI, and waits for its "privlinkd: forwarding" line. Output goes to LOGFILE.
plk_start_privlinkd() {
  local privlinkd=$1 config=$2 logfile=$3
  shift 3
  "$privlinkd" -l 0,1 --no-huge --no-pci --no-shconf -m 512 --file-prefix="plk-e2e-$$" \
    --log-level='*:notice' -- --config "$config" --idle-sleep-us 50 "$@" >"$logfile" 2>&1 \
    {PLK_LOCK_FD}>&- &
  PLK_DAEMON_PID=$!
  for _ in $(seq 300); do
    if grep -q '^privlinkd: forwarding' "$logfile"; then return 0; fi
    if ! kill -0 "$PLK_DAEMON_PID" 2>/dev/null; then
      local status=0
      wait "$PLK_DAEMON_PID" || status=$?
      echo "privlinkd exited with status $status before forwarding:" >&2
      cat "$logfile" >&2
      PLK_DAEMON_PID=
      return 1
    fi
    sleep 0.1
  done
  echo "privlinkd did not print 'privlinkd: forwarding' within 30 s:" >&2
  cat "$logfile" >&2
  return 1
}

# SIGTERM to privlinkd; returns its exit status (the daemon promises 0).
plk_stop_privlinkd() {
  [ -n "${PLK_DAEMON_PID:-}" ] || return 1
  kill -TERM "$PLK_DAEMON_PID" || true
  local status=0
  for _ in $(seq 100); do kill -0 "$PLK_DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$PLK_DAEMON_PID" 2>/dev/null; then
    echo "privlinkd still running 10 s after SIGTERM; killing it" >&2
    kill -KILL "$PLK_DAEMON_PID" || true
  fi
  wait "$PLK_DAEMON_PID" || status=$?
  PLK_DAEMON_PID=
  return "$status"
}
