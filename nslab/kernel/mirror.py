"""The lab's links and addresses as a reader on another thread than the lab's sees them: one
rtnetlink socket of its own in the lab's host namespace that hears every namespace with an id
there (NETLINK_LISTEN_ALL_NSID, as `ip monitor all-nsid`), inotify on the run directory, and per
namespace the links and addresses last announced.  The web view's thread keeps one (faces/web/live.py).

Not a socket per namespace (kernel/monitor.py): a socket keeps its namespace alive, so `ns del`
would wait (settle waits for the veth ends to go) until the reader let go, and 200 namespaces would
cost 200 descriptors and 200 setns.  The one socket holds no namespace.  A namespace is heard only
once the host has an id for it: the mirror gives it one as it sees it (RTM_NEWNSID, as `ip netns set
NAME auto`; a veth to the host makes one anyway), then dumps it from the host (IFLA_TARGET_NETNSID:
no setns either).  Read from the host, a veth's IFLA_LINK_NETNSID is an id of the host's: one map of
ids for the whole lab.  An announcement from another namespace carries that namespace's own ids, so
a veth heard there has its peer read again, from the host, unless its other end names it already
(a star's far ends).  Requests go on a second socket (kernel/nlall.py's Asker); a dump and the
announcements that raced it converge, as each announcement carries the whole object.

Links are kept as the kernel's bytes and decoded only when drawn.  Not thread-safe: one thread uses it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from .monitor import IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVED_FROM, IN_MOVED_TO, _inotify
from .nlall import AllNsid, Asker, messages
from .nlmsg import (
    IFADDR,
    IFINFO,
    IFLA_STATS64,
    NETNSA_FD,
    NETNSA_NSID,
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNSID,
    RTM_NEWADDR,
    RTM_NEWLINK,
    LinkMsg,
    _i32,
    attr,
    attr_u32,
    attrs,
    decode_addr,
    decode_link,
    ifinfo,
)
from .watch import AF_BRIDGE, _attr

HOST = "host"
RTM_NEWNSID = 88
IFLA_TARGET_NETNSID, IFA_TARGET_NETNSID = 46, 10
INOTIFY_EVENT = struct.Struct("=iIII")
STATS_BYTES = struct.Struct("=16xQQ")  # rtnl_link_stats64: rx_packets, tx_packets, rx_bytes, tx_bytes


@dataclass
class Ns:
    name: str
    nsid: int | None  # the host's id for it (None: the host itself, or not heard)
    links: dict[int, bytes] = field(default_factory=dict)  # index -> the last RTM_NEWLINK
    decoded: dict[int, LinkMsg] = field(default_factory=dict)
    addrs: dict[int, list[str]] = field(default_factory=dict)  # index -> "ADDR/LEN", as announced
    # a veth's index -> (the host's id for its peer's namespace, None: this one; the peer's index)
    peers: dict[int, tuple[int | None, int]] = field(default_factory=dict)
    unsure: set[int] = field(default_factory=set)  # veths whose peer is to be read again from the host
    fresh: dict[int, bool] = field(default_factory=dict)  # links announced since the last drain: heard elsewhere?
    heard: bool = True  # False: no id in the host, so never announced (read when a step names it)

    def link(self, index: int) -> LinkMsg:
        msg = self.decoded.get(index)
        if msg is None:
            msg = self.decoded[index] = decode_link(self.links[index])
        return msg


class Mirror:
    def __init__(self, host_fd: int, run_dir: str) -> None:
        self.host_fd = host_fd  # the mirror's own descriptor on the lab's host namespace
        self.run_dir = run_dir
        self.sock = AllNsid(host_fd)
        self.asker = Asker(host_fd)
        self.notify = _inotify(run_dir)
        self.nss: dict[str, Ns] = {HOST: Ns(HOST, None)}
        self.by_nsid: dict[int, str] = {}
        self.strangers: set[int] = set()  # ids of the host's for namespaces not in the run dir
        self.pending: set[str] = set()  # names in the run dir not yet a namespace (made, not yet mounted)
        self.changed: set[str] = {HOST}  # namespaces whose picture is to be drawn again
        self.lost = False
        self._dump(self.nss[HOST])
        self._rescan()

    @property
    def fds(self) -> list[int]:
        return [self.sock.fileno(), *([self.notify] if self.notify is not None else [])]

    def close(self) -> None:
        self.sock.close()
        self.asker.close()
        if self.notify is not None:
            os.close(self.notify)
            self.notify = None

    def names(self) -> list[str]:
        return [HOST, *sorted(n for n in self.nss if n != HOST)]

    # -- reading what was announced ---------------------------------------------
    def drain(self, named: list[str] = []) -> set[str]:  # noqa: B006 - never changed
        """Read every announcement waiting (and the run dir's changes); the namespaces that changed.
        NAMED: namespaces a step named, read again if no announcement covers them (no id in the host)."""
        if self.notify is not None:
            self._names_changed()
        for name in dict.fromkeys(named):
            ns = self.nss.get(name)
            if ns is None and name != HOST:
                self._open(name)
            elif ns is not None and not ns.heard:
                self._dump(ns)
        self._read_events()
        if self.lost:  # the socket overflowed: what was missed is read again, whole
            self.lost = False
            for ns in self.nss.values():
                self._dump(ns)
        for name in list(self.pending):
            self._open(name)
        for ns in list(self.nss.values()):
            if ns.fresh:
                self._take_peers(ns)
        self._learn_ids()
        if any(ns.unsure for ns in self.nss.values()):
            self._reread_peers()
        changed, self.changed = self.changed, set()
        return changed

    def _read_events(self) -> None:
        try:
            for nsid, data in self.sock.events():
                self._held(nsid, data)
        except OSError:  # ENOBUFS: announcements were lost
            self.lost = True

    def _held(self, nsid: int | None, data: bytes) -> None:
        """Announcements (from the namespace the host calls NSID; None: the host)."""
        name = HOST if nsid is None else self.by_nsid.get(nsid)
        if name is not None and name in self.nss:
            for kind, payload in messages(data):
                self._heard(self.nss[name], kind, payload, nsid is not None)

    def _heard(self, ns: Ns, kind: int, payload: bytes, elsewhere: bool) -> None:
        if kind in (RTM_NEWLINK, RTM_DELLINK):
            if payload[0] == AF_BRIDGE:
                return  # a bridge's own word about a port, not the port's state
            index = IFINFO.unpack_from(payload)[2]
            ns.decoded.pop(index, None)
            if kind == RTM_DELLINK:
                ns.links.pop(index, None)
                ns.addrs.pop(index, None)
                ns.peers.pop(index, None)
                ns.unsure.discard(index)
                ns.fresh.pop(index, None)
            elif not _lo(payload):
                ns.links[index] = payload
                ns.fresh[index] = elsewhere
            self.changed.add(ns.name)
        elif kind in (RTM_NEWADDR, RTM_DELADDR):
            a = decode_addr(payload)
            text = f"{a.address}/{a.prefixlen}"
            held = ns.addrs.setdefault(a.index, [])
            if kind == RTM_DELADDR and text in held:
                held.remove(text)
            elif kind == RTM_NEWADDR and text not in held:
                held.append(text)
            self.changed.add(ns.name)

    # -- namespaces made and deleted -----------------------------------------------
    def _names_changed(self) -> None:
        assert self.notify is not None
        rescan = False
        while True:
            try:
                data = os.read(self.notify, 1 << 16)
            except BlockingIOError:
                break
            offset = 0
            while offset + INOTIFY_EVENT.size <= len(data):
                _, mask, _, size = INOTIFY_EVENT.unpack_from(data, offset)
                name = data[offset + INOTIFY_EVENT.size: offset + INOTIFY_EVENT.size + size].split(b"\0", 1)[0].decode()
                offset += INOTIFY_EVENT.size + size
                if mask & IN_DELETE_SELF or mask & 0x4000:  # the directory went, or IN_Q_OVERFLOW
                    rescan = True
                elif name.startswith("."):
                    continue
                elif mask & (IN_DELETE | IN_MOVED_FROM):
                    self._forget(name)
                elif mask & (IN_CREATE | IN_MOVED_TO) and name not in self.nss:
                    self._open(name)
        if rescan:
            self._rescan()

    def _rescan(self) -> None:
        try:
            now = {n for n in os.listdir(self.run_dir) if not n.startswith(".")}
        except OSError:
            now = set()
        for name in [n for n in self.nss if n != HOST and n not in now]:
            self._forget(name)
        for name in now - set(self.nss):
            self._open(name)

    def _forget(self, name: str) -> None:
        self.pending.discard(name)
        ns = self.nss.pop(name, None)
        if ns is not None:
            if ns.nsid is not None and self.by_nsid.get(ns.nsid) == name:
                del self.by_nsid[ns.nsid]
            self.changed.add(name)

    def _open(self, name: str) -> None:
        """Give the namespace an id in the host (so it is heard), then read it whole."""
        try:
            fd = os.open(os.path.join(self.run_dir, name), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.pending.discard(name)
            return
        try:
            try:  # an id for it, echoed; EEXIST when it has one (a veth to the host made it)
                got = self.asker.ask(RTM_NEWNSID, struct.pack("=Bxxx", 0) + attr_u32(NETNSA_FD, fd)
                                + attr(NETNSA_NSID, struct.pack("=i", -1)), echo=True)
                nsid = _i32(attrs(got[0][1], 4).get(NETNSA_NSID)) if got else self._nsid(fd)
            except OSError:  # it has one, or is no namespace yet (`ip netns add` makes the file, then mounts it)
                nsid = self._nsid(fd)
        finally:
            os.close(fd)
        if nsid is None:
            self.pending.add(name)
            return
        self.pending.discard(name)
        ns = self.nss[name] = Ns(name, nsid)
        self.by_nsid[nsid] = name
        self.strangers.discard(nsid)
        self._dump(ns)
        self.changed.add(name)

    def _nsid(self, fd: int) -> int | None:
        try:
            got = self.asker.ask(RTM_GETNSID, struct.pack("=Bxxx", 0) + attr_u32(NETNSA_FD, fd))
        except OSError:
            return None
        value = _i32(attrs(got[0][1], 4).get(NETNSA_NSID)) if got else None
        return value if value is not None and value >= 0 else None

    # -- reading from the host ---------------------------------------------------------
    def _target(self, ns: Ns, kind_attr: int) -> bytes:
        return attr(kind_attr, struct.pack("=i", ns.nsid)) if ns.name != HOST and ns.nsid is not None else b""

    def _dump(self, ns: Ns) -> None:
        """The namespace's links and addresses, whole, as the host sees them."""
        try:
            links = self.asker.ask(RTM_GETLINK, ifinfo() + self._target(ns, IFLA_TARGET_NETNSID), dump=True)
            addrs = self.asker.ask(RTM_GETADDR, IFADDR.pack(0, 0, 0, 0, 0) + self._target(ns, IFA_TARGET_NETNSID), dump=True)
        except OSError:  # gone meanwhile, or not the host's to read
            ns.heard = False
            return
        ns.links = {IFINFO.unpack_from(p)[2]: p for k, p in links if k == RTM_NEWLINK and p[0] != AF_BRIDGE and not _lo(p)}
        ns.decoded, ns.addrs, ns.fresh = {}, {}, {}
        ns.peers = {i: (m.link_nsid, m.link or 0) for i in ns.links if (m := ns.link(i)).kind == "veth"}
        ns.unsure = {i for i, (_, link) in ns.peers.items() if not link}
        for k, p in addrs:
            if k == RTM_NEWADDR:
                a = decode_addr(p)
                ns.addrs.setdefault(a.index, []).append(f"{a.address}/{a.prefixlen}")
        self.changed.add(ns.name)

    def peer(self, ns: Ns, index: int) -> tuple[str, int] | None:
        """A veth's peer: (namespace, index), or None when not known or not one of the lab's."""
        nsid, link = ns.peers.get(index, (None, 0))
        if not link or index in ns.unsure:
            return None
        if nsid is None:
            return (ns.name, link)
        name = self.by_nsid.get(nsid)
        return (name, link) if name is not None else None

    def _learn_ids(self) -> None:
        """Peers' ids not in the map: the host's id for itself (given when a peer there is read from
        the host), else a namespace outside the run dir (not drawn).  Asked here, in drain, so that
        drawing sends no request (whose wait would take announcements in under the picture)."""
        unknown = {nsid for ns in list(self.nss.values()) for nsid, _ in list(ns.peers.values())
                   if nsid is not None and nsid not in self.by_nsid and nsid not in self.strangers}
        if unknown:
            mine = self._nsid(self.host_fd)
            for nsid in unknown:
                if nsid == mine:
                    self.by_nsid[nsid] = HOST
                    self.changed |= set(self.nss)
                else:
                    self.strangers.add(nsid)

    def _take_peers(self, ns: Ns) -> None:
        """The announced links' peers: the host's own word is in the host's ids, the map's."""
        for index, elsewhere in ns.fresh.items():
            if index not in ns.links:
                continue
            m = ns.link(index)  # decoded once: it is drawn next
            if m.kind != "veth":
                ns.peers.pop(index, None)
                ns.unsure.discard(index)
            elif elsewhere or not m.link:  # in that namespace's ids, or not set yet
                ns.unsure.add(index)
            else:
                ns.peers[index] = (m.link_nsid, m.link)
                ns.unsure.discard(index)
        ns.fresh = {}

    def _reread_peers(self) -> None:
        """Veths heard from their own namespace: one the other end names (in the host's ids) needs
        nothing more (a star's far ends); the others are read again, from the host."""
        named = {p for ns in list(self.nss.values()) for i in list(ns.peers) if (p := self.peer(ns, i)) is not None}
        for ns in list(self.nss.values()):
            for index in list(ns.unsure):
                if index not in ns.links or ns.link(index).kind != "veth":
                    ns.unsure.discard(index)
                    ns.peers.pop(index, None)
                    continue
                if (ns.name, index) in named:
                    continue  # stays unsure: its own word is not used
                ns.unsure.discard(index)
                try:
                    got = self.asker.ask(RTM_GETLINK, ifinfo(index) + self._target(ns, IFLA_TARGET_NETNSID))
                except OSError:
                    continue  # gone meanwhile: its deletion is announced
                if got:
                    msg = decode_link(got[0][1])
                    ns.peers[index] = (msg.link_nsid, msg.link or 0)
                    self.changed.add(ns.name)

    def counters(self, names: set[str]) -> Iterator[tuple[str, int, int, int]]:
        """(namespace, index, rx bytes, tx bytes) of every link of NAMES: one dump per namespace."""
        for ns in [self.nss[n] for n in names if n in self.nss]:
            try:
                got = self.asker.ask(RTM_GETLINK, ifinfo() + self._target(ns, IFLA_TARGET_NETNSID), dump=True)
            except OSError:
                continue
            for kind, p in got:
                if kind != RTM_NEWLINK or p[0] == AF_BRIDGE:
                    continue
                raw = _attr(p, IFLA_STATS64)
                if raw is not None and len(raw) >= STATS_BYTES.size:
                    yield (ns.name, IFINFO.unpack_from(p)[2], *STATS_BYTES.unpack_from(raw))


def _lo(payload: bytes) -> bool:
    """The loopback: never drawn, never a peer (its name is the message's first attribute)."""
    return payload[IFINFO.size + 4: IFINFO.size + 7] == b"lo\0"
