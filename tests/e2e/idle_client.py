#!/usr/bin/env python3
"""Holds one idle TCP connection and says how it ended.

  idle_client.py HOST PORT SECONDS

Connects, sends the first line of an HTTP request (so the server waits for the rest), then
waits up to SECONDS for anything from the peer. Prints "connected", then one of "reset after
N.N s", "closed after N.N s" (an orderly FIN) or "nothing in SECONDS s"."""
import socket
import sys
import time

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sock = socket.create_connection((host, port), timeout=5)
sock.sendall(b"GET / HTTP/1.1\r\n")
print("connected", flush=True)
sock.settimeout(seconds)
start = time.monotonic()
try:
    data = sock.recv(1)
    print(f"closed after {time.monotonic() - start:.1f} s" if not data else f"data {data!r}",
          flush=True)
except ConnectionResetError:
    print(f"reset after {time.monotonic() - start:.1f} s", flush=True)
except socket.timeout:
    print(f"nothing in {seconds:g} s", flush=True)
