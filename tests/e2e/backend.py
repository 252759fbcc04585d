#!/usr/bin/env python3
"""One backend of the end-to-end topology: an HTTP server bound to one address.

GET /            a page naming this backend ("privlink e2e backend <ip>")
GET /files/NAME  the file NAME from --root (sent with sendfile)
POST /upload     reads the body, answers "<length> <sha256>"

Every request appends "<client ip> <client port> <method> <path> <status>" to --log, so the test
can see which source addresses (NAT IPs) reached the backend.
"""

import argparse
import hashlib
import http.server
import os
import threading


def make_handler(bind, root, log_file, log_lock):
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "privlink-e2e-backend"

        def log_request(self, code="-", size="-"):
            del size
            line = f"{self.client_address[0]} {self.client_address[1]} {self.command} {self.path} {code}\n"
            with log_lock:
                log_file.write(line)
                log_file.flush()

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass  # errors are visible to the clients; keep stderr quiet

        def _reply(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/":
                self._reply(f"privlink e2e backend {bind}\n".encode())
                return
            name = self.path[len("/files/"):] if self.path.startswith("/files/") else ""
            path = os.path.join(root, name)
            if not name or "/" in name or not os.path.isfile(path):
                self.send_error(404)
                return
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                self.wfile.flush()
                try:
                    self.connection.sendfile(f)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client (or privlinkd's teardown) ended the connection

        def do_POST(self):
            if self.path != "/upload":
                self.send_error(404)
                return
            remaining = int(self.headers.get("Content-Length", "0"))
            digest = hashlib.sha256()
            length = 0
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                digest.update(chunk)
                length += len(chunk)
                remaining -= len(chunk)
            self._reply(f"{length} {digest.hexdigest()}\n".encode())

    return Handler


class Server(http.server.ThreadingHTTPServer):
    # The default backlog of 5 would drop SYNs when hundreds of connections arrive at once.
    request_queue_size = 1024
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--root", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    with open(args.log, "a", encoding="ascii") as log_file:
        handler = make_handler(args.bind, args.root, log_file, threading.Lock())
        with Server((args.bind, args.port), handler) as server:
            server.serve_forever()


if __name__ == "__main__":
    main()
