"""The lab as a pure value: namespaces holding interfaces (with their addresses) and
static routes, plus the sysctls the lab set.

Each op kind's model effect changes it (nslab/ops/model.py); `read` makes one of some
namespaces from the kernel (through inventory) and `diff` says what changed between two.  It holds the same records
the kernel is read into for the listings (`inventory.Link`, `inventory.Route`), so the
handlers read either through one view (nslab/engine/view.py) and the contract tests
compare like with like.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import inventory
from .inventory import Link, Route
from .netns import HOST

if TYPE_CHECKING:
    from .netns import Namespaces

LO_MTU = 65536
ETH_MTU = 1500


@dataclass
class NsState:
    """One namespace of the lab state: links, static routes, sysctls, shaping, flaps."""

    links: dict[str, Link] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)  # static ones: the kernel's follow from addresses
    sysctls: dict[str, str] = field(default_factory=dict)
    shaping: dict[str, dict[str, object]] = field(default_factory=dict)  # root qdiscs the lab set, by link
    flaps: set[str] = field(default_factory=set)  # links flapping in the background
    opaque: bool = False  # a container's namespace (`ns link`): what it holds is not known here


@dataclass
class LabState:
    """The whole lab as a value: its namespaces by name."""

    nss: dict[str, NsState] = field(default_factory=dict)
    next_index: int = 100  # interface indexes the model hands out (the kernel's own are not known)

    @classmethod
    def fresh(cls) -> "LabState":
        """An isolated lab before its first line: the host namespace with lo up."""
        state = cls()
        state.add_ns(HOST, lo_up=True)
        return state

    def copy(self) -> "LabState":
        return copy.deepcopy(self)

    def add_ns(self, name: str, lo_up: bool = False, opaque: bool = False) -> NsState:
        ns = self.nss[name] = NsState(opaque=opaque)
        if not opaque:
            addrs = ["127.0.0.1/8", "::1/128"] if lo_up else []
            ns.links["lo"] = Link(name, 1, "lo", "loopback", lo_up, "UNKNOWN" if lo_up else "DOWN", "", LO_MTU,
                                  addrs=addrs)
        return ns

    def new_link(self, ns: str, name: str, kind: str, mtu: int = ETH_MTU, mac: str = "") -> Link:
        self.next_index += 1
        link = Link(ns, self.next_index, name, kind, False, "DOWN", mac, mtu)
        self.nss[ns].links[name] = link
        return link



def read(nss: "Namespaces", names: list[str], peers: bool = True) -> LabState:
    """The named namespaces as the kernel holds them now (a missing one is left out): links with
    their addresses, and static routes.  The one reader of a LabState from the kernel; a step's
    list of changes compares two of them (nslab/engine/changes.py).  `peers=False`: a veth's
    other end in another namespace is not looked up (one request per such veth)."""
    state = LabState()
    present = [n for n in names if n == HOST or nss.exists(n)]
    for name, items in inventory.lab_links(nss, present, peers=peers).items():
        ns = state.nss[name] = NsState()
        ns.links = {link.name: link for link in items}
        names_by_index = {link.index: link.name for link in items}
        ns.routes = [r for r in inventory.routes(nss.get(name), names_by_index) if not r.kernel_made]
    return state


@dataclass
class Delta:
    """One difference between two lab states.  `what` is ns, link, addr or route; `change` is
    `+` (there now), `-` (gone) or the field of a link that changed (up, master, mtu, mac)."""

    what: str
    ns: str
    change: str
    name: str = ""  # the link (ns, link, addr), or the route's destination
    value: object = None  # the new value of a field; the address; the Route; the Link that came or went
    old: object = None


def diff(before: LabState, after: LabState, scope: set[str] | None = None) -> list[Delta]:
    """What changed from BEFORE to AFTER in the namespaces SCOPE (default: both states' own).
    A namespace that came or went is one delta: its contents go with it."""
    out: list[Delta] = []
    names = scope if scope is not None else set(before.nss) | set(after.nss)
    for ns in sorted(names, key=lambda n: (n != HOST, n)):
        a, b = before.nss.get(ns), after.nss.get(ns)
        if a is None and b is None:
            continue
        if a is None or b is None:
            out.append(Delta("ns", ns, "+" if a is None else "-", ns, value=a or b))
            continue
        for name, gone in a.links.items():
            if name not in b.links:
                out.append(Delta("link", ns, "-", name, value=gone))
        for name, new in b.links.items():
            old = a.links.get(name)
            if old is None:
                out.append(Delta("link", ns, "+", name, value=new))
                continue
            for attr in ("up", "master", "mtu", "mac"):
                if getattr(old, attr) != getattr(new, attr):
                    out.append(Delta("link", ns, attr, name, getattr(new, attr), getattr(old, attr)))
            out += [Delta("addr", ns, "-", name, c) for c in old.addrs if c not in new.addrs]
            out += [Delta("addr", ns, "+", name, c) for c in new.addrs if c not in old.addrs]
        keys_a, keys_b = {_route_key(r): r for r in a.routes}, {_route_key(r): r for r in b.routes}
        out += [Delta("route", ns, "-", r.dst, r) for k, r in keys_a.items() if k not in keys_b]
        out += [Delta("route", ns, "+", r.dst, r) for k, r in keys_b.items() if k not in keys_a]
    return out


def _route_key(r: Route) -> tuple[object, ...]:
    return r.family, r.dst, r.gw  # not the device: a renamed link keeps its routes
