#!/usr/bin/env python3
"""Checks the frames privlink's packet fixture tests sent (tests/dataplane/fixture_test.cc) with
scapy, a reader independent of privlink and of the tests' frame builder.

  check_checksums.py CAPTURE.pcap EXPECT --nat-ips A,B --pe-ip P --client-ip C

EXPECT has one line per frame: the side it left on (provider or consumer) and the IPv4 header and
TCP checksum residuals expected of it, decimal: 0 for a correct checksum; for a packet that came in
with a wrong checksum, the input's residual, since privlink carries the error through unchanged.
The residual is the one's-complement sum over the covered bytes, checksum included, inverted.

Every frame must be IPv4 TCP; on the provider side from a NAT IP and never to the client, on a
consumer side from the PE to the client (no packet leaves untranslated). The TCP segment is what
the IPv4 total length says: bytes past it are Ethernet padding.

Exit status: 0 all good, 1 some frame is wrong, 2 bad input, 77 scapy is not installed.
"""
import argparse
import sys

try:
    from scapy.layers.inet import IP, TCP, in4_chksum
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.utils import PcapReader, checksum
except ImportError:
    sys.exit(77)


def check(number, frame, side, want_ip, want_tcp, args):
    """Returns what is wrong with one frame (an empty list when nothing is)."""
    problems = []
    eth = Ether(frame)
    if IP not in eth or TCP not in eth:
        return [f"not IPv4 TCP: {eth.summary()}"]
    ip = eth[IP]
    l3 = 18 if Dot1Q in eth else 14
    raw = frame[l3:]
    header_len = ip.ihl * 4
    if ip.len > len(raw) or ip.len < header_len + 20:
        return [f"IPv4 total length {ip.len} does not fit the frame"]
    ip_residual = checksum(raw[:header_len])
    tcp_residual = in4_chksum(6, ip, raw[header_len:ip.len])
    if ip_residual != want_ip:
        problems.append(f"IPv4 checksum {ip.chksum:#06x}: residual {ip_residual:#06x}, "
                        f"want {want_ip:#06x}")
    if tcp_residual != want_tcp:
        problems.append(f"TCP checksum {eth[TCP].chksum:#06x}: residual {tcp_residual:#06x}, "
                        f"want {want_tcp:#06x}")
    if side == "provider":
        if Dot1Q in eth:
            problems.append("VLAN tag on the provider side")
        if ip.src not in args.nat_ips:
            problems.append(f"source {ip.src} on the provider side is not a NAT IP")
        if args.client_ip in (ip.src, ip.dst) or args.pe_ip in (ip.src, ip.dst):
            problems.append(f"consumer address on the provider side: {ip.src} -> {ip.dst}")
    else:
        if (ip.src, ip.dst) != (args.pe_ip, args.client_ip):
            problems.append(f"{ip.src} -> {ip.dst} on a consumer side, want "
                            f"{args.pe_ip} -> {args.client_ip}")
        if ip.src in args.nat_ips or ip.dst in args.nat_ips:
            problems.append("NAT IP on a consumer side")
    return [f"frame {number} ({side}): {p}" for p in problems]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture")
    parser.add_argument("expect")
    parser.add_argument("--nat-ips", required=True, type=lambda s: s.split(","))
    parser.add_argument("--pe-ip", required=True)
    parser.add_argument("--client-ip", required=True)
    args = parser.parse_args()

    with open(args.expect, encoding="ascii") as f:
        expected = [line.split() for line in f if line.strip()]
    try:
        frames = [bytes(record) for record in PcapReader(args.capture)]
    except Exception as e:  # scapy raises several kinds for a bad file
        print(f"cannot read {args.capture}: {e}")
        return 2
    if len(frames) != len(expected):
        print(f"{len(frames)} frames in the capture, {len(expected)} expectations")
        return 2

    problems = []
    for number, (frame, (side, want_ip, want_tcp)) in enumerate(zip(frames, expected)):
        problems += check(number, frame, side, int(want_ip), int(want_tcp), args)
    for p in problems[:50]:
        print(p)
    print(f"checked {len(frames)} frames, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
