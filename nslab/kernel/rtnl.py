"""A small synchronous rtnetlink client for the lab's hot path.

pyroute2's synchronous API costs 0.15-0.3 ms of Python per request (an asyncio
loop turn and a full decode), about 100 times the kernel's own work for a
`setlink`.  A lab of 200 namespaces makes thousands of requests, so nslab speaks
the few rtnetlink messages it needs directly: links, addresses, routes and
netns ids, encoded with `struct`, decoded only as far as the lab needs.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterator
from typing import Any

from .nlmsg import (  # noqa: F401 - the constants and messages are rtnl's vocabulary for callers too
    IFA_ADDRESS,
    IFA_BROADCAST,
    IFA_LOCAL,
    IFADDR,
    IFF_LOWER_UP,
    IFF_UP,
    IFINFO,
    IFLA_ADDRESS,
    IFLA_IFALIAS,
    IFLA_IFNAME,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    IFLA_MASTER,
    IFLA_MTU,
    IFLA_NET_NS_FD,
    NETLINK_EXT_ACK,
    NETLINK_GET_STRICT_CHK,
    NETLINK_ROUTE,
    NETNSA_FD,
    NETNSA_NSID,
    NLHDR,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_ECHO,
    NLM_F_EXCL,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    RECV_SIZE,
    RT_SCOPE_LINK,
    RT_SCOPE_NOWHERE,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_MAIN,
    RTA_DST,
    RTA_GATEWAY,
    RTA_IIF,
    RTA_OIF,
    RTA_PRIORITY,
    RTA_SRC,
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_DELROUTE,
    RTM_F_FIB_MATCH,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNSID,
    RTM_GETROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTMSG,
    RTN_UNICAST,
    RTPROT_BOOT,
    SOL_NETLINK,
    VETH_INFO_PEER,
    AddrMsg,
    LinkMsg,
    NetlinkError,
    RouteMsg,
    Shared,
    _extack,
    _i32,
    attr,
    attr_mac,
    attr_str,
    attr_u32,
    attrs,
    decode_addr,
    decode_link,
    decode_route,
    ifinfo,
    ip_bytes,
    nested,
)
from .watch import LinkWatch


class Rtnl:
    """One NETLINK_ROUTE socket.  Open it inside a namespace: it stays bound there."""

    def __init__(self, buf: bytearray | None = None, shared: "Shared | None" = None, watch: bool = False) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for opt in (NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK):  # error words; dumps filtered by the kernel
            try:
                self.sock.setsockopt(SOL_NETLINK, opt, 1)
            except OSError:
                pass
        self.sock.bind((0, 0))
        self.seq = 0
        self._dumping: int | None = None  # the seq of a dump not yet read to its end
        self.dumps = 0  # dumps made on this socket: the tests count them to see what a command reads
        self.shared = shared if shared is not None else Shared()  # one per lab: counts and the step's cache switch
        # a step's link and address lookups, valid while the lab has made no write since (see Shared)
        self._cache: dict[tuple[str, Any], Any] = {}
        self._cache_at = -1  # the lab's write count when the cache was filled
        # the receive buffer: one a lab shares between its sockets (they are used one at a
        # time), not one each: 1000 namespaces would hold 64 MiB of buffers otherwise
        self._buf = buf if buf is not None else bytearray(RECV_SIZE)
        self.watch = LinkWatch(self._buf) if watch else None  # what the kernel announced (watch.py)

    def close(self) -> None:
        for sock in (self.sock, self.watch):
            if sock is not None:
                sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self.seq += 1
        self.shared.requests[kind] += 1
        self.sock.send(NLHDR.pack(NLHDR.size + len(body), kind, flags | NLM_F_REQUEST, self.seq, 0) + body)
        return self.seq

    def request(self, kind: int, body: bytes, flags: int = 0, alone: bool = False) -> list[bytes]:
        """Send a change and wait for its acknowledgement; what the kernel echoed (NLM_F_ECHO).
        `alone`: it makes one new object and changes nothing else (the caller keeps its cache)."""
        if not alone:
            self.shared.writes += 1  # it may change what any socket of the lab cached (a veth's peer, a move)
        seq = self._send(kind, flags | NLM_F_ACK, body)
        return [payload for _, payload in self._replies(seq, to_ack=True)]

    def _step_cache(self) -> dict[tuple[str, Any], Any] | None:
        """The lookups this socket made since the lab's last write, while a step caches; else None."""
        if not self.shared.caching:
            return None
        if self._cache_at != self.shared.writes:
            self._cache.clear()
            self._cache_at = self.shared.writes
        return self._cache

    def get(self, kind: int, body: bytes) -> bytes | None:
        """A query for one object: its body, or None when the kernel has none."""
        seq = self._send(kind, 0, body)
        try:
            for _, payload in self._replies(seq):
                return payload
        except NetlinkError as e:
            if e.code in (errno.ENODEV, errno.ENOENT):
                return None
            raise
        return None

    def dump(self, kind: int, body: bytes) -> list[tuple[int, bytes]]:
        """Every message of a dump, read to its end.  A dump left half-read (Ctrl-C) keeps the
        kernel's dump busy on this socket (EBUSY for the next one): it is drained first."""
        if self._dumping is not None:
            self._drain(self._dumping)
        self.dumps += 1
        seq = self._send(kind, NLM_F_DUMP, body)
        self._dumping = seq
        out = list(self._replies(seq))
        self._dumping = None
        return out

    def _drain(self, seq: int) -> None:
        self.sock.settimeout(0.5)
        try:
            for _ in self._replies(seq):
                pass
        except (OSError, NetlinkError):
            pass  # timed out (it had ended) or the old dump's own error
        finally:
            self.sock.settimeout(None)
            self._dumping = None

    def _replies(self, seq: int, to_ack: bool = False) -> Iterator[tuple[int, bytes]]:
        """The answers to `seq`: a dump's all, a get's one, or (to_ack) all up to the acknowledgement."""
        while True:
            # into one buffer kept for the socket: a fresh 1 MiB bytes per recv cost an mmap,
            # an mremap and a munmap each time
            n = self.sock.recv_into(self._buf)
            data = bytes(self._buf[:n])
            offset = 0
            while offset + NLHDR.size <= len(data):
                length, kind, flags, mseq, _ = NLHDR.unpack_from(data, offset)
                if length < NLHDR.size:
                    return
                payload = data[offset + NLHDR.size : offset + length]
                offset += (length + 3) & ~3
                if mseq != seq:
                    continue  # a late answer to an earlier request
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code == 0:
                        return
                    raise NetlinkError(code, _extack(payload, flags))
                yield kind, payload
                if not flags & NLM_F_MULTI and not to_ack:
                    return

    # -- links -----------------------------------------------------------
    def links(self) -> list[LinkMsg]:
        return [decode_link(p) for k, p in self.dump(RTM_GETLINK, ifinfo()) if k == RTM_NEWLINK]

    def link(self, name: str | None = None, index: int | None = None) -> LinkMsg | None:
        """One link by name or index (the kernel's answer, or this step's earlier one: see Shared)."""
        if self.watch is not None and (heard := self.watch.trusted(name, index)) is not None:
            return heard  # announced as it changed: as current as the kernel's answer
        cache = self._step_cache()
        key = ("name", name) if name is not None else ("index", index)
        if cache is not None and key in cache:
            return cache[key]  # type: ignore[no-any-return]
        body = ifinfo(index or 0) + (attr_str(IFLA_IFNAME, name) if name is not None else b"")
        payload = self.get(RTM_GETLINK, body)
        msg = decode_link(payload) if payload is not None else None
        if cache is not None:
            cache[key] = msg  # a miss too: until the next write, the link is still not there
            if msg is not None:
                cache[("name", msg.name)] = cache[("index", msg.index)] = msg
        return msg

    def index(self, name: str) -> int | None:
        """A link's index by name: the reply's header only, nothing decoded (outside a step)."""
        if self.watch is not None and (heard := self.watch.get(name)) is not None:
            return heard.index  # a name and its index change only as announced, peers or not
        if self.shared.caching:
            msg = self.link(name)  # decoded whole: the step's later lookups of it are free
            return msg.index if msg is not None else None
        payload = self.get(RTM_GETLINK, ifinfo() + attr_str(IFLA_IFNAME, name))
        return IFINFO.unpack_from(payload)[2] if payload is not None else None

    def latest(self, name: str, ask: bool = False) -> LinkMsg | None:
        """A link as last announced (flags, state, master: for any kind), or (ask, or not heard
        of) read, which also runs linkwatch's event pending for it (watch.py)."""
        heard = self.watch.get(name) if self.watch is not None and not ask else None
        if heard is not None:
            return heard
        payload = self.get(RTM_GETLINK, ifinfo() + attr_str(IFLA_IFNAME, name))
        return decode_link(payload) if payload is not None else None

    def add_link(self, name: str, kind: str, up: bool = False, data: bytes = b"", extra: bytes = b"") -> None:
        info = nested(IFLA_LINKINFO, attr_str(IFLA_INFO_KIND, kind), *([nested(IFLA_INFO_DATA, data)] if data else []))
        body = ifinfo(0, IFF_UP if up else 0, IFF_UP if up else 0) + attr_str(IFLA_IFNAME, name) + extra + info
        # a link with no peer and no master changes no other link: the step's other lookups stay;
        # NLM_F_ECHO: the kernel answers with the link it made (older kernels ignore the flag)
        alone = kind != "veth" and IFLA_MASTER not in attrs(extra)
        if (cache := self._step_cache()) is not None:
            cache.pop(("name", name), None)  # no longer missing, even if the kernel echoes nothing
        echoed = self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO, alone=alone)
        if (cache := self._step_cache()) is not None:
            for msg in (decode_link(p) for p in echoed):
                if msg.name == name:  # a veth's echo is this end: the peer's went to its own namespace
                    cache[("name", msg.name)] = cache[("index", msg.index)] = msg

    def add_veth(self, name: str, peer: str, peer_fd: int | None = None, mac: str | None = None,
                 peer_mac: str | None = None, mtu: int | None = None, master: int | None = None,
                 up: bool = False) -> None:
        peer_attrs = attr_str(IFLA_IFNAME, peer)
        if peer_fd is not None:
            peer_attrs += attr_u32(IFLA_NET_NS_FD, peer_fd)
        if peer_mac:
            peer_attrs += attr_mac(IFLA_ADDRESS, peer_mac)
        if mtu:
            peer_attrs += attr_u32(IFLA_MTU, mtu)
        extra = b""
        if mac:
            extra += attr_mac(IFLA_ADDRESS, mac)
        if mtu:
            extra += attr_u32(IFLA_MTU, mtu)
        if master:
            extra += attr_u32(IFLA_MASTER, master)
        self.add_link(name, "veth", up, nested(VETH_INFO_PEER, ifinfo() + peer_attrs), extra)

    def set_link(self, index: int, up: bool | None = None, name: str | None = None, mtu: int | None = None,
                 mac: str | None = None, master: int | None = None, netns_fd: int | None = None,
                 alias: str | None = None) -> None:
        flags = change = 0
        if up is not None:
            change = IFF_UP
            flags = IFF_UP if up else 0
        body = ifinfo(index, flags, change)
        if name is not None:
            body += attr_str(IFLA_IFNAME, name)
        if mtu is not None:
            body += attr_u32(IFLA_MTU, mtu)
        if mac is not None:
            body += attr_mac(IFLA_ADDRESS, mac)
        if master is not None:
            body += attr_u32(IFLA_MASTER, master)
        if netns_fd is not None:
            body += attr_u32(IFLA_NET_NS_FD, netns_fd)
        if alias is not None:
            body += attr_str(IFLA_IFALIAS, alias)
        self.request(RTM_NEWLINK, body)

    def del_link(self, index: int) -> None:
        self.request(RTM_DELLINK, ifinfo(index))

    # -- addresses -------------------------------------------------------
    def addrs(self, index: int = 0) -> list[AddrMsg]:
        """Addresses of the namespace, or of one interface (filtered by the kernel under strict
        checking; one interface's are kept for the rest of the step, see Shared)."""
        if (cache := self._step_cache() if index else None) is not None and ("addrs", index) in cache:
            return list(cache[("addrs", index)])
        found = [decode_addr(p) for k, p in self.dump(RTM_GETADDR, IFADDR.pack(0, 0, 0, 0, index)) if k == RTM_NEWADDR]
        found = [a for a in found if a.index == index] if index else found
        if cache is not None:
            cache[("addrs", index)] = list(found)
        return found

    def addr(self, add: bool, index: int, address: str, prefixlen: int, broadcast: str | None = None) -> None:
        family, raw = ip_bytes(address)
        body = IFADDR.pack(family, prefixlen, 0, 0, index) + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)
        if broadcast:
            body += attr(IFA_BROADCAST, ip_bytes(broadcast)[1])
        if add:
            self.request(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_EXCL)
        else:
            self.request(RTM_DELADDR, body)

    # -- routes ----------------------------------------------------------
    def routes(self) -> list[RouteMsg]:
        return [decode_route(p) for k, p in self.dump(RTM_GETROUTE, RTMSG.pack(0, 0, 0, 0, 0, 0, 0, 0, 0)) if k == RTM_NEWROUTE]

    def route(self, add: bool, dst: str | None, dst_len: int, family: int, gateway: str | None = None,
              oif: int | None = None) -> None:
        if add:
            scope = RT_SCOPE_UNIVERSE if gateway else RT_SCOPE_LINK
            body = RTMSG.pack(family, dst_len, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0)
        else:
            body = RTMSG.pack(family, dst_len, 0, 0, RT_TABLE_MAIN, 0, RT_SCOPE_NOWHERE, 0, 0)
        if dst is not None and dst_len:
            body += attr(RTA_DST, ip_bytes(dst)[1])
        if gateway:
            body += attr(RTA_GATEWAY, ip_bytes(gateway)[1])
        if oif:
            body += attr_u32(RTA_OIF, oif)
        if add:
            self.request(RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_EXCL)
        else:
            self.request(RTM_DELROUTE, body)

    def route_get(self, dst: str, oif: int | None = None, fib_match: bool = False, src: str | None = None,
                  iif: int | None = None) -> RouteMsg | None:
        """The kernel's own answer for dst (`ip route get`): the path a packet would take now, or with
        fib_match the FIB entry that matches (its prefix, table and RTA_PRIORITY in `extra`); with
        src and iif, the path of a packet from src coming in on iif (forwarded, or not).
        None when the kernel has no path (unreachable, blackhole, prohibit, not forwarding)."""
        family, raw = ip_bytes(dst)
        raw_src = ip_bytes(src)[1] if src else b""
        flags = RTM_F_FIB_MATCH if fib_match else 0
        body = RTMSG.pack(family, len(raw) * 8, len(raw_src) * 8, 0, 0, 0, 0, 0, flags) + attr(RTA_DST, raw)
        if raw_src:
            body += attr(RTA_SRC, raw_src)
        if oif:
            body += attr_u32(RTA_OIF, oif)
        if iif:
            body += attr_u32(RTA_IIF, iif)
        seq = self._send(RTM_GETROUTE, 0, body)
        try:
            for _, payload in self._replies(seq):
                msg = decode_route(payload)
                msg.extra = attrs(payload, RTMSG.size)
                return msg
        except NetlinkError as e:
            if e.code in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINVAL, errno.EACCES, errno.EXDEV):
                return None
            raise
        return None

    def nsid(self, fd: int) -> int | None:
        """The id this namespace gives the namespace open at `fd` (None when it has none)."""
        payload = self.get(RTM_GETNSID, struct.pack("=Bxxx", socket.AF_UNSPEC) + attr_u32(NETNSA_FD, fd))
        if payload is None:
            return None
        value = _i32(attrs(payload, 4).get(NETNSA_NSID))
        return value if value is not None and value >= 0 else None


def open_in(fd: int, buf: bytearray | None = None, shared: Shared | None = None, watch: bool = False) -> Rtnl:
    from . import sysns

    return sysns.call_in(fd, lambda: Rtnl(buf, shared, watch))


