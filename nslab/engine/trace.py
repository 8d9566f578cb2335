"""`trace`: one probe (the ARP it needs, then one ICMP echo) while every interface of the lab is
watched, then the path each packet took, rebuilt from where it was seen.

A sighting's parent is found from the topology: an `In` on a veth comes from an `Out` on its
other end; an `Out` on a bridge port from an `In` on another port of that bridge (or from the
bridge itself); an `Out` on any other interface from an `In` in the same namespace (routed).
IPv4 (ARP, ICMP echo) and IPv6 (NDP's solicitation and advertisement, ICMPv6 echo): an NDP
exchange is kept under the same two roles as ARP's (`REQUEST`, `REPLY`) so one path logic serves
both; DAD's solicitations (from ::), router solicitations and MLD reports are the kernel's noise,
never the probe's, and are not picked.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..kernel.inventory import Link
from ..kernel.packet import RETIRE_MS, Tap
from . import packets

SETTLE = 3 * RETIRE_MS / 1000  # after the echo's wait: the rings' last blocks are handed over
REQUEST = ("arp-request", "nd-solicit")  # who has this address (ARP, NDP)
REPLY = ("arp-reply", "nd-advert")  # it is at this MAC
NEIGH = REQUEST + REPLY


@dataclass
class Seen:
    t: int  # the kernel's time, epoch ns
    ns: str
    ifname: str
    out: bool
    kind: str  # arp-request, arp-reply, nd-solicit, nd-advert, echo-request, echo-reply, icmp-error
    src: str  # IP source (ARP: sender)
    dst: str  # IP destination (ARP: target)
    mac_dst: str
    ttl: int | None = None
    icmp: tuple[int, int] | None = None  # an error's type and code
    summary: str = ""
    children: list["Seen"] = field(default_factory=list)
    parent: "Seen | None" = None
    v6: bool = False

    @property
    def ep(self) -> str:
        return f"{self.ns}:{self.ifname}"


def classify(frame: bytes, ident: int, dpkt: Any) -> tuple[str, str, str, int | None, tuple[int, int] | None] | None:
    """(kind, src, dst, ttl, error) of a frame that belongs to the probe, or None."""
    try:
        eth = dpkt.ethernet.Ethernet(frame)
        inner = eth.data
        if isinstance(inner, dpkt.arp.ARP):
            kind = "arp-request" if inner.op == dpkt.arp.ARP_OP_REQUEST else "arp-reply"
            return kind, socket.inet_ntoa(inner.spa), socket.inet_ntoa(inner.tpa), None, None
        if isinstance(inner, dpkt.ip6.IP6):
            return _classify6(inner, ident)
        if not isinstance(inner, dpkt.ip.IP) or inner.p != 1:
            return None
        raw = bytes(inner.data)
        kind_, code = raw[0], raw[1]
        src, dst = socket.inet_ntoa(inner.src), socket.inet_ntoa(inner.dst)
        if kind_ in (0, 8) and int.from_bytes(raw[4:6], "big") == ident:
            return ("echo-request" if kind_ == 8 else "echo-reply"), src, dst, inner.ttl, None
        if kind_ in (3, 11):
            quoted = raw[8:]
            ihl = (quoted[0] & 0x0F) * 4
            if quoted[9] == 1 and int.from_bytes(quoted[ihl + 4:ihl + 6], "big") == ident:
                return "icmp-error", src, dst, inner.ttl, (kind_, code)
    except Exception:  # a frame dpkt cannot read is not the probe's
        return None
    return None


def _classify6(ip6: Any, ident: int) -> tuple[str, str, str, int | None, tuple[int, int] | None] | None:
    if ip6.nxt != 58:
        return None
    raw = bytes(ip6.data)
    kind, code = raw[0], raw[1]
    src, dst = socket.inet_ntop(socket.AF_INET6, ip6.src), socket.inet_ntop(socket.AF_INET6, ip6.dst)
    if kind == 135 and src != "::":  # a solicitation from :: is DAD's, not a lookup
        return "nd-solicit", src, socket.inet_ntop(socket.AF_INET6, raw[8:24]), None, None
    if kind == 136:  # the advertised (target) address, to the asker
        return "nd-advert", socket.inet_ntop(socket.AF_INET6, raw[8:24]), dst, None, None
    if kind in (128, 129) and int.from_bytes(raw[4:6], "big") == ident:
        return ("echo-request" if kind == 128 else "echo-reply"), src, dst, ip6.hlim, None
    if kind in (1, 3):  # unreachable, time exceeded: the quoted IPv6 header, then our echo
        quoted = raw[8:]
        if quoted[6] == 58 and quoted[40] == 128 and int.from_bytes(quoted[44:46], "big") == ident:
            return "icmp-error", src, dst, ip6.hlim, (kind, code)
    return None


def watch(taps: list[tuple[str, str, Tap]], send: Callable[[], Any]) -> tuple[Any, list[tuple[str, str, int, bool, bytes]]]:
    """Run SEND on a thread while the taps are read; (what SEND returned or raised, the frames)."""
    outcome: dict[str, Any] = {}

    def probe() -> None:
        try:
            outcome["value"] = send()
        except BaseException as e:  # said by the caller, on the main thread
            outcome["error"] = e

    frames: list[tuple[str, str, int, bool, bytes]] = []
    poller = select.poll()
    for _, _, tap in taps:
        poller.register(tap, select.POLLIN)
    worker = threading.Thread(target=probe, name="nslab-trace", daemon=True)
    worker.start()

    def take() -> None:
        for ns, ifname, tap in taps:
            frames.extend((ns, ifname, ts, out, frame) for ts, out, frame in tap.frames())

    while worker.is_alive():
        if poller.poll(50):
            take()
    time.sleep(SETTLE)
    take()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value"), frames


def sightings(frames: list[tuple[str, str, int, bool, bytes]], ident: int) -> list[Seen]:
    dpkt = packets.load()
    out = []
    for ns, ifname, ts, outgoing, frame in sorted(frames, key=lambda f: f[2]):
        got = classify(frame, ident, dpkt)
        if got is None:
            continue
        kind, src, dst, ttl, err = got
        out.append(Seen(ts, ns, ifname, outgoing, kind, src, dst, frame[:6].hex(":"), ttl, err,
                        packets.decode(frame, dpkt).summary, v6=":" in src))
    return out


class Topology:
    def __init__(self, by_ns: dict[str, list[Link]], lowers: dict[tuple[str, str], tuple[tuple[str, str], str]] | None = None) -> None:
        self.links = {(x.ns, x.name): x for links in by_ns.values() for x in links}
        self.by_ns = by_ns
        self.lowers = lowers or {}  # a macvlan child -> (its parent, its mode)

    def lower(self, s: Seen) -> tuple[str, str] | None:
        """The parent a macvlan child stands on (NS, IF), or None."""
        got = self.lowers.get((s.ns, s.ifname))
        return got[0] if got is not None else None

    def uppers(self, s: Seen) -> set[tuple[str, str]]:
        """The macvlan children standing on this interface."""
        return {c for c, (p, _) in self.lowers.items() if p == (s.ns, s.ifname)}

    def link(self, s: Seen) -> Link | None:
        return self.links.get((s.ns, s.ifname))

    def master(self, s: Seen) -> str | None:
        link = self.link(s)
        return link.master if link is not None else None

    def holds(self, ns: str, ip: str) -> bool:
        return any(c.split("/")[0] == ip for x in self.by_ns.get(ns, []) for c in x.addrs)

    def owner(self, ip: str) -> str | None:
        return next((ns for ns in self.by_ns if self.holds(ns, ip)), None)


def key(s: Seen) -> tuple[Any, ...]:
    if s.kind in NEIGH:
        return (s.kind, s.src, s.dst)
    if s.kind == "icmp-error":
        return (s.kind, s.src, s.icmp)
    return (s.kind,)


def _parent(s: Seen, earlier: list[Seen], topo: Topology) -> Seen | None:
    link = topo.link(s)
    low, ups = topo.lower(s), topo.uppers(s)
    if not s.out and low is not None:
        # into a macvlan child: from its parent (bridge mode hands a child's unicast to the parent's
        # taps first, as an In there), or straight from a sibling (a broadcast, switched child to child)
        cands = [n for n in earlier if ((n.ns, n.ifname) == low and not n.out)
                 or (n.out and topo.lower(n) == low and n.ep != s.ep)]
    elif ups and s.out:  # sent on by a macvlan parent: routed in its namespace, or a child's frame to the wire
        cands = [n for n in earlier if (n.out and (n.ns, n.ifname) in ups)
                 or (not n.out and n.ns == s.ns and topo.master(n) is None)]
    elif ups:  # into a macvlan parent: from its veth's other end, or a child's unicast handed to its taps
        cands = [n for n in earlier if n.out and ((n.ns, n.ifname) in ups or (link is not None and (n.ns, n.ifname) == link.peer))]
    elif not s.out:
        if link is not None and link.peer:
            cands = [n for n in earlier if n.out and (n.ns, n.ifname) == link.peer]
        elif link is not None and link.kind == "bridge":
            cands = [n for n in earlier if not n.out and n.ns == s.ns and topo.master(n) == link.name]
        else:
            cands = []
    elif link is not None and link.master:
        cands = [n for n in earlier if n.ns == s.ns and n.ifname != s.ifname and (
            (not n.out and topo.master(n) == link.master) or (n.out and n.ifname == link.master))]
    else:
        cands = [n for n in earlier if n.ns == s.ns and not n.out and topo.master(n) is None]
    return cands[-1] if cands else None


def forest(seen: list[Seen], topo: Topology) -> dict[tuple[Any, ...], list[Seen]]:
    """The roots of each packet's trees, by packet (in the order each was first seen)."""
    groups: dict[tuple[Any, ...], list[Seen]] = {}
    for s in seen:
        groups.setdefault(key(s), []).append(s)
    roots: dict[tuple[Any, ...], list[Seen]] = {}
    for k, items in groups.items():
        for i, s in enumerate(items):
            parent = _parent(s, items[:i], topo)
            s.parent = parent
            if parent is None:
                roots.setdefault(k, []).append(s)
            else:
                parent.children.append(s)
    return roots


def _arrived(s: Seen, topo: Topology) -> bool:
    """The packet reached the namespace it was for (ARP: the one asked; a reply: the asker)."""
    if s.out or topo.master(s) is not None:
        return False
    link = topo.link(s)
    if s.kind in REPLY or (link is not None and link.kind == "bridge"):
        return link is not None and link.mac == s.mac_dst
    return topo.holds(s.ns, s.dst)


def main_path(root: Seen, topo: Topology) -> list[Seen]:
    """Root to the leaf that got furthest: one that arrived, else the deepest, else the latest."""
    best: list[Seen] = [root]
    score = (-1, 0, 0)
    todo = [[root]]
    while todo:
        path = todo.pop()
        node = path[-1]
        if not node.children:
            mine = (1 if _arrived(node, topo) else 0, len(path), -node.t)
            if mine > score:
                best, score = path, mine
        todo += [[*path, c] for c in node.children]
    return best


def hops(path: list[Seen], topo: Topology) -> list[str]:
    """The path in words: `ns1:eth0 → br0 port v1 → flooded to v2, v3 → ns2:eth0`."""
    words: list[str] = []
    for i, s in enumerate(path):
        link = topo.link(s)
        where = "" if s.ns == "host" else f"{s.ns}:"
        came = topo.lowers.get((s.parent.ns, s.parent.ifname)) if s.parent is not None else None
        if came is not None and came[0] == (s.ns, s.ifname):  # the parent of the macvlan child it came from
            words.append(f"{'out of' if s.out else 'via'} macvlan parent {s.ep} (mode {came[1]})")
            continue
        if came is not None and topo.lower(s) == came[0]:
            # child to child with no sighting on the parent between them: said, not guessed
            words.append(f"via macvlan parent {':'.join(came[0])} (mode {came[1]}; unseen there: switched child to child)")
        if not s.out and link is not None and link.master:
            words.append(f"{where}{link.master} port {s.ifname}")
        elif s.out and link is not None and link.master:
            if i == 0:
                words.append(s.ep)
                continue
            ports = [c.ifname for c in path[i - 1].children if c.out and topo.master(c) == link.master]
            words.append(("flooded to " if len(ports) > 1 else "forwarded to ") + ", ".join(ports))
        elif not s.out and link is not None and link.kind == "bridge":
            words.append(f"{s.ep} (the bridge itself)")
        elif s.out and s.parent is not None:
            life = "hop limit" if s.v6 else "ttl"
            words.append(f"{s.ep} (routed by {s.ns}, {life} {s.ttl})" if s.ttl is not None else f"{s.ep} (routed by {s.ns})")
        else:
            words.append(s.ep)
    return words


def endpoints(path: list[Seen], topo: Topology) -> list[str]:
    """The NS:IF the path passed, in order (a bridge port's bridge too), for `expect path`."""
    out: list[str] = []
    for s in path:
        out.append(s.ep)
        master = topo.master(s)
        if master is not None and not s.out:
            out.append(f"{s.ns}:{master}")
    return out


def tree(s: Seen, t0: int) -> dict[str, Any]:
    return {"at": s.ep, "dir": "out" if s.out else "in", "ms": round((s.t - t0) / 1e6, 3),
            ("hop_limit" if s.v6 else "ttl"): s.ttl,
            "summary": s.summary, "next": [tree(c, t0) for c in s.children]}
