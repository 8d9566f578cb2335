"""What is in the lab right now, read from the kernel: links, addresses, routes.

One dump per namespace and object type; everything else (peers across
namespaces, bridge ports) is joined here, so `show`, the listings, `expect`,
completion and the undo snapshots all read the same picture.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .netns import HOST

if TYPE_CHECKING:
    from .netns import Namespaces, Netns
    from .rtnl import AddrMsg, LinkMsg

IFF_UP = 1
RT_TABLE_MAIN = 254
RTPROT_KERNEL = 2


@dataclass
class Link:
    """An interface as the kernel reports it."""

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
    info: bytes = b""  # the kind's own attributes, raw (nslab/ops/link_kinds.py reads a macvlan's and a vxlan's)

    @property
    def ep(self) -> str:
        return f"{self.ns}:{self.name}"


def route_family(dst: str, gw: str | None = None) -> int:
    """A route's address family, from how it is written: `default` takes its gateway's."""
    if dst == "default":
        return 10 if gw and ":" in gw else 2
    return 10 if ":" in dst else 2


def same_dest(route: "Route", dst: str, gw: str | None = None) -> bool:
    """Whether a route the kernel lists is the one a line names: 0.0.0.0/0 and ::/0 are listed as
    `default` (of their own family)."""
    if dst in ("0.0.0.0/0", "::/0"):
        return route.dst == "default" and route.family == route_family(dst)
    if dst == "default":
        return route.dst == "default" and (gw is None or route.family == route_family(dst, gw))
    return route.dst == dst


@dataclass
class Route:
    """A route as the kernel reports it."""

    ns: str
    dst: str  # "default" or CIDR
    gw: str | None
    dev: str | None
    proto: int
    family: int

    @property
    def kernel_made(self) -> bool:
        return self.proto == RTPROT_KERNEL


def _link(ns: str, msg: "LinkMsg") -> Link:
    return Link(ns=ns, index=msg.index, name=msg.name, kind=msg.kind, up=msg.up, operstate=msg.operstate,
                mac=msg.mac, mtu=msg.mtu, alias=msg.alias, link_index=msg.link, link_nsid=msg.link_nsid,
                info=msg.info)


def _addr_text(a: "AddrMsg") -> str | None:
    if a.family == 10 and ipaddress.ip_address(a.address).is_link_local:
        return None  # made by the kernel, not by the lab
    return f"{a.address}/{a.prefixlen}"


def link_local(ns: "Netns") -> dict[str, list[str]]:
    """The IPv6 link-local addresses the kernel gave each interface (fe80::/64 from its MAC): one
    dump.  Not in a Link's addrs (the lab did not make them), but `addr ls` shows them, marked."""
    names = {msg.index: msg.name for msg in ns.nl.links()}
    found: dict[str, list[str]] = {}
    for a in ns.nl.addrs():
        if a.family == 10 and ipaddress.ip_address(a.address).is_link_local and a.index in names:
            found.setdefault(names[a.index], []).append(f"{a.address}/{a.prefixlen}")
    return found


def links(ns: "Netns", with_addrs: bool = True) -> list[Link]:
    out: list[Link] = []
    by_index: dict[int, Link] = {}
    masters: dict[int, int | None] = {}
    for msg in ns.nl.links():
        link = _link(ns.name, msg)
        masters[link.index] = msg.master
        out.append(link)
        by_index[link.index] = link
    for link in out:
        m = masters[link.index]
        link.master = by_index[m].name if m in by_index else None
        if link.kind == "veth" and link.link_nsid is None and link.link_index in by_index:
            link.peer = (ns.name, by_index[link.link_index].name)
    if with_addrs:
        for a in ns.nl.addrs():
            holder = by_index.get(a.index)
            text = _addr_text(a)
            if holder is not None and text:
                holder.addrs.append(text)
    return out


def routes(ns: "Netns", names: dict[int, str] | None = None) -> list[Route]:
    msgs = [m for m in ns.nl.routes() if m.type == 1 and m.table == RT_TABLE_MAIN]  # unicast, main table
    if names is None:
        oifs = {m.oif for m in msgs if m.oif}
        if len(oifs) > 16:
            names = {m.index: m.name for m in ns.nl.links()}
        else:  # a few single lookups beat a dump of a namespace with many links
            names = {i: link.name for i in oifs if (link := ns.nl.link(index=i)) is not None}
    out: list[Route] = []
    for msg in msgs:
        if msg.dst is None or msg.dst_len == 0:
            dst_s = "default"
        else:
            dst_s = f"{msg.dst}/{msg.dst_len}"
            if msg.family == 10 and ipaddress.ip_network(dst_s, strict=False).is_link_local:
                continue
        out.append(Route(ns.name, dst_s, msg.gateway, names.get(msg.oif) if msg.oif else None, msg.proto, msg.family))
    return out


def resolve_peers(nss: "Namespaces", by_ns: dict[str, list[Link]]) -> None:
    """Fill in the other end of veths whose peer is in another namespace.

    The peer's namespace is found by the netnsid its veth carries (nss.nsid_owner), and the
    peer by its index there: one RTM_GETLINK for a namespace not listed, never a dump of
    every namespace of the lab."""
    for name, items in by_ns.items():
        for link in items:
            if link.kind != "veth" or link.peer is not None or link.link_nsid is None or link.link_index is None:
                continue
            other = nss.nsid_owner(name, link.link_nsid)
            if other is None or (other not in by_ns and nss.gone(other) is not None):
                continue
            if other in by_ns:
                match = [x.name for x in by_ns[other] if x.index == link.link_index]
            else:
                msg = nss.get(other).nl.link(index=link.link_index)
                match = [msg.name] if msg is not None and msg.kind == "veth" else []
            if match:
                link.peer = (other, match[0])


def lab_links(nss: "Namespaces", names: list[str] | None = None, peers: bool = True) -> dict[str, list[Link]]:
    """Links of the given namespaces (default: host and every named one); peers elsewhere are
    looked up one by one, so naming one namespace reads one namespace (and its peers' links)."""
    if names is None:  # the whole lab: a link whose container has stopped has nothing to list
        names = [HOST, *(n for n in nss.names() if nss.gone(n) is None)]
    by_ns = {n: links(nss.get(n)) for n in names}
    if peers:
        resolve_peers(nss, by_ns)
    return by_ns


def find(nss: "Namespaces", ns: str, ifname: str, with_addrs: bool = True) -> Link | None:
    """One interface by name: a single RTM_GETLINK, not a dump of the namespace."""
    n = nss.get(ns)
    msg = n.nl.link(ifname)
    if msg is None:
        return None
    link = _link(ns, msg)
    if msg.master:
        master = n.nl.link(index=msg.master)
        link.master = master.name if master else None
    if msg.kind == "veth" and msg.link_nsid is None and msg.link:
        peer = n.nl.link(index=msg.link)
        link.peer = (ns, peer.name) if peer else None
    if with_addrs:
        link.addrs = [t for a in n.nl.addrs(msg.index) if (t := _addr_text(a))]
    return link
