"""nslab's own small servers (`serve http NS [PORT]`, `serve echo NS PORT`), as a program of their own.

Standard library only and no import of nslab: the lab runs this file with its own Python
(`python3 -I -u servers.py KIND PORT NS`) as a background program in the namespace, and
`export sh` writes the same text as `python3 -c '...' KIND PORT NS`, so bash runs the same server.
It prints `listening on ADDR:PORT` once bound (the lab waits for that line), then a line per request.
"""

import socket
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def _family() -> tuple[int, str]:
    """IPv6 and IPv4 on one socket where the namespace has IPv6, else IPv4 only."""
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
        return socket.AF_INET6, "::"
    except OSError:
        return socket.AF_INET, "0.0.0.0"


class _Http(HTTPServer):
    allow_reuse_address = True

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _Echo(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def _peer(address: tuple) -> str:
    return str(address[0]).removeprefix("::ffff:")  # an IPv4 client of the dual-stack socket


def _page(ns: str, port: int) -> type:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = f"nslab serve http in {ns}, port {port}: you asked for {self.path}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
            print(f"{_peer(self.client_address)} {format % args}", flush=True)

    return Page


class _Back(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        print(f"connection from {_peer(self.client_address)} port {self.client_address[1]}", flush=True)
        got = 0
        while data := self.request.recv(65536):
            self.request.sendall(data)
            got += len(data)
        print(f"{_peer(self.client_address)} port {self.client_address[1]} closed after {got} bytes", flush=True)


def main(argv: list[str]) -> int:
    kind, port, ns = argv[0], int(argv[1]), argv[2] if len(argv) > 2 else "?"
    family, host = _family()
    server_class, handler = (_Http, _page(ns, port)) if kind == "http" else (_Echo, _Back)
    server_class.address_family = family
    try:
        server = server_class((host, port), handler)
    except OSError as e:
        print(f"cannot listen on port {port}: {e.strerror}", flush=True)
        return 1
    print(f"listening on {host} port {port} ({kind})", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
