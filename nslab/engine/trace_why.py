"""Where a trace's probe stopped and why, in words (nslab/engine/trace.py rebuilt its paths).

The kernel is asked only read-only questions: a route lookup in a namespace, its
net.ipv4.ip_forward, and the links' states the view already read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .packets import ICMP6_UNREACH, ICMP_UNREACH
from .trace import REPLY, REQUEST, Seen, Topology, main_path

Roots = dict[tuple[Any, ...], list[Seen]]


class Lookups:
    def __init__(self, route: Callable[[str, str], bool], forwarding: Callable[[str], bool | None]) -> None:
        self.route = route  # a route in NS to DST exists
        self.forwarding = forwarding


def _first(roots: Roots, kind: str | tuple[str, ...]) -> list[Seen]:
    kinds = (kind,) if isinstance(kind, str) else kind
    return [r for k, rs in roots.items() if k[0] in kinds for r in rs]


def _unanswered(s: Seen) -> tuple[str, str]:
    """The reason and the words for a neighbour lookup nobody answered (ARP, or NDP for IPv6)."""
    return ("no-neighbour-answer", f"no neighbour answer (NDP) for {s.dst}") if s.v6 else \
        ("no-arp-answer", f"no ARP answer for {s.dst}")


def _down(topo: Topology, s: Seen) -> str | None:
    link = topo.link(s)
    peer = topo.links.get(link.peer) if link is not None and link.peer else None
    for end in (link, peer):
        if end is not None and not end.up:
            return f"dropped by a down link: {end.ep} is down"
    return None


def stopped(leaf: Seen, topo: Topology, roots: Roots, ask: Lookups) -> tuple[str, str]:
    """Why a packet whose furthest sighting is LEAF went no further."""
    link = topo.link(leaf)
    if leaf.out:
        why = _down(topo, leaf)
        if why:
            return "link-down", why
        if link is not None and link.peer:
            return "unknown", f"it left {leaf.ep} and never arrived at {link.peer[0]}:{link.peer[1]}"
        return "unknown", f"it left through {leaf.ep}, which nslab cannot follow"
    if link is not None and link.master:
        ports = [x for x in topo.by_ns.get(leaf.ns, []) if x.master == link.master and x.name != leaf.ifname]
        down = [x.ep for x in ports if not x.up] + [f"{x.peer[0]}:{x.peer[1]}" for x in ports if x.peer
                                                   and (p := topo.links.get(x.peer)) is not None and not p.up]
        if down:
            return "link-down", f"{link.master} did not pass it on from {leaf.ifname}: dropped by a down link ({', '.join(down)})"
        return "unknown", f"{link.master} did not pass it on from port {leaf.ifname}"
    if link is not None and link.kind == "bridge" and leaf.kind.endswith("reply") and not link.addrs:
        port = leaf.parent.ifname if leaf.parent is not None else "a port"
        return "bridge-took-reply", (f"the reply reached {port}, a port of {link.name}: the bridge took it, and {link.name} "
                                     f"has no address, so the stack that asked never saw it (put the address on {link.name})")
    if topo.holds(leaf.ns, leaf.dst):
        return "no-reply", f"{leaf.ns} got it at {leaf.ep} and did not answer"
    if ask.forwarding(leaf.ns) is False:
        knob = "net.ipv6.conf.all.forwarding" if leaf.v6 else "net.ipv4.ip_forward"
        return "forwarding-off", (f"forwarding is off in {leaf.ns}: it got the packet on {leaf.ifname} for {leaf.dst}, "
                                  f"which is not its own address, and {knob} is 0")
    if not ask.route(leaf.ns, leaf.dst):
        return "no-route", f"{leaf.ns} has no route to {leaf.dst}"
    asked = [r for r in _first(roots, REQUEST) if r.ns == leaf.ns and r.t >= leaf.t]
    if asked:
        reason, words = _unanswered(asked[0])
        return reason, f"{words}: {leaf.ns} asked on {asked[0].ifname} and nobody answered"
    return "unknown", f"the trail ends at {leaf.ep}"


def verdict(roots: Roots, topo: Topology, ask: Lookups, source: str, src_ip: str, addr: str,
            rtt: float | None) -> tuple[str, str]:
    requests = _first(roots, "echo-request")
    if rtt is not None:
        owner = topo.owner(addr) or addr
        return "reached", f"{owner} answered: the echo reply came back to {source} in {rtt:.2f} ms"
    for err in _first(roots, "icmp-error"):
        sender = topo.owner(err.src) or err.src
        kind, code = err.icmp or (0, 0)
        if err.v6 and kind == 3:
            return "hop-limit-exceeded", (f"hop limit exceeded at {sender} ({err.src}): the echo went round until "
                                          f"its hop limit ran out")
        if err.v6:
            words = ICMP6_UNREACH.get(code, f"unreachable, code {code}").replace("unreachable ", "unreachable: ")
            return "unreachable", f"{sender} ({err.src}) answered destination unreachable, code {code}: {words} {addr}"
        if kind == 11:
            return "ttl-exceeded", f"TTL exceeded at {sender} ({err.src}): the echo went round until its TTL ran out"
        words = ICMP_UNREACH.get(code, "{dst} unreachable - code " + str(code)).format(dst=addr, proto=1, qproto="icmp", port="?")
        return "unreachable", f"{sender} ({err.src}) answered destination unreachable, code {code}: {words}"
    if requests:
        path = main_path(requests[0], topo)
        leaf = path[-1]
        if topo.holds(leaf.ns, addr) and not leaf.out:
            if requests[0].src == "0.0.0.0":
                return "source-0.0.0.0", (f"the echo was sourced from 0.0.0.0 (no IPv4 address where it left {source}): "
                                          f"{leaf.ns} got it at {leaf.ep} and has no address to answer")
            replies = _first(roots, "echo-reply")
            if replies:
                return stopped(main_path(replies[0], topo)[-1], topo, roots, ask)
            if src_ip and not ask.route(leaf.ns, requests[0].src):
                return "no-route", f"{leaf.ns} got the echo but has no route back to {requests[0].src}"
            return "no-reply", f"{leaf.ns} got the echo at {leaf.ep} and did not answer"
        return stopped(leaf, topo, roots, ask)
    for req in _first(roots, REQUEST):
        if req.ns != source:
            continue
        answers = [r for r in _first(roots, REPLY) if r.src == req.dst]
        if answers:
            return stopped(main_path(answers[0], topo)[-1], topo, roots, ask)
        reached = sorted({s.ns for s in _walk(req) if not s.out and topo.master(s) is None})
        where = f"; it reached {', '.join(reached)}, none of which holds it" if reached else ""
        reason, words = _unanswered(req)
        return reason, f"{words}: {source} asked on {req.ifname} and nobody answered{where}"
    return "unknown", f"nothing left {source}"


def _walk(root: Seen) -> list[Seen]:
    out, todo = [], [root]
    while todo:
        s = todo.pop()
        out.append(s)
        todo += s.children
    return out
