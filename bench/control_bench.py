#!/usr/bin/env python3
"""The control plane at scale: privlinkd --no-dataplane with a state directory, driven over its
Unix socket by one keep-alive client.

  bench/control_bench.py [--build DIR] [--services 500] [--endpoints 50000] [--apply 10000]
                         [--puts 200]

Loads SERVICES services, then ENDPOINTS endpoints spread over them with POST /v1/apply in bulks of
APPLY (each one transaction), then times PUTS single endpoint PUTs at that size and, for
comparison, PUTS at the start (after the services, before the bulk). Then restarts privlinkd on
the same state and times it until it answers. Prints the PUT latencies (p50, p99) as the client
saw them and as privlinkd's own histogram (GET /metrics) has them, the time of each bulk, the
restart, and privlinkd's resident memory per endpoint.
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


class Daemon:
    def __init__(self, binary, config, work):
        self.binary, self.config, self.work = binary, config, work
        self.proc = None
        self.conn = None

    def start(self):
        started = time.perf_counter()
        self.proc = subprocess.Popen([self.binary, "--config", self.config, "--no-dataplane"],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.work, "privlinkd.log"), "a"))
        while True:
            try:
                self.conn = UnixConnection(os.path.join(self.work, "api.sock"))
                self.request("GET", "/v1/networks")
                return time.perf_counter() - started
            except (OSError, http.client.HTTPException):
                if self.proc.poll() is not None:
                    sys.exit(f"privlinkd exited: see {self.work}/privlinkd.log")
                time.sleep(0.01)

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        self.conn.request(method, path, data, headers)
        reply = self.conn.getresponse()
        text = reply.read()
        if reply.status >= 300:
            raise RuntimeError(f"{method} {path}: {reply.status} {text[:300]!r}")
        return text

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def service(i):
    return {"name": f"s{i}", "subscription": "sub", "visibility": ["*"], "autoApproval": ["sub"],
            "loadBalancingRules": [{"frontendPort": 80, "backendPort": 8080}],
            "backends": [{"ip": f"192.168.{i // 250}.{i % 250 + 1}"}],
            "natIps": [f"172.16.{i // 250}.{i % 250 + 1}"]}


def endpoint(i, services):
    return {"name": f"pe{i}", "subscription": "sub", "network": "net",
            "ip": f"10.{i // 62500}.{(i // 250) % 250}.{i % 250 + 1}",
            "privateLinkService": f"s{i % services}"}


def timed_puts(daemon, first, count, services):
    times = []
    for i in range(first, first + count):
        body = endpoint(i, services)
        name = body.pop("name")
        start = time.perf_counter()
        daemon.request("PUT", f"/v1/privateEndpoints/{name}", body)
        times.append(time.perf_counter() - start)
    return times


def put_histogram(daemon):
    """privlinkd's own PUT latency histogram: {upper bound in seconds: cumulative count}."""
    text = daemon.request("GET", "/metrics").decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith('privlink_api_request_duration_seconds_bucket{') and \
                'method="PUT"' in line:
            bound = line.split('le="')[1].split('"')[0]
            counts[float("inf") if bound == "+Inf" else float(bound)] = float(line.split()[-1])
    return counts


def server_summary(before, after):
    """Server-side p50 and p99 from two histogram scrapes: the bucket bound each falls under."""
    diff = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = diff[-1][1]

    def quantile(q):
        for bound, cumulative in diff:
            if cumulative >= q * total:
                return "above the last bound" if bound == float("inf") else f"<= {1000 * bound:g} ms"
        return "?"
    return f"p50 {quantile(0.5)}, p99 {quantile(0.99)} ({int(total)} requests)"


def summary(times):
    times = sorted(times)
    return (f"p50 {1000 * times[len(times) // 2]:.2f} ms, "
            f"p99 {1000 * times[min(len(times) - 1, int(len(times) * 0.99))]:.2f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build")
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--endpoints", type=int, default=50000)
    parser.add_argument("--apply", type=int, default=10000)
    parser.add_argument("--puts", type=int, default=200)
    args = parser.parse_args()
    if min(args.services, args.endpoints, args.apply, args.puts) < 1 or args.services > 62500:
        parser.error("--services 1..62500; --endpoints, --apply and --puts at least 1")
    binary = os.path.join(args.build, "tools", "privlinkd")
    work = tempfile.mkdtemp(prefix="plk-control-bench.")
    config = os.path.join(work, "privlink.json")
    with open(config, "w", encoding="utf-8") as f:
        json.dump({"dataplane": {"region": "bench", "stateDir": os.path.join(work, "state"),
                                 "api": {"listen": f"unix:{work}/api.sock"}},
                   "networks": [{"name": "net", "port": "consumer0", "vlan": 0}]}, f)
    daemon = Daemon(binary, config, work)
    try:
        daemon.start()
        empty_kib = daemon.rss_kib()
        start = time.perf_counter()
        daemon.request("POST", "/v1/apply",
                       {"privateLinkServices": [service(i) for i in range(args.services)]})
        print(f"{args.services} services in one apply: {time.perf_counter() - start:.2f} s")
        # The small model's PUT latency, on endpoints the bulk below overwrites.
        scrape = put_histogram(daemon)
        small = timed_puts(daemon, 0, args.puts, args.services)
        small_server = server_summary(scrape, put_histogram(daemon))
        loaded = 0
        while loaded < args.endpoints:
            count = min(args.apply, args.endpoints - loaded)
            start = time.perf_counter()
            reply = json.loads(daemon.request("POST", "/v1/apply", {"privateEndpoints": [
                endpoint(i, args.services) for i in range(loaded, loaded + count)]}))
            # The first bulk includes the endpoints the small model's PUTs made.
            if reply["created"] + reply["updated"] + reply["unchanged"] != count:
                sys.exit(f"apply: {reply}, want {count} endpoints")
            loaded += count
            print(f"apply of {count} endpoints (to {loaded}): {time.perf_counter() - start:.2f} s")
        scrape = put_histogram(daemon)
        large = timed_puts(daemon, args.endpoints, args.puts, args.services)
        large_server = server_summary(scrape, put_histogram(daemon))
        print(f"PUT of one endpoint, {args.puts} on one keep-alive connection (client; server):")
        print(f"  at {args.puts} endpoints: {summary(small)}; {small_server}")
        print(f"  at {args.endpoints}: {summary(large)}; {large_server}")
        rss_kib = daemon.rss_kib()
        print(f"privlinkd resident memory: {rss_kib / 1024:.1f} MiB "
              f"({1024 * (rss_kib - empty_kib) / (args.endpoints + args.puts):.0f} bytes per "
              f"endpoint over the empty daemon's {empty_kib / 1024:.1f} MiB)")
        daemon.stop()
        restart = daemon.start()
        print(f"restart with {args.endpoints + args.puts} endpoints: answering after "
              f"{restart:.2f} s")
        state = subprocess.run(["du", "-sk", os.path.join(work, "state")], capture_output=True,
                               text=True, check=False).stdout.split()[0]
        print(f"state directory: {int(state) / 1024:.1f} MiB")
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
