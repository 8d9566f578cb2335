"""Watching a lab for changes made elsewhere: an rtnetlink socket per namespace, subscribed to
link and address events, and inotify on the lab's netns directory (namespaces made and deleted).

No threads: a face reads `fds` with its own event loop (prompt_toolkit's add_reader) and calls
`handle(fd)` when one is readable.  Each socket is opened inside its namespace as the lab's own
are (rtnl.open_in): a socket stays bound to the namespace it was made in, whichever thread
reads it.  A socket keeps its namespace alive, so a deleted namespace's socket is closed at once
(inotify says so), and a face closes the monitor while its own lab runs a step.
"""

from __future__ import annotations

import ctypes
import os
import socket

from .nlmsg import SOL_NETLINK
from .rtnl import Rtnl, open_in

NETLINK_ADD_MEMBERSHIP = 1
# rtnetlink multicast groups (linux/rtnetlink.h): what the toolbar and completion show
RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR = 1, 5, 9
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO, IN_DELETE_SELF = 0x100, 0x200, 0x40, 0x80, 0x400
MAX_WATCHED = 256  # past this many namespaces only the lab's host namespace is watched

_libc = ctypes.CDLL(None, use_errno=True)


def _inotify(path: str) -> int | None:
    """A non-blocking inotify fd watching PATH's entries, or None when it cannot."""
    fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    if fd < 0:
        return None
    mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF
    if _libc.inotify_add_watch(fd, path.encode(), mask) < 0:
        os.close(fd)
        return None
    return fd


def _subscribe(nl: Rtnl) -> None:
    for group in (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR):
        nl.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
    nl.sock.setblocking(False)


class LabMonitor:
    """The lab whose host namespace is `host_fd` and whose named namespaces are in `run_dir`."""

    def __init__(self, host_fd: int, run_dir: str) -> None:
        self.host_fd = host_fd
        self.run_dir = run_dir
        self.buf = bytearray(1 << 16)  # one receive buffer: the sockets are read one at a time
        self.socks: dict[str, tuple[Rtnl, int]] = {}  # name -> (socket, inode of the namespace)
        self.by_fd: dict[int, str] = {}
        self.notify: int | None = None
        self.pending = False  # a namespace file that is not a namespace yet (made, not yet mounted)

    @property
    def fds(self) -> list[int]:
        return [*self.by_fd, *([self.notify] if self.notify is not None else [])]

    def open(self) -> None:
        self.notify = _inotify(self.run_dir)
        self._open("", self.host_fd, 0)
        self.sync()

    def _open(self, name: str, fd: int, ino: int) -> bool:
        try:
            nl = open_in(fd, self.buf)
            _subscribe(nl)
        except OSError:
            return False
        self.socks[name] = (nl, ino)
        self.by_fd[nl.fileno()] = name
        return True

    def _close(self, name: str) -> None:
        nl, _ = self.socks.pop(name)
        self.by_fd.pop(nl.fileno(), None)
        nl.close()

    def names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.run_dir) if not n.startswith("."))
        except OSError:
            return []

    def sync(self) -> None:
        """A socket for each namespace in run_dir now; none for those gone (or made anew)."""
        self.pending = False
        now = {}
        for name in self.names()[:MAX_WATCHED]:
            try:
                now[name] = os.stat(os.path.join(self.run_dir, name)).st_ino
            except OSError:
                continue
        for name in [n for n in self.socks if n and now.get(n) != self.socks[n][1]]:
            self._close(name)
        for name, ino in now.items():
            if name in self.socks:
                continue
            try:
                fd = os.open(os.path.join(self.run_dir, name), os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not self._open(name, fd, ino):
                    self.pending = True  # `ip netns add` makes the file, then mounts the namespace on it
            finally:
                os.close(fd)

    def handle(self, fd: int) -> bool:
        """Read what is waiting on FD; True when the lab changed."""
        if fd == self.notify:
            changed = self._drain(fd)
            self.sync()
            return changed
        name = self.by_fd.get(fd)
        if name is None:
            return False
        return self._drain(fd, self.socks[name][0].sock)

    def _drain(self, fd: int, sock: socket.socket | None = None) -> bool:
        got = False
        while True:
            try:
                n = sock.recv_into(self.buf) if sock is not None else os.readv(fd, [self.buf])
            except BlockingIOError:
                return got
            except OSError:  # ENOBUFS: events were lost, which is a change too
                return True
            if n <= 0:
                return got
            got = True

    def close(self) -> None:
        for name in list(self.socks):
            self._close(name)
        if self.notify is not None:
            os.close(self.notify)
            self.notify = None
