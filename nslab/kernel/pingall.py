"""Echoes from many namespaces to many addresses at once, in one thread: `pingall`.

One raw ICMP socket per source namespace, opened on the calling thread inside that namespace
(sysns.call_in: a socket keeps the namespace it was made in), so no thread ever has to enter
one.  Every echo of a round is sent at once, then one poll over all the sockets collects the
replies until each has come or the round's wait is over: a lab that answers costs a few
milliseconds of sending, not a timeout per pair.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..base.errors import CommandError
from .ping import ICMP_ECHO, ICMP_REPLY, _checksum, open_socket

SOL_RAW = 255
ICMP_FILTER = 1  # a bit set per ICMP type the raw socket does NOT receive
PAYLOAD = bytes(56)  # iputils' default size: 64 bytes of ICMP


@dataclass
class Echoes:
    """What one (source, target) pair got: echoes sent, round-trip times of the replies."""

    sent: int = 0
    rtts: list[float] = field(default_factory=list)
    error: str = ""


def _socket(fd: int) -> socket.socket:
    sock = open_socket(fd, 4)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    # only echo replies: the echo requests the other namespaces send here are not ours to read
    sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", ~(1 << ICMP_REPLY) & 0xFFFFFFFF))
    return sock


def _packet(ident: int, seq: int) -> bytes:
    header = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, _checksum(header + PAYLOAD), ident, seq) + PAYLOAD


def sweep(sources: Sequence[tuple[str, int]], targets: Sequence[tuple[str, str]], rounds: int = 1,
          wait: float = 1.0, until_answered: bool = False,
          skip: frozenset[tuple[str, str]] = frozenset()) -> dict[tuple[str, str], Echoes]:
    """Echoes from each source (name, namespace fd) to each target (name, IPv4 address) of
    another name, `rounds` times; with `until_answered` a later round goes only to the pairs
    that have had no reply yet.  Pairs in `skip` are not sent to (the caller says why)."""
    if rounds * len(targets) > 0xFFFF:
        raise CommandError(f"pingall: {rounds} rounds to {len(targets)} namespaces do not fit ICMP's 16-bit sequence")
    result = {(s, t): Echoes() for s, _ in sources for t, _ in targets if s != t and (s, t) not in skip}
    socks: list[socket.socket] = []
    try:
        for _, fd in sources:
            socks.append(_socket(fd))
        base = os.getpid() & 0xFFFF
        idents = {(base + i) & 0xFFFF: i for i in range(len(socks))}  # an echo's identifier: its source
        for r in range(rounds):
            sent_at: dict[tuple[int, int], float] = {}
            for ident, i in idents.items():
                src = sources[i][0]
                for j, (dst, addr) in enumerate(targets):
                    echoes = result.get((src, dst))
                    if echoes is None or echoes.error or (until_answered and echoes.rtts):
                        continue
                    seq = r * len(targets) + j
                    try:
                        t0 = time.monotonic()
                        socks[i].sendto(_packet(ident, seq), (addr, 0))
                    except OSError as e:  # no route: the kernel's own words, and no more echoes
                        echoes.error = e.strerror or str(e)
                        continue
                    echoes.sent += 1
                    sent_at[(ident, seq)] = t0
            _collect(socks, sources, targets, sent_at, idents, result, wait)
    finally:
        for sock in socks:
            sock.close()
    return result


def _collect(socks: list[socket.socket], sources: Sequence[tuple[str, int]], targets: Sequence[tuple[str, str]],
             sent_at: dict[tuple[int, int], float], by_ident: dict[int, int],
             result: dict[tuple[str, str], Echoes], wait: float) -> None:
    """Read replies until every echo of the round has one or `wait` has passed since the last was sent."""
    if not sent_at:
        return
    deadline = max(sent_at.values()) + wait
    poller = select.poll()  # poll, not select: hundreds of sockets pass select's FD_SETSIZE
    by_fd = {}
    for sock in socks:
        poller.register(sock, select.POLLIN)
        by_fd[sock.fileno()] = sock
    while sent_at:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        for fileno, _ in poller.poll(max(1, int(left * 1000 + 0.999))):
            sock = by_fd[fileno]
            while True:
                try:
                    data, (peer, _) = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                now = time.monotonic()
                ihl = (data[0] & 0x0F) * 4
                if len(data) < ihl + 8:
                    continue
                kind, _, _, ident, seq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
                t0 = sent_at.get((ident, seq))
                if kind != ICMP_REPLY or t0 is None:
                    continue
                dst, addr = targets[seq % len(targets)]
                if peer != addr:
                    continue  # not the address the echo went to
                del sent_at[(ident, seq)]
                result[(sources[by_ident[ident]][0], dst)].rtts.append((now - t0) * 1000)
