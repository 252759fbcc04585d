#!/usr/bin/env python3
"""A client of tests/e2e/proxy_server.go through the PE: it waits for the server's greeting before
it sends a byte (the server speaks first), then runs one command.

  proxy_client.py HOST PORT greet        prints "<local port> <greeting>"
  proxy_client.py HOST PORT close        connects and closes at once; prints "<local port>"
  proxy_client.py HOST PORT first        speaks first ("DOWN 16"), for a connection that carries
                                         no header (the server waits for bytes to tell); prints
                                         "<local port> <greeting>"
  proxy_client.py HOST PORT down N       prints "<local port> <bytes received> <sha256>"
  proxy_client.py HOST PORT up N         sends N random bytes; prints
                                         "<local port> <sha256 sent> <sha256 the server got>"
"""

import hashlib
import os
import socket
import sys


def read_line(sock):
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return line.decode().strip()


def main():
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.create_connection((host, port), timeout=30)
    local_port = sock.getsockname()[1]
    if mode == "close":
        sock.close()
        print(local_port)
        return
    if mode == "first":
        sock.sendall(b"DOWN 16\n")
    greeting = read_line(sock)
    if mode in ("greet", "first"):
        print(local_port, greeting)
        return
    count = int(sys.argv[4])
    digest = hashlib.sha256()
    if mode == "down":
        sock.sendall(f"DOWN {count}\n".encode())
        got = 0
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while True:
            n = sock.recv_into(buf)
            if n == 0:
                break
            digest.update(view[:n])
            got += n
        print(local_port, got, digest.hexdigest())
    else:
        sock.sendall(f"UP {count}\n".encode())
        block = os.urandom(1 << 20)
        left = count
        while left > 0:
            piece = block[: min(left, len(block))]
            sock.sendall(piece)
            digest.update(piece)
            left -= len(piece)
        print(local_port, digest.hexdigest(), read_line(sock))


if __name__ == "__main__":
    main()
