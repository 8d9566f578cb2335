"""rtnetlink messages as bytes: the constants, struct layouts, encoders and the decoders
of the few replies the lab reads (links, addresses, routes); and what a lab's sockets
share (their request counts and the step's cache switch).  The socket is nslab/kernel/rtnl.py."""

from __future__ import annotations

import os
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field

NETLINK_ROUTE = 0
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12
SOL_NETLINK = 270

NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_ECHO = 0x1, 0x2, 0x4, 0x8
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_GETNEIGH = 30
RTM_GETNSID = 90
RTM_NAMES = {16: "RTM_NEWLINK", 17: "RTM_DELLINK", 18: "RTM_GETLINK", 19: "RTM_SETLINK", 20: "RTM_NEWADDR",
             21: "RTM_DELADDR", 22: "RTM_GETADDR", 24: "RTM_NEWROUTE", 25: "RTM_DELROUTE", 26: "RTM_GETROUTE",
             30: "RTM_GETNEIGH", 90: "RTM_GETNSID"}  # for the request counts (Rtnl.requests)

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD, IFLA_LINK_NETNSID = 16, 18, 20, 28, 37
IFLA_STATS64 = 23  # struct rtnl_link_stats64: read by kernel/learned.py
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
    """An RTM_NEWLINK message, decoded."""

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
    info: bytes = b""  # IFLA_INFO_DATA as it came: a macvlan's mode, a vxlan's id (decoded when asked)

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)


@dataclass
class AddrMsg:
    """An RTM_NEWADDR message, decoded."""

    index: int
    family: int
    prefixlen: int
    scope: int
    address: str


@dataclass
class RouteMsg:
    """An RTM_NEWROUTE message, decoded."""

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
        link_nsid=_i32(a.get(IFLA_LINK_NETNSID)), alias=_str(a.get(IFLA_IFALIAS)), info=info.get(IFLA_INFO_DATA, b""),
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


def _extack(payload: bytes, flags: int) -> str:
    """The kernel's extended error message (NLMSGERR_ATTR_MSG), when it sent one."""
    if not flags & 0x200:  # NLM_F_ACK_TLVS
        return ""
    orig_len = NLHDR.unpack_from(payload, 4)[0]
    offset = 4 + (orig_len if flags & 0x100 == 0 else NLHDR.size)  # NLM_F_CAPPED
    return _str(attrs(payload, offset).get(1)) or ""


class NetlinkError(OSError):
    """The kernel refused a request; str() is its words (`File exists`)."""

    def __init__(self, code: int, message: str = "") -> None:
        words = os.strerror(code)
        super().__init__(code, f"{words} ({message})" if message else words)
        self.code = code


class Shared:
    """What the sockets of one lab share.

    `requests`: the requests they sent, by message type (RTM_GETLINK...), so tests and the
    bench count what a step costs.  The step's cache: while `caching` is on (from
    Namespaces.new_step to end_step, one step of the engine), a socket answers a lookup it
    has made already (a link by name or index, one interface's addresses) from its memory,
    as long as the lab has sent no write since (`writes`, bumped by every change request,
    every op and every namespace made or deleted).  A step's reads come before its writes,
    so the handler's checks, the op's before-state and its undo share one read; a write
    anywhere forgets everything, so what a write changed (here, a veth's peer, a moved
    link) is read again.  A change made by another program during a step is not seen,
    as it is not seen between a read and the write that follows it today."""

    def __init__(self) -> None:
        self.requests: Counter[int] = Counter()
        self.caching = False
        self.writes = 0
