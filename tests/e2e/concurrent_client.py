#!/usr/bin/env python3
"""Opens N TCP connections to HOST:PORT at once, then sends one HTTP GET / on each.

Requests go out only once every connection is established (or has failed), so all N are open
together. Prints a JSON summary: {"connected", "ok", "error_count", "errors" (the first few),
"backends": {page: count}}; exits 1 if any connection failed.
"""

import argparse
import asyncio
import collections
import json
import sys


class Barrier:
    """Releases the requests when every connection attempt has finished (up or failed)."""

    def __init__(self, count):
        self.remaining = count
        self.connected = 0
        self.released = asyncio.Event()

    def attempt_done(self, connected):
        self.connected += connected
        self.remaining -= 1
        if self.remaining == 0:
            self.released.set()


async def one_connection(host, port, barrier, timeout):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except BaseException:
        barrier.attempt_done(False)
        raise
    barrier.attempt_done(True)
    try:
        await barrier.released.wait()
        writer.write(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200"):
        raise RuntimeError(f"unexpected response {head[:40]!r}")
    return body.decode().strip()


async def run(host, port, count, timeout):
    barrier = Barrier(count)
    results = await asyncio.gather(
        *(one_connection(host, port, barrier, timeout) for _ in range(count)),
        return_exceptions=True)
    return barrier.connected, results


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    connected, results = asyncio.run(run(args.host, args.port, args.count, args.timeout))
    pages = collections.Counter(r for r in results if isinstance(r, str))
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    json.dump({"connected": connected, "ok": sum(pages.values()), "error_count": len(errors),
               "errors": errors[:5], "backends": dict(pages)}, sys.stdout)
    print()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
