"""A TCP connection from inside a namespace (`connect`, `expect connect`): accepted or not, and why.

The socket is opened on the calling thread inside the namespace (sysns.call_in) and keeps it;
no thread stays in the namespace.  Only the handshake is made: nothing is sent.
"""

from __future__ import annotations

import errno
import socket
import time

from . import sysns


def connect(fd: int, addr: str, port: int, wait: float) -> tuple[bool, str]:
    """(accepted, what was found) for a TCP connection to ADDR:PORT from the namespace open as fd."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    where = f"[{addr}]:{port}" if family == socket.AF_INET6 else f"{addr}:{port}"
    try:
        sock = sysns.call_in(fd, lambda: socket.socket(family, socket.SOCK_STREAM))
    except OSError as e:
        return False, f"cannot open a socket in the namespace: {e.strerror}"
    with sock:
        sock.settimeout(wait)
        t0 = time.monotonic()
        try:
            sock.connect((addr, port))
        except TimeoutError:
            return False, f"no answer from {where} within {wait:g} s (nothing on the way answers: a route, a link down?)"
        except ConnectionRefusedError:
            return False, f"{where} refused the connection: nothing listens on port {port} there"
        except OSError as e:
            if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                return False, f"{where}: {e.strerror} (no route from this namespace, or no answer to ARP)"
            return False, f"{where}: {e.strerror}"
        ms = (time.monotonic() - t0) * 1000
        return True, f"{where} accepted the connection in {ms:.2f} ms"
