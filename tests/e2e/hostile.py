#!/usr/bin/env python3
"""Hostile packets for tests/e2e/hygiene_test.sh, with scapy.

  hostile.py held PE_IP PORT GO_FILE          a client that holds one connection open mid-upload
  hostile.py consumer IFACE DST_MAC PE_IP MARK a client's corrupt SYNs, and one intact SYN that
                                              must arrive (each marked)
  hostile.py rst IFACE DST_MAC SRC DST SPORT DPORT SEQ MARK
                                              RSTs on a live connection: right sequence number
                                              with a wrong TCP or IPv4 checksum, or a good
                                              checksum one behind what the receiver expects
  hostile.py expect SIDE_PCAP SIDE_MAC OTHER_PCAP OTHER_MAC MARK COUNT ARRIVE
                                              COUNT marked packets left on SIDE_PCAP, ARRIVE of
                                              them arrived on OTHER_PCAP (MACs: privlinkd's port on
                                              each side, the source of what it sends there)
  hostile.py next-seq PCAP SRC SPORT DPORT    the sequence number after the last segment SRC:SPORT
                                              sent to DPORT

Every hostile packet carries MARK in its payload (SYNs and RSTs may carry data), so the capture at
the other side can be searched for it. Exits 77 where scapy is missing.
"""
import socket
import sys
import time

try:
    from scapy.all import IP, TCP, Ether, Raw, rdpcap, sendp  # pylint: disable=no-name-in-module
except ImportError:
    print("scapy is not installed (Debian: python3-scapy)", file=sys.stderr)
    sys.exit(77)


def with_bad_ipv4_checksum(pkt):
    pkt = Ether(bytes(pkt))
    pkt[IP].chksum ^= 0x0101
    return pkt


def with_bad_tcp_checksum(pkt):
    pkt = Ether(bytes(pkt))
    pkt[TCP].chksum ^= 0x0101
    return pkt


def held(pe_ip, port, go_file):
    """POSTs half a body, waits for GO_FILE, sends the rest: the answer proves the connection
    lived through what was sent in between."""
    body = bytes(range(256)) * 80  # 20480 bytes
    sock = socket.create_connection((pe_ip, int(port)), timeout=10)
    head = (f"POST /upload HTTP/1.0\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head + body[:10240])
    print("held: half sent", flush=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with open(go_file, encoding="utf-8"):
                break
        except FileNotFoundError:
            time.sleep(0.1)
    sock.sendall(body[10240:])
    answer = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    print("held: " + answer.decode(errors="replace").strip().splitlines()[-1], flush=True)


def consumer(iface, dst_mac, pe_ip, mark):
    base = Ether(dst=dst_mac) / IP(src="10.0.0.2", dst=pe_ip, ttl=64)
    pkts = []
    for i, sport in enumerate((41001, 41002, 41003, 41004, 41005)):
        syn = base / TCP(sport=sport, dport=80, flags="S", seq=7000 + i) / Raw(mark)
        if i == 0:
            pkts.append(with_bad_ipv4_checksum(syn))
        elif i == 1:
            pkts.append(with_bad_tcp_checksum(syn))
        elif i == 2:
            pkts.append(with_bad_tcp_checksum(with_bad_ipv4_checksum(syn)))
        elif i == 3:  # zero TCP checksum field: wrong for this segment
            syn = Ether(bytes(syn))
            syn[TCP].chksum = 0
            pkts.append(syn)
        else:  # intact: it must arrive, or the capture proves nothing
            pkts.append(Ether(bytes(syn)))
    sendp(pkts, iface=iface, verbose=False)
    print(f"consumer: sent {len(pkts) - 1} corrupt SYNs and an intact one")


def rst(iface, dst_mac, src, dst, sport, dport, seq, mark):
    seq = int(seq)
    base = Ether(dst=dst_mac) / IP(src=src, dst=dst, ttl=64)
    exact = base / TCP(sport=int(sport), dport=int(dport), flags="R", seq=seq) / Raw(mark)
    behind = base / TCP(sport=int(sport), dport=int(dport), flags="R",
                        seq=(seq - 1000) % (1 << 32)) / Raw(mark)
    pkts = [with_bad_tcp_checksum(exact), with_bad_ipv4_checksum(exact), Ether(bytes(behind))]
    sendp(pkts, iface=iface, verbose=False)
    print(f"rst: sent {len(pkts)} RSTs from {src}:{sport}")


def marked(pcap, mark):
    return [p for p in rdpcap(pcap) if Raw in p and mark.encode() in bytes(p[Raw].load)]


def expect(side_pcap, side_mac, other_pcap, other_mac, mark, count, arrive):
    # A capture holds what its namespace sent and what privlinkd sent to it (from its port MAC).
    sent = [p for p in marked(side_pcap, mark) if p[Ether].src != side_mac]
    arrived = [p for p in marked(other_pcap, mark) if p[Ether].src == other_mac]
    print(f"expect: {len(sent)} marked packets left {side_pcap}, {len(arrived)} reached "
          f"{other_pcap}")
    for p in arrived:
        print("  arrived: " + p.summary())
    return 0 if len(sent) == int(count) and len(arrived) == int(arrive) else 1


def next_seq(pcap, src, sport, dport):
    last = None
    for p in rdpcap(pcap):
        if (IP in p and TCP in p and p[IP].src == src and p[TCP].sport == int(sport)
                and p[TCP].dport == int(dport)):
            last = p
    if last is None:
        return 1
    tcp = last[TCP]
    length = len(bytes(tcp.payload)) + (1 if tcp.flags & 0x03 else 0)  # SYN or FIN count one
    print((tcp.seq + length) % (1 << 32))
    return 0


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "held":
        held(*args)
    elif command == "consumer":
        consumer(*args)
    elif command == "rst":
        rst(*args)
    elif command == "expect":
        return expect(*args)
    elif command == "next-seq":
        return next_seq(*args)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
