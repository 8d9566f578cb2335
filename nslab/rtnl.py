"""A small synchronous rtnetlink client for the lab's hot path.

pyroute2's synchronous API costs 0.15-0.3 ms of Python per request (an asyncio
loop turn and a full decode), about 100 times the kernel's own work for a
`setlink`.  A lab of 200 namespaces makes thousands of requests, so nslab speaks
the few rtnetlink messages it needs directly: links, addresses, routes and
netns ids, encoded with `struct`, decoded only as far as the lab needs.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

NETLINK_ROUTE = 0
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12
SOL_NETLINK = 270

NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_GETNSID = 90

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD, IFLA_LINK_NETNSID = 16, 18, 20, 28, 37
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RTA_SRC, RTA_IIF, RTA_PRIORITY, RTA_PREFSRC, RTA_MULTIPATH = 2, 3, 6, 7, 9
RTM_F_FIB_MATCH = 0x2000
NETNSA_NSID, NETNSA_FD = 1, 3
NLA_F_NESTED = 0x8000

IFF_UP = 1
RECV_SIZE = 1 << 16  # the kernel sizes dump batches to the reader's buffer: 64 KiB each
IFF_LOWER_UP = 0x10000
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
RTN_UNICAST = 1
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")

IFINFO = struct.Struct("=BxHiII")
IFADDR = struct.Struct("=BBBBI")
RTMSG = struct.Struct("=BBBBBBBBI")
NLHDR = struct.Struct("=IHHII")
NLA = struct.Struct("=HH")


# -- encoding --------------------------------------------------------------
def attr(kind: int, data: bytes) -> bytes:
    size = NLA.size + len(data)
    return NLA.pack(size, kind) + data + b"\0" * (-size % 4)


def attr_str(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def attr_mac(kind: int, mac: str) -> bytes:
    return attr(kind, bytes.fromhex(mac.replace(":", "")))


def nested(kind: int, *parts: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(parts))


def ifinfo(index: int = 0, flags: int = 0, change: int = 0, family: int = 0) -> bytes:
    return IFINFO.pack(family, 0, index, flags, change)


def ip_bytes(addr: str) -> tuple[int, bytes]:
    if ":" in addr:
        return socket.AF_INET6, socket.inet_pton(socket.AF_INET6, addr)
    return socket.AF_INET, socket.inet_pton(socket.AF_INET, addr)


# -- decoding --------------------------------------------------------------
def attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    end = len(data)
    while offset + 4 <= end:
        size, kind = NLA.unpack_from(data, offset)
        if size < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4 : offset + size]
        offset += (size + 3) & ~3
    return out


def _str(b: bytes | None) -> str | None:
    return b.split(b"\0", 1)[0].decode(errors="replace") if b is not None else None


def _u32(b: bytes | None) -> int | None:
    return struct.unpack("=I", b[:4])[0] if b else None


def _i32(b: bytes | None) -> int | None:
    return struct.unpack("=i", b[:4])[0] if b else None


@dataclass
class LinkMsg:
    index: int
    flags: int
    name: str
    kind: str
    mac: str
    mtu: int
    operstate: str
    master: int | None
    link: int | None
    link_nsid: int | None
    alias: str | None

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)


@dataclass
class AddrMsg:
    index: int
    family: int
    prefixlen: int
    scope: int
    address: str


@dataclass
class RouteMsg:
    family: int
    dst: str | None
    dst_len: int
    gateway: str | None
    oif: int | None
    table: int
    proto: int
    scope: int
    type: int
    extra: dict[int, bytes] = field(default_factory=dict, repr=False)


def _addr_text(family: int, raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return socket.inet_ntop(family, raw)


def decode_link(body: bytes) -> LinkMsg:
    _, _, index, flags, _ = IFINFO.unpack_from(body)
    a = attrs(body, IFINFO.size)
    info = attrs(a[IFLA_LINKINFO]) if IFLA_LINKINFO in a else {}
    name = _str(a.get(IFLA_IFNAME)) or ""
    kind = _str(info.get(IFLA_INFO_KIND)) or ("loopback" if name == "lo" else "device")
    mac = a.get(IFLA_ADDRESS, b"")
    op = a.get(IFLA_OPERSTATE)
    link = _u32(a.get(IFLA_LINK))
    return LinkMsg(
        index=index, flags=flags, name=name, kind=kind, mac=":".join(f"{x:02x}" for x in mac),
        mtu=_u32(a.get(IFLA_MTU)) or 0, operstate=OPERSTATES[op[0]] if op and op[0] < len(OPERSTATES) else "UNKNOWN",
        master=_u32(a.get(IFLA_MASTER)), link=link,
        link_nsid=_i32(a.get(IFLA_LINK_NETNSID)), alias=_str(a.get(IFLA_IFALIAS)),
    )


def decode_addr(body: bytes) -> AddrMsg:
    family, prefixlen, _, scope, index = IFADDR.unpack_from(body)
    a = attrs(body, IFADDR.size)
    raw = a.get(IFA_LOCAL, a.get(IFA_ADDRESS))
    return AddrMsg(index, family, prefixlen, scope, _addr_text(family, raw) or "")


def decode_route(body: bytes) -> RouteMsg:
    family, dst_len, _, _, table, proto, scope, rtype, _ = RTMSG.unpack_from(body)
    a = attrs(body, RTMSG.size)
    return RouteMsg(
        family=family, dst=_addr_text(family, a.get(RTA_DST)), dst_len=dst_len,
        gateway=_addr_text(family, a.get(RTA_GATEWAY)), oif=_u32(a.get(RTA_OIF)),
        table=_u32(a.get(RTA_TABLE)) or table, proto=proto, scope=scope, type=rtype,
    )


class NetlinkError(OSError):
    """The kernel refused a request; str() is its words (`File exists`)."""

    def __init__(self, code: int, message: str = "") -> None:
        words = os.strerror(code)
        super().__init__(code, f"{words} ({message})" if message else words)
        self.code = code


class Rtnl:
    """One NETLINK_ROUTE socket.  Open it inside a namespace: it stays bound there."""

    def __init__(self, buf: bytearray | None = None) -> None:
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
        # the receive buffer: one a lab shares between its sockets (they are used one at a
        # time), not one each: 1000 namespaces would hold 64 MiB of buffers otherwise
        self._buf = buf if buf is not None else bytearray(RECV_SIZE)

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    # -- transport -------------------------------------------------------
    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self.seq += 1
        self.sock.send(NLHDR.pack(NLHDR.size + len(body), kind, flags | NLM_F_REQUEST, self.seq, 0) + body)
        return self.seq

    def request(self, kind: int, body: bytes, flags: int = 0) -> None:
        """Send a change and wait for its acknowledgement."""
        seq = self._send(kind, flags | NLM_F_ACK, body)
        for _ in self._replies(seq):
            pass

    def get(self, kind: int, body: bytes) -> bytes | None:
        """Send a query for one object; its body, or None when the kernel has no such object."""
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

    def _replies(self, seq: int) -> Iterator[tuple[int, bytes]]:
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
                if not flags & NLM_F_MULTI:
                    return

    # -- links -----------------------------------------------------------
    def links(self) -> list[LinkMsg]:
        return [decode_link(p) for k, p in self.dump(RTM_GETLINK, ifinfo()) if k == RTM_NEWLINK]

    def link(self, name: str | None = None, index: int | None = None) -> LinkMsg | None:
        body = ifinfo(index or 0) + (attr_str(IFLA_IFNAME, name) if name is not None else b"")
        payload = self.get(RTM_GETLINK, body)
        return decode_link(payload) if payload is not None else None

    def index(self, name: str) -> int | None:
        """A link's index by name: the reply's header only, nothing decoded."""
        payload = self.get(RTM_GETLINK, ifinfo() + attr_str(IFLA_IFNAME, name))
        return IFINFO.unpack_from(payload)[2] if payload is not None else None

    def add_link(self, name: str, kind: str, up: bool = False, data: bytes = b"", extra: bytes = b"") -> None:
        info = nested(IFLA_LINKINFO, attr_str(IFLA_INFO_KIND, kind), *([nested(IFLA_INFO_DATA, data)] if data else []))
        body = ifinfo(0, IFF_UP if up else 0, IFF_UP if up else 0) + attr_str(IFLA_IFNAME, name) + extra + info
        self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL)

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
        """Addresses of the namespace, or of one interface (filtered by the kernel under strict checking)."""
        found = [decode_addr(p) for k, p in self.dump(RTM_GETADDR, IFADDR.pack(0, 0, 0, 0, index)) if k == RTM_NEWADDR]
        return [a for a in found if a.index == index] if index else found

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

    # -- namespaces ------------------------------------------------------
    def nsid(self, fd: int) -> int | None:
        """The id this namespace gives the namespace open at `fd` (None when it has none)."""
        payload = self.get(RTM_GETNSID, struct.pack("=Bxxx", socket.AF_UNSPEC) + attr_u32(NETNSA_FD, fd))
        if payload is None:
            return None
        value = _i32(attrs(payload, 4).get(NETNSA_NSID))
        return value if value is not None and value >= 0 else None


def _extack(payload: bytes, flags: int) -> str:
    """The kernel's extended error message (NLMSGERR_ATTR_MSG), when it sent one."""
    if not flags & 0x200:  # NLM_F_ACK_TLVS
        return ""
    orig_len = NLHDR.unpack_from(payload, 4)[0]
    offset = 4 + (orig_len if flags & 0x100 == 0 else NLHDR.size)  # NLM_F_CAPPED
    return _str(attrs(payload, offset).get(1)) or ""


def open_in(fd: int, buf: bytearray | None = None) -> Rtnl:
    from . import sysns

    return sysns.call_in(fd, lambda: Rtnl(buf))


