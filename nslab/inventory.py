"""What is in the lab right now, read from the kernel: links, addresses, routes.

One dump per namespace and object type; everything else (peers across
namespaces, bridge ports) is joined here, so `show`, the listings, `expect`,
completion and the undo snapshots all read the same picture.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .netns import HOST

if TYPE_CHECKING:
    from .netns import Namespaces, Netns

IFF_UP = 1
RT_TABLE_MAIN = 254
RTPROT_KERNEL = 2


@dataclass
class Link:
    ns: str
    index: int
    name: str
    kind: str  # veth, bridge, loopback, ...
    up: bool
    operstate: str
    mac: str
    mtu: int
    master: str | None = None
    alias: str | None = None
    peer: tuple[str, str] | None = None  # (ns, ifname) of a veth's other end, when found
    link_index: int | None = None
    link_nsid: int | None = None
    addrs: list[str] = field(default_factory=list)

    @property
    def ep(self) -> str:
        return f"{self.ns}:{self.name}"


@dataclass
class Route:
    ns: str
    dst: str  # "default" or CIDR
    gw: str | None
    dev: str | None
    proto: int
    family: int

    @property
    def kernel_made(self) -> bool:
        return self.proto == RTPROT_KERNEL


def _kind(msg: Any) -> str:
    info = msg.get("IFLA_LINKINFO")
    kind = info.get("IFLA_INFO_KIND") if info else None
    if kind:
        return str(kind)
    return "loopback" if msg.get("ifname") == "lo" else "device"


def links(ns: "Netns", with_addrs: bool = True) -> list[Link]:
    out: list[Link] = []
    by_index: dict[int, Link] = {}
    for msg in ns.ipr.get_links():
        link = Link(
            ns=ns.name,
            index=msg["index"],
            name=msg.get("ifname"),
            kind=_kind(msg),
            up=bool(msg["flags"] & IFF_UP),
            operstate=msg.get("operstate") or "UNKNOWN",
            mac=msg.get("address") or "",
            mtu=msg.get("mtu") or 0,
            alias=msg.get("IFLA_IFALIAS"),
            link_index=msg.get("link"),
            link_nsid=msg.get("link_netnsid"),
        )
        link.master = msg.get("master")  # index for now, name below
        out.append(link)
        by_index[link.index] = link
    for link in out:
        m = link.master
        link.master = by_index[m].name if isinstance(m, int) and m in by_index else None
        if link.kind == "veth" and link.link_nsid is None and link.link_index in by_index:
            link.peer = (ns.name, by_index[link.link_index].name)
    if with_addrs:
        for msg in ns.ipr.get_addr():
            link = by_index.get(msg["index"])
            addr = msg.get("address")
            if link is None or addr is None:
                continue
            ip = ipaddress.ip_address(addr)
            if ip.version == 6 and ip.is_link_local:
                continue  # made by the kernel, not by the lab
            link.addrs.append(f"{addr}/{msg['prefixlen']}")
    return out


def routes(ns: "Netns", names: dict[int, str] | None = None) -> list[Route]:
    if names is None:
        names = {m["index"]: m.get("ifname") for m in ns.ipr.get_links()}
    out: list[Route] = []
    for msg in ns.ipr.get_routes(table=RT_TABLE_MAIN):
        if msg["type"] != 1:  # unicast only
            continue
        dst = msg.get("dst")
        if dst is None:
            dst_s = "default"
        else:
            dst_s = f"{dst}/{msg['dst_len']}"
            if msg["family"] == 10 and ipaddress.ip_network(dst_s, strict=False).is_link_local:
                continue
        oif = msg.get("oif")
        out.append(Route(ns.name, dst_s, msg.get("gateway"), names.get(oif) if oif else None, msg["proto"], msg["family"]))
    return out


def resolve_peers(nss: "Namespaces", by_ns: dict[str, list[Link]]) -> None:
    """Fill in the other end of veths whose peer is in another namespace (by netnsid)."""
    opened = {name: nss.get(name) for name in by_ns}
    for name, items in by_ns.items():
        pending = [link for link in items if link.kind == "veth" and link.peer is None and link.link_nsid is not None]
        if not pending:
            continue
        here = opened[name]
        nsid_of: dict[int, str] = {}
        for other, ons in opened.items():
            if other == name:
                continue
            nsid = here.ipr.get_netnsid(fd=ons.fd).get("nsid")
            if nsid is not None and nsid < 2**31:
                nsid_of[nsid] = other
        for link in pending:
            other = nsid_of.get(link.link_nsid)  # type: ignore[arg-type]
            if other is None:
                continue
            match = [x for x in by_ns[other] if x.index == link.link_index]
            if match:
                link.peer = (other, match[0].name)


def lab_links(nss: "Namespaces", names: list[str] | None = None, peers: bool = True) -> dict[str, list[Link]]:
    """Links of the given namespaces (default: host and every named one)."""
    names = names if names is not None else [HOST, *nss.names()]
    by_ns = {n: links(nss.get(n)) for n in names}
    if peers:
        resolve_peers(nss, by_ns)
    return by_ns


def find(nss: "Namespaces", ns: str, ifname: str) -> Link | None:
    for link in links(nss.get(ns), with_addrs=True):
        if link.name == ifname:
            return link
    return None
