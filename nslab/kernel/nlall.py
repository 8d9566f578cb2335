"""The mirror's (kernel/mirror.py) two rtnetlink sockets in the lab's host: one that hears every
namespace the host has an id for (NETLINK_LISTEN_ALL_NSID), and one that asks."""

from __future__ import annotations

import ctypes
import errno
import os
import random
import select
import socket
import struct
from collections.abc import Iterator

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

MSG_DONTWAIT = 0x40
CMSG = struct.Struct("=Qii" if ctypes.sizeof(ctypes.c_size_t) == 8 else "=Iii")  # struct cmsghdr; its data follows


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32), ("msg_iov", ctypes.POINTER(_Iovec)),
                ("msg_iovlen", ctypes.c_size_t), ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


_held = ctypes.PyDLL(None, use_errno=True)  # libc, called without letting go of the interpreter


class AllNsid:
    def __init__(self, host_fd: int) -> None:
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
        self.data = ctypes.create_string_buffer(1 << 16)
        self.control = ctypes.create_string_buffer(ANC)
        self.iov = _Iovec(ctypes.cast(self.data, ctypes.c_void_p), len(self.data))
        self.msg = _Msghdr(None, 0, ctypes.pointer(self.iov), 1, ctypes.cast(self.control, ctypes.c_void_p), ANC, 0)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def _recv(self) -> tuple[int | None, bytes]:
        """One announcement, by libc's recvmsg with the interpreter held (as Asker's calls: a burst
        of steps is a thousand of them), and the namespace's id from its control message."""
        self.msg.msg_controllen = ctypes.sizeof(self.control)
        n = _held.recvmsg(self.sock.fileno(), ctypes.byref(self.msg), MSG_DONTWAIT)
        if n < 0:
            code = ctypes.get_errno()
            raise BlockingIOError(code, "") if code == errno.EAGAIN else OSError(code, os.strerror(code))
        nsid = None
        if self.msg.msg_controllen >= CMSG.size + 4:
            _, level, kind = CMSG.unpack_from(self.control)
            if level == SOL_NETLINK and kind == NETLINK_LISTEN_ALL_NSID:
                nsid = struct.unpack_from("=i", self.control, CMSG.size)[0]
        return nsid, self.data.raw[:n]

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


class Asker:
    """A plain rtnetlink socket in the host for the mirror's requests.  Its send and recv are libc's
    called with the interpreter held (ctypes.PyDLL): the kernel answers within the send, so they never
    wait, and the lab's thread is not handed the interpreter and taken it back at every call (a
    namespace's opening is a dozen calls; 200 of them, each two thread switches, cost a star's
    steps more than the reading itself)."""

    def __init__(self, host_fd: int) -> None:
        self.sock = sysns.call_in(host_fd, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                                                 NETLINK_ROUTE))
        self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)  # dumps of another namespace's addresses
        self.portid = _bind(self.sock)
        self.fd = self.sock.fileno()
        self.buf = ctypes.create_string_buffer(1 << 16)
        self.seq = 0
        self.waiter = select.poll()
        self.waiter.register(self.fd, select.POLLIN)

    def close(self) -> None:
        self.sock.close()

    def _recv(self) -> bytes:
        while True:
            n = _held.recv(self.fd, self.buf, len(self.buf), MSG_DONTWAIT)
            if n >= 0:
                return self.buf.raw[:n]
            code = ctypes.get_errno()
            if code not in (errno.EAGAIN, errno.EINTR):
                raise OSError(code, os.strerror(code))
            if code == errno.EAGAIN and not self.waiter.poll(2000):  # not expected: the answer is queued
                raise OSError(errno.ETIMEDOUT, "the kernel did not answer")

    def ask(self, kind: int, body: bytes, dump: bool = False, echo: bool = False) -> list[tuple[int, bytes]]:
        """Send a request and read its answer (no acknowledgement asked for: the answer or the error is enough)."""
        self.seq += 1
        seq = self.seq
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0) | (NLM_F_ECHO if echo else 0)
        msg = NLHDR.pack(NLHDR.size + len(body), kind, flags, seq, 0) + body
        if _held.send(self.fd, msg, len(msg), 0) < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        out: list[tuple[int, bytes]] = []
        while True:
            data = self._recv()
            if len(data) < NLHDR.size or NLHDR.unpack_from(data)[3] != seq:
                continue  # a late answer to an earlier request
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
