#!/usr/bin/python3
"""bench/compare.py: privlink beside the systems users would otherwise run, in one run, on one machine.

Every system forwards the same trace with one forwarding core, at a few flow counts, and the
script prints Mpps with ratios against the I/O ceiling and against privlinkd. Two set-ups:

  dpdk    virtual DPDK devices: the consumer port is net_pcap replaying the trace from memory
          (infinite_rx: the PMD holds the trace in mbufs and copies each packet into a fresh mbuf,
          the same cost for every system), the provider port is net_null (a sink). Systems: dpdk-testpmd io forwarding (the I/O ceiling), privlinkd, Open vSwitch with
          DPDK (userspace conntrack: ct(commit,nat(dst=...)) then ct(commit,nat(src=...))).
  kernel  veth pairs and namespaces: consumer ns -> router ns -> provider ns. A generator
          (dpdk-testpmd replaying the trace from net_pcap with infinite_rx) sends it into the
          consumer veth over net_af_packet; the router ns runs the system under
          test; packets are counted where they arrive in the provider ns (rx_packets).
          Systems: dpdk-testpmd io forwarding on net_af_packet (the ceiling), privlinkd on
          net_af_packet, Linux nftables DNAT + SNAT with conntrack.

The trace: privlink-tracegen's connections for this script's config, reduced to the clients' SYNs,
one per flow. Looped, every packet after the first round belongs to a flow that already exists (a
retransmitted SYN: the flow is still embryonic, so Linux and OVS conntrack and privlinkd all keep
translating it), so each system does per packet what it does for established traffic: a flow
lookup, DNAT to a backend, SNAT to a NAT IP, and checksums.

Cores: the generator, privlinkd's control thread, OVS's main thread and testpmd's main lcore run on
AUX_CORE; the forwarding work (testpmd's forwarding lcore, privlinkd's worker, the OVS PMD thread,
for nftables the router namespace's softirq, moved there by RPS) on FWD_CORE. No hugepages: every DPDK process runs with
--no-huge --no-pci. Needs root; installs its Debian packages itself (dpdk-dev for dpdk-testpmd,
openvswitch-switch-dpdk, nftables, gnuplot-nox). Writes results.csv and results.json
into --out and the plot to --plot (bench/compare.png, the figure docs/benchmarks.md shows).

usage: bench/compare.py [--build DIR] [--flows 1000,10000,100000] [--window S] [--out DIR] [--plot PNG]
                     [--systems NAME,...]
"""

import argparse
import csv
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ["dpdk-dev", "openvswitch-switch-dpdk", "nftables", "gnuplot-nox", "tcpdump",
            "iproute2", "ethtool"]
OVS_VSWITCHD_DPDK = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"

AUX_CORE = 0
FWD_CORE = 1
WARMUP_S = 2  # after every flow exists: let caches and rates settle before the window
# Generous: on a loaded 2-CPU machine DPDK start-up alone can take a minute.
START_TIMEOUT_S = 120
FIRST_ROUND_TIMEOUT_S = 120  # one round of the trace creates every flow
MBUF_BYTES = 2304  # an mbuf with its 2 KiB data room and headers
EAL_BASE_MB = 384  # --no-huge -m: what a process needs besides the mbufs holding the trace

# Addresses and MACs shared by the trace, privlinkd's config, OVS's flows and the router ns.
PE_IP = "10.0.0.100"
BACKENDS = ["192.168.10.11", "192.168.10.12", "192.168.10.13"]
BACKEND_PORT = 8080
NAT_IPS = ["192.168.10.200", "192.168.10.201"]
PROVIDER_PORT_IP = "192.168.10.1"
CONSUMER_MAC = "02:00:00:00:00:01"  # the trace's destination MAC: the consumer port
PROVIDER_MAC = "02:00:00:00:00:02"
BACKEND_MAC = "02:00:00:00:10:00"  # every backend address sits behind the provider ns's veth

# The veth topology (every name starts with plkc- so nothing clashes with the e2e test's plk-).
NS_CONS, NS_RTR, NS_PROV = "plkc-cons", "plkc-rtr", "plkc-prov"
IF_CONS, IF_RTR_CONS, IF_RTR_PROV, IF_PROV = "plkc-c", "plkc-rc", "plkc-rp", "plkc-p"

WORK = tempfile.mkdtemp(prefix="privlink-compare.")
STARTED = []  # processes this script started, stopped by pid on exit
LOG_TAG = [""]  # names the logs of the system and flow count being measured


def log(msg):
    print(f"[{time.strftime('%T')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def in_ns(ns, cmd):
    return ["ip", "netns", "exec", ns] + cmd if ns else cmd


def log_path(name):
    return os.path.join(WORK, LOG_TAG[0] + name)


def start(cmd, logname, **kw):
    f = open(log_path(logname), "w")
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, text=True, **kw)
    STARTED.append(p)
    return p


def stop(p, grace_s=10):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(grace_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in STARTED:
        STARTED.remove(p)


def wait_for(predicate, timeout_s, what):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")


def eal_memory_mb(packets):
    """net_pcap's infinite_rx holds the whole trace in mbufs of the process's pool."""
    return EAL_BASE_MB + packets * MBUF_BYTES * 2 // 2**20


def eal_args(prefix, lcores, packets):
    return [f"--lcores={lcores}", "--no-huge", "--no-pci", "--no-shconf",
            f"-m{eal_memory_mb(packets)}",
            f"--file-prefix={prefix}-{os.getpid()}", "--log-level=*:notice"]


# ---- set-up ----------------------------------------------------------------------------------


def ensure_packages():
    missing = [p for p in PACKAGES
               if "install ok installed" not in run(["dpkg-query", "-W", "-f=${Status}", p],
                                                    check=False).stdout]
    if missing:
        log(f"installing {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                       check=True, env=env)


def privlink_config(consumer_dev, provider_dev, api, extra_mbufs=0):
    """The one config: the trace is generated for it, privlinkd runs it. `extra_mbufs`: what a
    net_pcap device with infinite_rx holds (the whole trace) on top of privlinkd's own pool."""
    return {
        "dataplane": {
            "region": "compare", "workers": 1, "api": {"listen": api}, "stateDir": "",
            "extraMbufs": extra_mbufs,
            "ports": [
                {"name": "consumer0", "role": "consumer", "device": consumer_dev,
                 "mac": CONSUMER_MAC},
                {"name": "provider0", "role": "provider", "device": provider_dev,
                 "mac": PROVIDER_MAC, "subnet": f"{PROVIDER_PORT_IP}/24",
                 "staticNeighbors": [{"ip": ip, "mac": BACKEND_MAC} for ip in BACKENDS]},
            ],
        },
        "networks": [{"name": "net", "port": "consumer0", "vlan": 0}],
        "privateLinkServices": [{
            "name": "web", "subscription": "sub-provider",
            "loadBalancingRules": [{"frontendPort": 80, "backendPort": BACKEND_PORT}],
            "backends": [{"ip": ip} for ip in BACKENDS], "natIps": NAT_IPS,
            "visibility": ["*"], "autoApproval": ["sub-consumer"],
        }],
        "privateEndpoints": [{"name": "pe", "subscription": "sub-consumer", "network": "net",
                              "ip": PE_IP, "privateLinkService": "web"}],
    }


def write_config(name, consumer_dev, provider_dev, api="unix:/dev/null", extra_mbufs=0):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        json.dump(privlink_config(consumer_dev, provider_dev, api, extra_mbufs), f, indent=1)
    return path


def make_trace(build, flows):
    """privlink-tracegen's clients for `flows` connections, their SYNs only. (path, packets)"""
    clients = min(flows, 50000)
    if flows % clients:
        raise SystemExit(f"--flows {flows}: above 50000 use a multiple of 50000")
    config = write_config("tracegen.json", "net_null0", "net_null1")
    full, syn = (os.path.join(WORK, f"{k}-{flows}.pcap") for k in ("conversations", "syn"))
    run([f"{build}/tools/privlink-tracegen", "--config", config, "--consumer-out", full,
         "--provider-out", os.path.join(WORK, "provider.pcap"), "--clients", str(clients),
         "--connections", str(flows // clients)])
    run(["tcpdump", "-r", full, "-w", syn, "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"])
    packets = int(run(["tcpdump", "-r", syn, "-n", "-q"]).stdout.count("\n"))
    if packets != flows:
        raise RuntimeError(f"trace for {flows} flows has {packets} SYNs")
    os.remove(full)
    return syn, packets


def start_generator(trace, packets, out_devarg, ns=None):
    """dpdk-testpmd on AUX_CORE looping the trace (held in mbufs) out of `out_devarg`."""
    mbufs = packets + 16384
    cmd = in_ns(ns, ["dpdk-testpmd"] + eal_args("plkc-gen", f"0@{AUX_CORE},1@{AUX_CORE}",
                                                packets) + [
        f"--vdev=net_pcap0,rx_pcap={trace},infinite_rx=1", f"--vdev={out_devarg}", "--",
        "--forward-mode=io", "--auto-start", f"--total-num-mbufs={mbufs}",
        "--no-lsc-interrupt", "--stats-period=60"])  # a stats period keeps it off stdin
    return start(cmd, "generator.log")


# ---- the measurement, shared by every system ---------------------------------------------------


def measure(read, packets, window_s):
    """read() -> (offered, delivered) packet counters. Waits until one round of the trace got
    through (every flow exists), then WARMUP_S, then counts over window_s. Mpps both."""
    base = read()[1]
    wait_for(lambda: read()[1] - base >= packets, FIRST_ROUND_TIMEOUT_S,
             f"the first {packets} packets to get through")
    time.sleep(WARMUP_S)
    (o0, d0), t0 = read(), time.monotonic()
    time.sleep(window_s)
    (o1, d1), t1 = read(), time.monotonic()
    return {"mpps": (d1 - d0) / (t1 - t0) / 1e6, "offered_mpps": (o1 - o0) / (t1 - t0) / 1e6}


class TestpmdConsole:
    """An interactive dpdk-testpmd whose port counters can be read while it forwards."""

    def __init__(self, cmd, logname):
        self.lines = queue.Queue()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        STARTED.append(self.proc)
        self.log = open(log_path(logname), "w")
        self.ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()
        if not self.ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"dpdk-testpmd did not start forwarding in {START_TIMEOUT_S} s")

    def _pump(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.log.flush()
            if "packet forwarding - ports=" in line:
                self.ready.set()
            self.lines.put(line)

    def counters(self, ports=2):
        """(RX, TX) packets summed over every port: io forwarding receives on one port and
        sends on the other, whichever number the EAL gave each."""
        while not self.lines.empty():
            self.lines.get_nowait()
        self.proc.stdin.write("show port stats all\n")
        self.proc.stdin.flush()
        rx = tx = seen = 0
        while seen < ports:
            line = self.lines.get(timeout=30)
            if m := re.search(r"RX-packets:\s*(\d+)", line):
                rx += int(m.group(1))
            if m := re.search(r"TX-packets:\s*(\d+)", line):
                tx += int(m.group(1))
                seen += 1
        return rx, tx

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        stop(self.proc)


def run_testpmd(devargs, packets=0, ns=None, counters=None):
    """io forwarding between two ports on FWD_CORE, a pool for `packets` held by net_pcap.
    Returns (console, read)."""
    # stdbuf: testpmd's printf output must not wait in a pipe's buffer.
    cmd = in_ns(ns, ["stdbuf", "-oL", "dpdk-testpmd"] +
                eal_args("plkc-io", f"0@{AUX_CORE},1@{FWD_CORE}", packets) +
                [f"--vdev={d}" for d in devargs] +
                ["--", "-i", "--forward-mode=io", "--auto-start", "--no-lsc-interrupt", "--disable-link-check",
                 f"--total-num-mbufs={packets + 16384}"])
    console = TestpmdConsole(cmd, "testpmd.log")
    read = counters or console.counters
    return console, read


def run_privlinkd(build, config, packets, ns=None):
    api = json.load(open(config))["dataplane"]["api"]["listen"]
    cmd = in_ns(ns, [f"{build}/tools/privlinkd"] +
                eal_args("plkc-pd", f"0@{AUX_CORE},1@{FWD_CORE}", packets) +
                ["--", "--config", config])
    p = start(cmd, "privlinkd.log")
    wait_for(lambda: "privlinkd: forwarding" in open(log_path("privlinkd.log")).read()
             or p.poll() is not None, START_TIMEOUT_S, "privlinkd to start")
    if p.poll() is not None:
        raise RuntimeError("privlinkd exited: " + open(log_path("privlinkd.log")).read()[-2000:])

    def stats():
        return json.loads(run([f"{build}/tools/privlinkctl", "--server", api, "-o", "json",
                               "stats"]).stdout)["dataplane"]

    def read():
        ports = {p["name"]: p for p in stats()["ports"]}
        return ports["consumer0"]["rxPackets"], ports["provider0"]["txPackets"]

    return p, read, stats


def with_privlinkd_counts(result, stats):
    """`result` with privlinkd's own flow count and drops after the window."""
    d = stats()
    result["flows_seen"] = d["flows"]["total"]
    result["drops"] = sum(d["drops"].values())
    return result


# ---- the systems: set-up "dpdk" (net_pcap in, net_null out) --------------------------------------

def pcap_source(trace):
    return f"net_pcap0,rx_pcap={trace},infinite_rx=1"


def dpdk_testpmd(ctx, trace, packets):
    console, read = run_testpmd([pcap_source(trace), "net_null0,no-rx=1"], packets)
    try:
        return measure(read, packets, ctx.window)
    finally:
        console.close()


def dpdk_privlinkd(ctx, trace, packets):
    config = write_config("privlinkd-dpdk.json", pcap_source(trace), "net_null1,no-rx=1",
                          f"unix:{WORK}/api.sock", extra_mbufs=packets)
    daemon, read, stats = run_privlinkd(ctx.build, config, packets)
    try:
        return with_privlinkd_counts(measure(read, packets, ctx.window), stats)
    finally:
        stop(daemon)


def ovs_flows():
    """DNAT in conntrack zone 1 (a select group spreads new flows over the backends, as Maglev
    does), SNAT onto the NAT IPs in zone 2; packets of known connections take the NAT they have."""
    nat_range = f"{NAT_IPS[0]}-{NAT_IPS[-1]}"
    rewrite_l2 = f"mod_dl_src={PROVIDER_MAC},mod_dl_dst={BACKEND_MAC},output:prov"
    buckets = ",".join(f"bucket=actions=ct(commit,zone=1,nat(dst={ip}:{BACKEND_PORT}),table=2)"
                       for ip in BACKENDS)
    group = f"group_id=1,type=select,selection_method=hash,fields(ip_src,tcp_src),{buckets}"
    flows = [
        f"table=0,priority=10,in_port=cons,tcp,nw_dst={PE_IP},tp_dst=80,"
        "actions=ct(table=1,zone=1,nat)",
        "table=0,priority=0,actions=drop",
        "table=1,priority=10,ct_state=+new+trk,tcp,actions=group:1",
        "table=1,priority=9,ct_state=-new+trk,tcp,actions=ct(table=2,zone=2,nat)",
        f"table=2,priority=10,ct_state=+new+trk,tcp,"
        f"actions=ct(commit,zone=2,nat(src={nat_range})),{rewrite_l2}",
        f"table=2,priority=9,ct_state=-new+trk,tcp,actions={rewrite_l2}",
    ]
    return group, flows


def dpdk_ovs(ctx, trace, packets):
    rundir = log_path("ovs")
    os.makedirs(rundir)
    env = dict(os.environ, OVS_RUNDIR=rundir, OVS_DBDIR=rundir, OVS_LOGDIR=rundir)
    db = f"unix:{rundir}/db.sock"
    vsctl = ["ovs-vsctl", f"--db={db}", f"--timeout={START_TIMEOUT_S}"]
    ofctl = ["ovs-ofctl", "-O", "OpenFlow15"]
    run(["ovsdb-tool", "create", f"{rundir}/conf.db", OVS_SCHEMA])
    ovsdb = start(["ovsdb-server", f"--remote=punix:{rundir}/db.sock", f"{rundir}/conf.db"],
                  "ovsdb-server.log", env=env)
    wait_for(lambda: os.path.exists(f"{rundir}/db.sock"), 10, "ovsdb-server")
    # OVS adds --in-memory unless --legacy-mem is given, and DPDK 22.11 refuses --in-memory with
    # --no-huge; -m sizes the non-hugepage memory.
    extra = (f"--no-huge --legacy-mem --no-pci -m {eal_memory_mb(packets) + 1024} "
             f"--file-prefix=plkc-ovs-{os.getpid()}")
    run(vsctl + ["--no-wait", "init"], env=env)
    run(vsctl + ["--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                 f"other_config:dpdk-extra={extra}",
                 f"other_config:dpdk-lcore-mask={1 << AUX_CORE:#x}",
                 f"other_config:pmd-cpu-mask={1 << FWD_CORE:#x}"], env=env)
    vswitchd = start([OVS_VSWITCHD_DPDK, db], "ovs-vswitchd.log", env=env)
    try:
        wait_for(lambda: run(vsctl + ["get", "Open_vSwitch", ".", "dpdk_initialized"], env=env,
                             check=False).stdout.strip() == "true" or vswitchd.poll() is not None,
                 START_TIMEOUT_S, "OVS to initialise DPDK")
        if vswitchd.poll() is not None:
            raise RuntimeError("ovs-vswitchd-dpdk exited: " +
                               open(log_path("ovs-vswitchd.log")).read()[-2000:])
        run(vsctl + ["add-br", "br-plkc", "--", "set", "bridge", "br-plkc",
                     "datapath_type=netdev", "--",
                     "add-port", "br-plkc", "cons", "--", "set", "Interface", "cons", "type=dpdk",
                     f"options:dpdk-devargs={pcap_source(trace)}", "--",
                     "add-port", "br-plkc", "prov", "--", "set", "Interface", "prov", "type=dpdk",
                     "options:dpdk-devargs=net_null0,no-rx=1"], env=env)
        group, flows = ovs_flows()
        run(ofctl + ["del-flows", "br-plkc"], env=env)
        run(ofctl + ["add-group", "br-plkc", group], env=env)
        run(ofctl + ["add-flows", "br-plkc", "-"], input="\n".join(flows) + "\n", env=env)
        # Sequence-window checks off: the looped SYNs reuse their sequence numbers, and Linux's
        # conntrack and privlinkd do not check windows on them either.
        ctl = [c for c in os.listdir(rundir) if c.startswith("ovs-vswitchd") and c.endswith(".ctl")]
        appctl = ["ovs-appctl", "-t", os.path.join(rundir, ctl[0])]
        run(appctl + ["dpctl/ct-disable-tcp-seq-chk"], env=env)

        def port_packets(port, direction):
            out = run(ofctl + ["dump-ports", "br-plkc", port], env=env).stdout
            return int(re.search(rf"{direction} pkts=(\d+)", out).group(1))

        result = measure(lambda: (port_packets("cons", "rx"), port_packets("prov", "tx")),
                         packets, ctx.window)
        ct = run(appctl + ["dpctl/ct-stats-show"], env=env).stdout
        result["flows_seen"] = int(re.search(r"Total:\s*(\d+)", ct).group(1))
        return result
    finally:
        stop(vswitchd)
        stop(ovsdb)


# ---- the systems: set-up "kernel" (veth pairs and namespaces) ------------------------------------


def topology_cleanup():
    for ns in (NS_CONS, NS_RTR, NS_PROV):
        if os.path.exists(f"/run/netns/{ns}"):
            for pid in run(["ip", "netns", "pids", ns], check=False).stdout.split():
                os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "del", ns], check=False)


def topology_create(rps):
    """consumer ns --veth-- router ns --veth-- provider ns. The provider ns has no addresses: it
    counts what arrives (rx_packets) and drops it, so nothing answers and no return traffic
    competes. With `rps`, the router ns's receive work (for nftables: all of its forwarding)
    moves off the generator's core onto FWD_CORE; an AF_PACKET poller owns FWD_CORE, and the
    kernel's copy into its ring stays on the sender's core, as a NIC's DMA would."""
    topology_cleanup()
    for ns in (NS_CONS, NS_RTR, NS_PROV):
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(in_ns(ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]))
    run(["ip", "link", "add", IF_CONS, "netns", NS_CONS, "type", "veth", "peer", "name",
         IF_RTR_CONS, "netns", NS_RTR])
    run(["ip", "link", "add", IF_RTR_PROV, "netns", NS_RTR, "type", "veth", "peer", "name",
         IF_PROV, "netns", NS_PROV])
    for ns, dev, mac in ((NS_CONS, IF_CONS, None), (NS_RTR, IF_RTR_CONS, CONSUMER_MAC),
                         (NS_RTR, IF_RTR_PROV, PROVIDER_MAC), (NS_PROV, IF_PROV, BACKEND_MAC)):
        if mac:
            run(["ip", "-n", ns, "link", "set", dev, "address", mac])
        # Offloads off, as in the e2e test: AF_PACKET readers would see unfilled checksums.
        run(in_ns(ns, ["ethtool", "-K", dev, "rx", "off", "tx", "off", "tso", "off", "gso",
                       "off", "gro", "off"]), check=False)
        run(["ip", "-n", ns, "link", "set", dev, "up"])
    if rps:
        run(in_ns(NS_RTR, ["sh", "-c", f"echo {1 << FWD_CORE:x} > "
                           f"/sys/class/net/{IF_RTR_CONS}/queues/rx-0/rps_cpus"]))


def sysfs_counters():
    def packets(ns, dev, direction):
        return int(run(in_ns(ns, ["cat", f"/sys/class/net/{dev}/statistics/{direction}_packets"]))
                   .stdout)
    return lambda: (packets(NS_CONS, IF_CONS, "tx"), packets(NS_PROV, IF_PROV, "rx"))


SENDER = f"net_af_packet0,iface={IF_CONS},qdisc_bypass=1"


def kernel_testpmd(ctx, trace, packets):
    topology_create(rps=False)
    console, read = run_testpmd([f"net_af_packet0,iface={IF_RTR_CONS},qdisc_bypass=1",
                                 f"net_af_packet1,iface={IF_RTR_PROV},qdisc_bypass=1"],
                                ns=NS_RTR, counters=sysfs_counters())
    gen = start_generator(trace, packets, SENDER, ns=NS_CONS)
    try:
        return measure(read, packets, ctx.window)
    finally:
        stop(gen)
        console.close()


NFT_RULES = f"""
table ip plkc {{
  chain pre {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {PE_IP} tcp dport 80 dnat to jhash ip saddr . tcp sport mod {len(BACKENDS)} map {{ {
    ", ".join(f"{i} : {ip}" for i, ip in enumerate(BACKENDS))} }} : {BACKEND_PORT}
  }}
  chain post {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{IF_RTR_PROV}" snat to {NAT_IPS[0]}-{NAT_IPS[-1]}
  }}
}}
"""


def kernel_nftables(ctx, trace, packets):
    """The router ns routes with nftables DNAT (jhash over the backends) and SNAT (NAT IPs)."""
    topology_create(rps=True)
    run(in_ns(NS_RTR, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                       f"net.ipv4.conf.{IF_RTR_CONS}.rp_filter=0"]))
    run(["ip", "-n", NS_RTR, "addr", "add", f"{PROVIDER_PORT_IP}/24", "dev", IF_RTR_PROV])
    for ip in BACKENDS:
        run(["ip", "-n", NS_RTR, "neigh", "add", ip, "lladdr", BACKEND_MAC, "dev", IF_RTR_PROV,
             "nud", "permanent"])
    run(in_ns(NS_RTR, ["nft", "-f", "-"]), input=NFT_RULES)
    gen = start_generator(trace, packets, SENDER, ns=NS_CONS)
    try:
        result = measure(sysfs_counters(), packets, ctx.window)
        result["flows_seen"] = int(run(in_ns(NS_RTR, [
            "cat", "/proc/sys/net/netfilter/nf_conntrack_count"])).stdout)
        return result
    finally:
        stop(gen)


def kernel_privlinkd(ctx, trace, packets):
    """privlinkd in the router ns on net_af_packet: the kernel there neither routes nor answers."""
    topology_create(rps=False)
    config = write_config("privlinkd-kernel.json", f"net_af_packet0,iface={IF_RTR_CONS}",
                          f"net_af_packet1,iface={IF_RTR_PROV}", f"unix:{WORK}/api.sock")
    daemon, _, stats = run_privlinkd(ctx.build, config, 0, ns=NS_RTR)
    gen = start_generator(trace, packets, SENDER, ns=NS_CONS)
    try:
        return with_privlinkd_counts(measure(sysfs_counters(), packets, ctx.window), stats)
    finally:
        stop(gen)
        stop(daemon)


# (set-up, system, function); the first of each set-up is its I/O ceiling.
SYSTEMS = [
    ("dpdk", "testpmd-io", dpdk_testpmd),
    ("dpdk", "privlinkd", dpdk_privlinkd),
    ("dpdk", "ovs-dpdk", dpdk_ovs),
    ("kernel", "testpmd-io", kernel_testpmd),
    ("kernel", "privlinkd", kernel_privlinkd),
    ("kernel", "nftables", kernel_nftables),
]


# ---- results -----------------------------------------------------------------------------------


def machine():
    lscpu = run(["lscpu"]).stdout
    model = re.search(r"Model name:\s*(.*)", lscpu).group(1).strip()
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": os.uname().release,
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "load_average": os.getloadavg()}


def add_ratios(rows):
    for r in rows:
        same = [x for x in rows if x["setup"] == r["setup"] and x["flows"] == r["flows"]
                and "mpps" in x]
        ceiling = next((x for x in same if x["system"] == "testpmd-io"), None)
        privlink = next((x for x in same if x["system"] == "privlinkd"), None)
        if "mpps" in r:
            # Where the generator is a separate process, a system that keeps up with it was not
            # saturated: its figure is a lower bound.
            r["sender_bound"] = r["setup"] == "kernel" and r["mpps"] >= 0.97 * r["offered_mpps"]
            r["vs_ceiling"] = r["mpps"] / ceiling["mpps"] if ceiling else None
            r["vs_privlinkd"] = r["mpps"] / privlink["mpps"] if privlink else None


def print_table(rows):
    fmt = "{:<7} {:<11} {:>7} {:>8} {:>8} {:>9} {:>11}  {}"
    print(fmt.format("set-up", "system", "flows", "Mpps", "offered", "/ceiling", "/privlinkd",
                     "notes"))
    ratio = lambda v: f"{v:.2f}" if v is not None else "-"
    for r in rows:
        if "mpps" not in r:
            print(fmt.format(r["setup"], r["system"], r["flows"], "-", "-", "-", "-",
                             "FAILED: " + r["error"].replace("\n", " / ")[:300]))
            continue
        notes = ", ".join(f"{k} {r[k]}" for k in ("flows_seen", "drops") if k in r)
        if r["sender_bound"]:
            notes = "sender-bound (a lower bound)" + (", " + notes if notes else "")
        print(fmt.format(r["setup"], r["system"], r["flows"], f"{r['mpps']:.3f}",
                         f"{r['offered_mpps']:.3f}", ratio(r["vs_ceiling"]),
                         ratio(r["vs_privlinkd"]), notes))


def write_results(out, rows, info, plot_path):
    fields = ["setup", "system", "flows", "mpps", "offered_mpps", "vs_ceiling", "vs_privlinkd",
              "sender_bound", "flows_seen", "drops", "error"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"machine": info, "results": rows}, f, indent=1)
    series = sorted({(r["setup"], r["system"]) for r in rows if "mpps" in r},
                    key=lambda s: [x[:2] for x in SYSTEMS].index(s))
    plots = []
    for setup, system in series:
        data = os.path.join(out, f"{setup}-{system}.dat")
        with open(data, "w") as f:
            for r in rows:
                if (r["setup"], r["system"]) == (setup, system) and "mpps" in r:
                    f.write(f"{r['flows']} {r['mpps']:.4f}\n")
        dash = "dt 2" if setup == "kernel" else "dt 1"
        plots.append(f"'{data}' using 1:2 with linespoints lw 2 {dash} title '{system} ({setup})'")
    script = f"""set terminal pngcairo size 900,560 font ',10'
set output '{plot_path}'
set title "Mpps on one forwarding core ({info['cpu']}, {info['cpus']} CPUs, Linux {info['kernel']})"
set xlabel 'flows'
set ylabel 'Mpps (packets delivered)'
set logscale xy
set grid
set key outside right
plot {", ".join(plots)}
"""
    run(["gnuplot"], input=script)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--flows", default="1000,10000,100000")
    ap.add_argument("--window", type=float, default=10, help="seconds counted per point")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "compare"))
    ap.add_argument("--plot", default=os.path.join(REPO, "bench", "compare.png"),
                    help="where the plot goes (default: bench/compare.png, the one docs show)")
    ap.add_argument("--systems", default=",".join(f"{s}/{n}" for s, n, _ in SYSTEMS),
                    help="set-up/system pairs to run, e.g. dpdk/privlinkd,kernel/nftables")
    args = ap.parse_args()
    if os.getuid() != 0:
        raise SystemExit("bench/compare.py: run as root (namespaces, DPDK without hugepages)")
    ensure_packages()
    args.build = os.path.abspath(args.build)
    for tool in ("tools/privlinkd", "tools/privlinkctl", "tools/privlink-tracegen"):
        if not os.access(f"{args.build}/{tool}", os.X_OK):
            raise SystemExit(f"bench/compare.py: {args.build}/{tool} is missing (make build)")
    os.makedirs(args.out, exist_ok=True)
    chosen = set(args.systems.split(","))
    info = machine()
    log(f"machine: {info}; work dir {WORK}")
    rows = []
    for flows in [int(f) for f in args.flows.split(",")]:
        trace, packets = make_trace(args.build, flows)
        for setup, system, fn in SYSTEMS:
            if f"{setup}/{system}" not in chosen:
                continue
            log(f"{setup}/{system}, {flows} flows")
            LOG_TAG[0] = f"{setup}-{system}-{flows}-"
            row = {"setup": setup, "system": system, "flows": flows}
            try:
                row.update(fn(args, trace, packets))
                log(f"  {row['mpps']:.3f} Mpps (offered {row['offered_mpps']:.3f})")
            except Exception as e:  # one system failing must not lose the others' figures
                row["error"] = f"{type(e).__name__}: {e}"
                log(f"  failed: {row['error'][:500]}")
            rows.append(row)
        topology_cleanup()
    info["load_average_end"] = os.getloadavg()
    add_ratios(rows)
    print_table(rows)
    write_results(args.out, rows, info, args.plot)
    print(f"\nmachine: {info['cpu']}, {info['cpus']} CPUs, {info['memory_gib']} GiB, "
          f"Linux {info['kernel']}; load average {info['load_average'][0]:.1f} at start, "
          f"{info['load_average_end'][0]:.1f} at end")
    print(f"written: {args.out}/results.csv, results.json, {args.plot} (logs: {WORK})")


def cleanup():
    for p in list(STARTED):
        stop(p)
    topology_cleanup()
    # The EAL's runtime directories (made even with --no-shconf), named by eal_args.
    for name in ("plkc-gen", "plkc-io", "plkc-pd", "plkc-ovs"):
        shutil.rmtree(f"/var/run/dpdk/{name}-{os.getpid()}", ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
