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

Three things are not announced.  A veth's reference to its peer (IFLA_LINK, IFLA_LINK_NETNSID)
changes, unannounced, when the peer moves (`LinkWatch.trusted` answers only for kinds that refer to no
other device).  A down link's alias (nslab's host-mode tag) changes unannounced: do_setlink
announces it through netdev_state_change, which says nothing of a link that is down (`trusted`
answers only for up links).  And a veth's carrier comes on at once but is announced only when linkwatch
runs (settle knows: one end with carrier means both).
"""

from __future__ import annotations

import errno
import socket
import struct

from .nlmsg import (
    IFF_UP,
    IFINFO,
    IFLA_IFNAME,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    NLHDR,
    RTM_DELLINK,
    RTM_NEWLINK,
    LinkMsg,
    decode_link,
)

ATTR = struct.Struct("=HH")

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
        self.raw: dict[int, bytes] = {}  # each link's last announcement, by index
        self.links: dict[int, LinkMsg] = {}  # those decoded since
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
            if kind in (RTM_NEWLINK, RTM_DELLINK) and data[offset + NLHDR.size] != AF_BRIDGE:
                self._heard(kind, data[offset + NLHDR.size: offset + length])
            offset += (length + 3) & ~3

    def _heard(self, kind: int, payload: bytes) -> None:
        # only the index and the name now: most announcements are never asked about, and a
        # whole decode of each costs more than the request it saves (decoded when asked)
        index = IFINFO.unpack_from(payload)[2]
        self.links.pop(index, None)
        old = self.raw.pop(index, None)
        if old is not None and self.names.get(name := _name(old)) == index:
            del self.names[name]
        if kind == RTM_NEWLINK:
            self.raw[index] = payload
            self.names[_name(payload)] = index

    def _forget(self) -> None:
        self.overruns += 1
        self.links.clear()
        self.raw.clear()
        self.names.clear()

    def trusted(self, name: str | None = None, index: int | None = None) -> LinkMsg | None:
        """The link's state when it is of a kind whose every change is announced (see
        SELF_CONTAINED): a veth is not decoded only to be asked of the kernel after all."""
        self.sync()
        if name is not None:
            index = self.names.get(name)
        raw = self.raw.get(index) if index is not None else None
        if raw is None or _kind(raw) not in SELF_CONTAINED or not IFINFO.unpack_from(raw)[3] & IFF_UP:
            return None  # a down link's alias (the lab's host-mode tag) changes unannounced
        return self.get(index=index)

    def get(self, name: str | None = None, index: int | None = None) -> LinkMsg | None:
        """The link's current state, when this watch has heard of it (None: not known, which
        is not the same as absent)."""
        self.sync()
        if name is not None:
            index = self.names.get(name)
        if index is None or index not in self.raw:
            return None
        msg = self.links.get(index)
        if msg is None:
            msg = self.links[index] = decode_link(self.raw[index])
        return msg


def _attr(payload: bytes, want: int, offset: int = IFINFO.size, end: int | None = None) -> bytes | None:
    """One attribute's value, found without decoding the others."""
    end = len(payload) if end is None else end
    while offset + 4 <= end:
        length, kind = ATTR.unpack_from(payload, offset)
        if length < 4:
            break
        if kind & 0x7FFF == want:
            return payload[offset + 4: offset + length]
        offset += (length + 3) & ~3
    return None


def _name(payload: bytes) -> str:
    value = _attr(payload, IFLA_IFNAME)
    return value.split(b"\0", 1)[0].decode() if value is not None else ""


def _kind(payload: bytes) -> str:
    """IFLA_INFO_KIND inside IFLA_LINKINFO ("" for a device with none: lo, a NIC)."""
    info = _attr(payload, IFLA_LINKINFO)
    kind = _attr(info, IFLA_INFO_KIND, 0) if info is not None else None
    return kind.split(b"\0", 1)[0].decode() if kind is not None else ""


# kinds (IFLA_INFO_KIND) that refer to no other device: every attribute nslab reads of one is
# announced as it changes ("" is a link with no kind of its own: lo, a NIC).  A veth's peer
# reference is not (it changes unannounced when the peer moves, and a new veth is announced
# before its peer is set), nor a macvlan's or vxlan's lower device: those are read from the kernel.
SELF_CONTAINED = frozenset({"bridge", "", "tun", "dummy", "openvswitch"})
