"""What the kernel says about a namespace's links, kept between steps: one listener each.

A step reads the links it needs from the kernel (rtnl.Rtnl); between steps nothing it read
can be trusted, since anybody may have changed the lab.  But the kernel announces every
change of a link on the RTNLGRP_LINK group, as it makes it: a link made, deleted, renamed,
moved, brought up or down, given a master, an MTU or a MAC, and linkwatch turning it
operationally UP.  A socket that listens from the moment the namespace is opened therefore
knows the current state of every link it has heard of, once it has read what is queued:
the announcement is queued on it before the request that made the change is answered, so
after `sync` it is as current as a fresh RTM_GETLINK.

It listens on a socket of its own, not on the one the lab sends requests on: a flood of
announcements (a bridge with 1000 ports deleted) can then only overflow this one (ENOBUFS:
it forgets everything and answers nothing until it hears again), never drop the
acknowledgement of a request.  It answers only for what it has heard since it opened.

Two things are not announced.  A veth's reference to its peer (IFLA_LINK, IFLA_LINK_NETNSID)
changes, unannounced, when the peer moves (`trusted` answers only for kinds that refer to no
other device).  And a veth's carrier comes on at once but is announced only when linkwatch
runs (settle knows: one end with carrier means both).
"""

from __future__ import annotations

import errno
import socket

from .nlmsg import NLHDR, RTM_DELLINK, RTM_NEWLINK, LinkMsg, decode_link

RTMGRP_LINK = 1
AF_BRIDGE = 7  # the bridge's own per-port announcements (IFLA_PROTINFO), not a link's state
BUFFER = 1 << 20


class LinkWatch:
    """The links a namespace's kernel announced since this watch opened (open it inside)."""

    def __init__(self, buf: bytearray) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK,
                                  socket.NETLINK_ROUTE)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
            self.sock.bind((0, RTMGRP_LINK))
        except OSError:
            self.sock.close()
            raise
        self._buf = buf
        self.links: dict[int, LinkMsg] = {}
        self.names: dict[str, int] = {}
        self.overruns = 0

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()  # readable when an announcement is queued (settle waits on it)

    def sync(self) -> None:
        """Read every announcement queued so far, in the kernel's order."""
        lost = False
        while True:
            try:
                n = self.sock.recv_into(self._buf)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                # announcements were lost: nothing heard is known now, and what is still
                # queued may be older than what was lost, so it goes unread too
                self._forget()
                lost = True
                continue
            if not lost:
                self._take(bytes(self._buf[:n]))

    def _take(self, data: bytes) -> None:
        offset = 0
        while offset + NLHDR.size <= len(data):
            length, kind, _, _, _ = NLHDR.unpack_from(data, offset)
            if length < NLHDR.size:
                return
            payload = data[offset + NLHDR.size: offset + length]
            offset += (length + 3) & ~3
            if kind in (RTM_NEWLINK, RTM_DELLINK) and payload and payload[0] != AF_BRIDGE:
                self._heard(kind, decode_link(payload))

    def _heard(self, kind: int, msg: LinkMsg) -> None:
        old = self.links.pop(msg.index, None)
        if old is not None and self.names.get(old.name) == msg.index:
            del self.names[old.name]
        if kind == RTM_NEWLINK:
            self.links[msg.index] = msg
            self.names[msg.name] = msg.index

    def _forget(self) -> None:
        self.overruns += 1
        self.links.clear()
        self.names.clear()

    def get(self, name: str | None = None, index: int | None = None) -> LinkMsg | None:
        """The link's current state, when this watch has heard of it (None: not known, which
        is not the same as absent)."""
        self.sync()
        if name is not None:
            found = self.names.get(name)
            return self.links.get(found) if found is not None else None
        return self.links.get(index) if index is not None else None


# kinds that refer to no other device: every attribute nslab reads of one is announced as it
# changes.  A veth's peer reference is not (it changes unannounced when the peer moves, and the
# announcement of a new veth is made before its peer is set), nor a macvlan's or vxlan's lower
# device: those are read from the kernel.
SELF_CONTAINED = frozenset({"bridge", "loopback", "device", "tun", "dummy", "openvswitch"})


def trusted(msg: LinkMsg | None) -> bool:
    """The watch's state of this link is the kernel's (see SELF_CONTAINED)."""
    return msg is not None and msg.kind in SELF_CONTAINED
