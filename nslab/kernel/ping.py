"""ICMP echo from inside a namespace with a raw socket: no ping binary, no fork.

The socket is opened by a thread that has entered the namespace, so it stays
there; replies are matched by identifier and sequence.  What a ping says is
worded as iputils' `ping` words it (`header`, `reply_line`, `summary_lines`,
`NO_SOURCE`), so a student sees what the tutorial shows.
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
from .inventory import Link

ICMP_ECHO, ICMP_REPLY = 8, 0
ICMP6_ECHO, ICMP6_REPLY = 128, 129
SO_BINDTODEVICE = 25
PAYLOAD = 56  # data bytes of an echo, as iputils sends by default: 64 with the ICMP header
# iputils' warning when -I names a device without an IPv4 address (iputils 20221126 wording)
NO_SOURCE = "ping: Warning: source address might be selected on device other than: {}"


def source(ns_fd: int, target: str, iface: str | None) -> str:
    """The source address the kernel picks for `target` (through `iface`): what iputils prints after `from`."""
    family = socket.AF_INET6 if ":" in target else socket.AF_INET

    def pick() -> str:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            if iface:
                s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
            s.connect((target, 1025))  # a UDP connect sends nothing: only the route lookup
            return str(s.getsockname()[0])

    try:
        return sysns.call_in(ns_fd, pick)
    except OSError:
        return "::" if family == socket.AF_INET6 else "0.0.0.0"


def header(target: str, iface: str | None = None, src: str | None = None) -> str:
    if ":" in target:
        return f"PING {target} ({target}) {PAYLOAD} data bytes" if not iface else \
            f"PING {target} ({target}) from {src} {iface}: {PAYLOAD} data bytes"
    via = f" from {src} {iface}:" if iface else ""
    return f"PING {target} ({target}){via} {PAYLOAD}({PAYLOAD + 28}) bytes of data."


def _ms(ms: float) -> str:
    """A round trip as iputils prints it: three significant digits below 100 ms."""
    us = int(ms * 1000)
    if us >= 100000:
        return f"{us // 1000}"
    if us >= 10000:
        return f"{us // 1000}.{us % 1000 // 100:01d}"
    if us >= 1000:
        return f"{us // 1000}.{us % 1000 // 10:02d}"
    return f"{us // 1000}.{us % 1000:03d}"


def _us3(ms: float) -> str:
    us = int(ms * 1000)  # iputils truncates to microseconds, as in its reply lines
    return f"{us // 1000}.{us % 1000:03d}"


def reply_line(e: PingReply) -> str:
    if e.ms is None:
        return f"no answer yet for icmp_seq={e.seq}"  # iputils' words for it (with -O)
    ttl = f" ttl={e.ttl}" if e.ttl is not None else ""
    return f"{e.size} bytes from {e.target}: icmp_seq={e.seq}{ttl} time={_ms(e.ms)} ms"


def summary_lines(e: PingSummary) -> list[str]:
    out = ["", f"--- {e.target} ping statistics ---",
           f"{e.sent} packets transmitted, {e.received} received, {e.loss:g}% packet loss, time {e.time_ms:.0f}ms"]
    if e.rtts:
        avg = sum(e.rtts) / len(e.rtts)
        mdev = max(0.0, sum(r * r for r in e.rtts) / len(e.rtts) - avg * avg) ** 0.5
        out.append("rtt min/avg/max/mdev = " + "/".join(_us3(v) for v in (min(e.rtts), avg, max(e.rtts), mdev)) + " ms")
    return out


def down_hint(links: dict[str, list[Link]], ns: str, target: str) -> str | None:
    """Why an unanswered ping may have gone nowhere: a link on the way that is down (the target's own
    interface, the context's interface on its subnet, or the other end of either's cable)."""
    addr = ipaddress.ip_address(target)
    by_ep = {(link.ns, link.name): link for found in links.values() for link in found}
    owners = [link for link in by_ep.values() if any(c.split("/")[0] == target for c in link.addrs)]
    near = [link for link in links.get(ns, []) if any(addr in ipaddress.ip_interface(c).network for c in link.addrs)]
    for link in [*owners, *near]:
        for end in (link, by_ep.get(link.peer) if link.peer else None):
            if end is not None and not end.up:
                up = f"link {end.name} up" if end.ns == "host" else f"{end.ns} link {end.name} up"
                what = f"{target} is on {link.ep}" if link in owners else f"{ns} reaches {target} through {link.ep}"
                cable = "" if end is link else f"; its cable's other end {end.ep} is down"
                return f"{what}{cable if cable else ', which is down'}: `{up}`"
    return None


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
    ident: int | None = None,
) -> Iterator[PingReply | PingSummary]:
    """Yield a PingReply per echo (ms None when none came back in `wait`), then a summary.  IDENT:
    the echoes' identifier (`trace` picks it, to know its echo among the frames it sees)."""
    addr = ipaddress.ip_address(target)
    sock = open_socket(ns_fd, addr.version, iface)
    if ident is None:
        ident = (os.getpid() ^ id(sock)) & 0xFFFF
    rtts: list[float] = []
    sent = 0
    interrupted = False
    first = last = 0.0
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
            first, last = first or t0, t0
            sent += 1
            reply = _await(sock, addr.version, ident, seq, t0 + wait)
            if reply is None:
                yield PingReply(str(addr), seq, None, None)
                continue
            last = reply[1]
            ttl, ms = reply[0], (reply[1] - t0) * 1000
            rtts.append(ms)
            yield PingReply(str(addr), seq, ttl, ms)
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C: the statistics still come, as iputils prints them
    finally:
        sock.close()
    yield PingSummary(str(addr), sent, len(rtts), rtts, (last - first) * 1000)
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
