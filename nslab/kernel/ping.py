"""ICMP echo from inside a namespace with a raw socket: no ping binary, no fork.

The socket is opened by a thread that has entered the namespace, so it stays
there; replies are matched by identifier and sequence.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import select
import socket
import struct
import time
from collections.abc import Iterator

from ..base.errors import CommandError
from ..base.results import PingReply, PingSummary
from . import sysns

ICMP_ECHO, ICMP_REPLY = 8, 0
ICMP6_ECHO, ICMP6_REPLY = 128, 129
SO_BINDTODEVICE = 25


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def open_socket(ns_fd: int, version: int, iface: str | None = None) -> socket.socket:
    def make() -> socket.socket:
        if version == 4:
            return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)

    try:
        sock = sysns.call_in(ns_fd, make)
    except PermissionError:
        raise CommandError("ping needs CAP_NET_RAW in the lab (run nslab in isolated mode or as root)") from None
    if iface:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
        except OSError as e:
            sock.close()
            raise CommandError(f"ping -I {iface}: {e.strerror}") from None
    return sock


def ping(
    ns_fd: int,
    target: str,
    count: int = 3,
    interval: float = 1.0,
    wait: float = 1.0,
    iface: str | None = None,
) -> Iterator[PingReply | PingSummary]:
    """Yield a PingReply per echo (ms None when none came back in `wait`), then a summary."""
    addr = ipaddress.ip_address(target)
    sock = open_socket(ns_fd, addr.version, iface)
    ident = (os.getpid() ^ id(sock)) & 0xFFFF
    rtts: list[float] = []
    sent = 0
    interrupted = False
    try:
        for seq in range(1, count + 1):
            if seq > 1:
                time.sleep(max(0.0, interval))
            payload = struct.pack("!d", time.monotonic()) + bytes(48)
            kind = ICMP_ECHO if addr.version == 4 else ICMP6_ECHO
            header = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
            csum = _checksum(header + payload) if addr.version == 4 else 0  # the kernel fills ICMPv6's
            packet = struct.pack("!BBHHH", kind, 0, csum, ident, seq) + payload
            t0 = _send(sock, packet, str(addr), target)
            sent += 1
            reply = _await(sock, addr.version, ident, seq, t0 + wait)
            if reply is None:
                yield PingReply(str(addr), seq, None, None)
                continue
            ttl, ms = reply[0], (reply[1] - t0) * 1000
            rtts.append(ms)
            yield PingReply(str(addr), seq, ttl, ms)
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C: the statistics still come, as iputils prints them
    finally:
        sock.close()
    yield PingSummary(str(addr), sent, len(rtts), rtts)
    if interrupted:
        raise KeyboardInterrupt


def _send(sock: socket.socket, packet: bytes, addr: str, target: str) -> float:
    """Send one echo; the time it left.  A fresh IPv6 address is tentative while the kernel's
    duplicate address detection runs (about a second): wait for it rather than fail."""
    deadline = time.monotonic() + 3.0
    while True:
        try:
            t0 = time.monotonic()
            sock.sendto(packet, (addr, 0))
            return t0
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise CommandError(f"ping {target}: {e.strerror}") from None


def _await(sock: socket.socket, version: int, ident: int, seq: int, deadline: float) -> tuple[int | None, float] | None:
    # poll, not select: a lab of 500 namespaces holds descriptors past select's FD_SETSIZE of 1024
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if not poller.poll(max(1, int(left * 1000 + 0.999))):
            continue  # the deadline is checked again above
        data, _ = sock.recvfrom(2048)
        now = time.monotonic()
        if version == 4:
            ihl = (data[0] & 0x0F) * 4
            ttl: int | None = data[8]
            icmp = data[ihl:]
            want = ICMP_REPLY
        else:
            icmp, ttl, want = data, None, ICMP6_REPLY
        if len(icmp) < 8:
            continue
        kind, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
        if kind == want and rid == ident and rseq == seq:
            return ttl, now
