"""One rtnetlink socket, of the mirror's (kernel/mirror.py), that hears every namespace the host
has an id for (NETLINK_LISTEN_ALL_NSID) and also asks: its answers and the announcements come
on the same socket, so an announcement read while waiting for an answer is handed on in order."""

from __future__ import annotations

import errno
import os
import random
import select
import socket
import struct
from collections.abc import Callable, Iterator

from . import sysns
from .nlmsg import (
    NETLINK_GET_STRICT_CHK,
    NETLINK_ROUTE,
    NLHDR,
    NLM_F_DUMP,
    NLM_F_ECHO,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    SOL_NETLINK,
)

NETLINK_ADD_MEMBERSHIP, NETLINK_LISTEN_ALL_NSID = 1, 8
GROUPS = (1, 5, 9)  # RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR
SO_RCVBUFFORCE = 33
ANC = socket.CMSG_SPACE(4)  # the namespace's id, with each announcement from another
RCVBUF = 8 << 20  # a burst of steps between two reads (the reader sleeps between pictures)

Held = Callable[[int | None, bytes], None]  # (the host's id of the namespace, None: the host; messages)


class AllNsid:
    def __init__(self, host_fd: int, held: Held) -> None:
        self.sock = sysns.call_in(host_fd, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                                                 NETLINK_ROUTE))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)  # root only
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)  # dumps of another namespace's addresses
        self.portid = _bind(self.sock)
        for group in GROUPS:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, 1)
        self.sock.setblocking(False)
        self.held = held
        self.buf = bytearray(1 << 16)
        self.seq = 0
        self.waiter = select.poll()
        self.waiter.register(self.sock, select.POLLIN)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def _recv(self) -> tuple[int | None, bytes]:
        n, anc, _, _ = self.sock.recvmsg_into([self.buf], ANC)
        nsid = None
        for level, kind, d in anc:
            if level == SOL_NETLINK and kind == NETLINK_LISTEN_ALL_NSID:
                nsid = struct.unpack_from("=i", d)[0]
        return nsid, bytes(self.buf[:n])

    def events(self) -> Iterator[tuple[int | None, bytes]]:
        """The announcements waiting; raises OSError (ENOBUFS) when some were lost."""
        while True:
            try:
                nsid, data = self._recv()
            except BlockingIOError:
                return
            if not data:
                return
            yield nsid, data

    def ask(self, kind: int, body: bytes, dump: bool = False, echo: bool = False) -> list[tuple[int, bytes]]:
        """Send a request and read its answer; announcements read meanwhile go to `held`, in order.
        No acknowledgement is asked for (the answer, or the error, is enough): each recv is a
        thread switch with the lab's when both want the interpreter."""
        self.seq += 1
        seq = self.seq
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0) | (NLM_F_ECHO if echo else 0)
        self.sock.send(NLHDR.pack(NLHDR.size + len(body), kind, flags, seq, 0) + body)
        out: list[tuple[int, bytes]] = []
        while True:
            try:
                nsid, data = self._recv()  # the kernel answers within send (a dump: its first part)
            except BlockingIOError:
                if not self.waiter.poll(2000):
                    raise OSError(errno.ETIMEDOUT, "the kernel did not answer") from None
                continue
            if len(data) < NLHDR.size or NLHDR.unpack_from(data)[3:] != (seq, self.portid):
                self.held(nsid, data)
                continue
            for k, payload in messages(data):
                if k == NLMSG_DONE:
                    return out
                if k == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return out
                out.append((k, payload))
            if not dump:
                return out


def _bind(sock: socket.socket) -> int:
    """A port id no socket the kernel numbers can have.  The kernel leaves a change's announcement
    out for the socket whose id is its requester's, in any namespace, and numbers a process's
    first socket in each namespace by its PID: the lab's in every namespace, and this one too
    (the same process) if it bound first in the host, which would then hear none of the lab's
    echoed changes.  Ids the kernel gives are the PID or from 2**31 up: this takes one between."""
    for _ in range(64):
        portid = random.randrange(1 << 30, 1 << 31)
        try:
            sock.bind((portid, 0))
            return portid
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, "no free netlink port id")


def messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + NLHDR.size <= len(data):
        length, kind = NLHDR.unpack_from(data, offset)[:2]
        if length < NLHDR.size:
            return
        yield kind, data[offset + NLHDR.size: offset + length]
        offset += (length + 3) & ~3
