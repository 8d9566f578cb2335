"""What the kernel learned while the lab ran, read over nslab's own rtnetlink socket (rtnl.py):
a bridge's forwarding database and the neighbour (ARP/NDP) table, both RTM_GETNEIGH dumps
(family AF_BRIDGE and AF_UNSPEC, as `bridge fdb show` and `ip neigh show` ask), and each
interface's counters (IFLA_STATS64 in the RTM_GETLINK dump, as `ip -s link` reads them).
No pyroute2: the hot-path client's generic dump speaks both."""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .nlmsg import (
    IFINFO,
    IFLA_INFO_DATA,
    IFLA_LINKINFO,
    IFLA_STATS64,
    RTM_GETLINK,
    RTM_GETNEIGH,
    RTM_NEWLINK,
    attrs,
    decode_link,
    ifinfo,
)

if TYPE_CHECKING:
    from .inventory import Link
    from .rtnl import Rtnl

RTM_NEWNEIGH = 28
NDMSG = struct.Struct("=BxxxiHBB")  # family, pad, ifindex, state, flags, type
NDA_DST, NDA_LLADDR, NDA_CACHEINFO, NDA_MASTER = 1, 2, 3, 9
NDA_CACHE = struct.Struct("=IIII")  # confirmed, used, updated (clock ticks ago), refcnt
NTF_SELF, NTF_MASTER, NTF_PROXY = 0x02, 0x04, 0x08
NUD_PERMANENT, NUD_NOARP = 0x80, 0x40
# the kernel's neighbour states, lowest bit first, named as `ip neigh` names them
NUD_NAMES = ((0x01, "INCOMPLETE"), (0x02, "REACHABLE"), (0x04, "STALE"), (0x08, "DELAY"), (0x10, "PROBE"),
             (0x20, "FAILED"), (0x40, "NOARP"), (0x80, "PERMANENT"))
RESOLVED = frozenset({"REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT"})  # an entry with a usable MAC
IFLA_BR_AGEING_TIME = 4
AF_BRIDGE = 7
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # the unit of nda_cacheinfo (USER_HZ)
STATS64 = struct.Struct("=" + "Q" * 8)  # rx/tx packets, rx/tx bytes, rx/tx errors, rx/tx dropped (first 8)


@dataclass
class Neigh:
    index: int  # the interface the entry is on (a bridge port for an fdb entry)
    family: int
    state: int
    flags: int
    mac: str
    dst: str  # the IP address of a neighbour entry; "" in a bridge's fdb
    master: int | None  # the bridge of an fdb entry (NTF_MASTER); None for a device's own (self) entry
    updated: float | None  # seconds since the entry was last confirmed by a frame

    @property
    def states(self) -> list[str]:
        return [name for bit, name in NUD_NAMES if self.state & bit] or ["NONE"]


@dataclass
class Stats:
    rx_packets: int
    tx_packets: int
    rx_bytes: int
    tx_bytes: int
    rx_errors: int
    tx_errors: int
    rx_dropped: int
    tx_dropped: int


def _mac(raw: bytes | None) -> str:
    return ":".join(f"{x:02x}" for x in raw) if raw else ""


def decode_neigh(body: bytes) -> Neigh:
    family, index, state, flags, _ = NDMSG.unpack_from(body)
    a = attrs(body, NDMSG.size)
    dst = a.get(NDA_DST)
    cache = a.get(NDA_CACHEINFO)
    updated = NDA_CACHE.unpack_from(cache)[2] / TICKS if cache and len(cache) >= NDA_CACHE.size else None
    master = a.get(NDA_MASTER)
    ip = socket.inet_ntop(socket.AF_INET6 if len(dst) == 16 else socket.AF_INET, dst) if dst and family != AF_BRIDGE else ""
    return Neigh(index, family, state, flags, _mac(a.get(NDA_LLADDR)), ip,
                 struct.unpack("=I", master[:4])[0] if master else None, updated)


def fdb(nl: "Rtnl") -> list[Neigh]:
    """Every entry of every bridge (and every device's own) forwarding database in the namespace."""
    return [decode_neigh(p) for k, p in nl.dump(RTM_GETNEIGH, NDMSG.pack(AF_BRIDGE, 0, 0, 0, 0)) if k == RTM_NEWNEIGH]


def neighbours(nl: "Rtnl") -> list[Neigh]:
    """The ARP and NDP entries of the namespace, as `ip neigh show` lists them (no proxy entries,
    no NOARP ones: those stand for links with no neighbours to learn)."""
    out = [decode_neigh(p) for k, p in nl.dump(RTM_GETNEIGH, NDMSG.pack(0, 0, 0, 0, 0)) if k == RTM_NEWNEIGH]
    return [n for n in out if not n.flags & NTF_PROXY and n.state not in (0, NUD_NOARP)]


@dataclass
class LinkCounters:
    index: int
    name: str
    kind: str
    mac: str
    master: int | None
    stats: Stats | None
    ageing: float | None  # a bridge's ageing time, seconds


def counters(nl: "Rtnl") -> list[LinkCounters]:
    """Every interface with its counters (and a bridge's ageing time), from one link dump."""
    out = []
    for kind, body in nl.dump(RTM_GETLINK, ifinfo()):
        if kind != RTM_NEWLINK:
            continue
        msg = decode_link(body)
        a = attrs(body, IFINFO.size)
        raw = a.get(IFLA_STATS64)
        stats = Stats(*STATS64.unpack_from(raw)) if raw and len(raw) >= STATS64.size else None
        ageing = None
        if msg.kind == "bridge" and IFLA_LINKINFO in a:
            data = attrs(a[IFLA_LINKINFO]).get(IFLA_INFO_DATA)
            value = attrs(data).get(IFLA_BR_AGEING_TIME) if data else None
            ageing = struct.unpack("=I", value[:4])[0] / TICKS if value else None
        out.append(LinkCounters(msg.index, msg.name, msg.kind, msg.mac, msg.master, stats, ageing))
    return out


def owners(by_ns: "dict[str, list[Link]]") -> dict[str, list[str]]:
    """Each MAC of the lab with the interfaces (`NS:IF`) that carry it: a bridge takes a port's MAC,
    so one MAC may have two."""
    out: dict[str, list[str]] = {}
    for links in by_ns.values():
        for link in links:
            if link.mac and link.kind != "loopback":
                out.setdefault(link.mac, []).append(link.ep)
    return out


def port_towards(by_ns: "dict[str, list[Link]]", bridge_ns: str, bridge: str, ns: str, ifname: str) -> str | None:
    """The port of BRIDGE (in BRIDGE_NS) through which frames from NS:IF arrive: walk from it over
    veth cables and through other bridges (a bridge joins its ports) until a port of BRIDGE.
    None when no way leads there.  Reads only links, so the model (export sh) answers as the kernel."""
    by_name = {(n, x.name): x for n, links in by_ns.items() for x in links}
    start = by_name.get((ns, ifname))
    if start is None:
        return None
    seen = {(ns, ifname)}
    todo = [start]
    while todo:
        link = todo.pop(0)
        if link is not start and link.ns == bridge_ns and link.master == bridge:
            return link.name
        near: list[tuple[str, str]] = [link.peer] if link.peer else []
        for join in (link.master, link.name if link.kind == "bridge" else None):
            if join is not None:
                near += [(link.ns, x.name) for x in by_ns.get(link.ns, []) if x.master == join]
        for key in near:
            if key not in seen and key in by_name:
                seen.add(key)
                todo.append(by_name[key])
    return None
