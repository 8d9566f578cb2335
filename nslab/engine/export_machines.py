"""The lab as machines, for the exporters that write production config (netplan, networkd) and
other engines' topologies (containerlab): each namespace stands for one machine.

Read from the lab as it stands (the view: the kernel, or the dry run's model), with the journal's
kept steps naming the line each address, route and sysctl came from, so a comment can say where.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from ..base.errors import NslabError
from ..kernel.inventory import Link, Route
from ..kernel.netns import HOST
from ..ops.journal import Step
from ..ops.shell_words import comment_text
from .export import kept

LOOPBACK_OWN = {"127.0.0.1/8", "::1/128"}  # the kernel gives lo these: nothing to write


def a_kind(kind: str) -> str:
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


@dataclass
class Machine:
    ns: str
    links: list[Link]  # everything but lo, sorted by name
    routes: list[Route]  # the static ones (the kernel's own follow from the addresses)
    loopback: list[str]  # addresses on lo beyond the kernel's own
    lo_up: bool
    sysctls: dict[str, str] = field(default_factory=dict)
    stacked: dict[str, dict[str, Any]] = field(default_factory=dict)  # macvlan/vxlan name -> its op (mode, vni, ...)
    container: bool = False  # a container's namespace (`ns link`, pipework)
    macs: set[str] = field(default_factory=set)  # MACs the lab set there (the others are the kernel's, random)

    def mac_set(self, link: Link) -> bool:
        return bool(link.mac) and link.mac.lower() in self.macs

    def link(self, name: str) -> Link | None:
        return next((x for x in self.links if x.name == name), None)

    def ports(self, bridge: str) -> list[str]:
        return [x.name for x in self.links if x.master == bridge]


def _global(addrs: list[str]) -> list[str]:
    return [a for a in addrs if not ipaddress.ip_interface(a).ip.is_link_local]


def machines(view: Any, steps: list[Step]) -> tuple[list[Machine], list[str]]:
    """Every namespace of the lab, the host first, as machines; and the namespaces that cannot be
    read (a container that stopped), each with why, left out."""
    from ..ops.link_kinds import remake

    names = [HOST, *view.names()]
    sysctls = _sysctls(steps, set(names))
    macs = _macs(steps)
    out, left_out = [], []
    for ns in names:
        try:
            try:
                found = view.lab_links([ns])
            except NslabError:  # a veth's other end in a namespace that cannot be read: unnamed
                found = view.lab_links([ns], peers=False)
            routes = view.routes(ns)
        except NslabError as e:
            left_out.append(f"{ns}: {e.message}")
            continue
        links = sorted(found.get(ns, []), key=lambda x: x.name)
        lo = next((x for x in links if x.kind == "loopback" or x.name == "lo"), None)
        rest = [x for x in links if x is not lo]
        for x in rest:
            x.addrs = _global(x.addrs)
        by_index = {x.index: x.name for x in links}
        stacked = {x.name: op for x in rest if x.kind in ("macvlan", "vxlan") and (op := remake(x, by_index)) is not None}
        routes = [r for r in routes if not r.kernel_made and not _link_local_route(r)]
        out.append(Machine(ns, rest, routes, [a for a in (lo.addrs if lo else []) if a not in LOOPBACK_OWN],
                           bool(lo and lo.up), sysctls.get(ns, {}), stacked, view.is_link(ns), macs.get(ns, set())))
    return out, left_out


def _link_local_route(r: Route) -> bool:
    return r.dst != "default" and ipaddress.ip_network(r.dst, strict=False).is_link_local


def _sysctls(steps: list[Step], alive: set[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for step in steps:
        if not kept(step):
            continue
        for op in step.ops:
            if op["op"] == "sysctl" and op["ns"] in alive:
                out.setdefault(op["ns"], {})[op["key"]] = str(op["value"])
    return out


def _macs(steps: list[Step]) -> dict[str, set[str]]:
    """By namespace, the MACs kept steps gave (`link EP mac`, a veth or pipework's MAC): by value, so
    a rename or a move afterwards does not lose it."""
    out: dict[str, set[str]] = {}
    for step in steps:
        if not kept(step):
            continue
        for op in step.ops:
            for ns_key, mac_key in (("ns", "mac"), ("peer_ns", "peer_mac")):
                if op.get(mac_key) and op["op"] in ("link_set", "veth", "bridge", "macvlan", "vxlan"):
                    out.setdefault(op.get(ns_key) or op["ns"], set()).add(str(op[mac_key]).lower())
    return out


class Origins:
    """Which journal line made an address, a route or a sysctl: the last kept step that did."""

    def __init__(self, steps: list[Step]) -> None:
        self.by_key: dict[tuple[str, ...], Step] = {}
        for step in steps:
            if not kept(step):
                continue
            for op in step.ops:
                key = _key(op)
                if key is not None:
                    self.by_key[key] = step

    def of(self, *key: str) -> str:
        """`from FILE:LINE: TEXT` (or `from step N`), or "" when no step of the journal made it."""
        step = self.by_key.get(key)
        if step is None:
            return ""
        typed = step.source == "repl" or step.source.startswith("api:")  # no file to point at
        return comment_text(f"from {f'step {step.n}' if typed else step.source}: {step.text}")


def _key(op: dict[str, Any]) -> tuple[str, ...] | None:
    if op["op"] == "addr_add":
        return ("addr", op["ns"], str(ipaddress.ip_interface(op["cidr"])))
    if op["op"] == "route_add":
        net = "default" if op["dst"] == "default" else str(ipaddress.ip_network(op["dst"], strict=False))
        return ("route", op["ns"], "default" if net in ("0.0.0.0/0", "::/0") else net)
    if op["op"] == "sysctl":
        return ("sysctl", op["ns"], op["key"])
    return None


FORWARDING = ("net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding")


def route_text(r: Route) -> str:
    via = f" via {r.gw}" if r.gw else ""
    return f"{r.dst}{via}" + (f" dev {r.dev}" if r.dev else "")
