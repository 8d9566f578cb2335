"""The lab as a pure value: namespaces holding interfaces (with their addresses) and
static routes, plus the sysctls the lab set.

Each op kind's model effect changes it (nslab/ops/model.py).  It holds the same records
the kernel is read into for the listings (`inventory.Link`, `inventory.Route`), so the
handlers read either through one view (nslab/engine/view.py) and the contract tests
compare like with like.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .inventory import Link, Route
from .netns import HOST

LO_MTU = 65536
ETH_MTU = 1500


@dataclass
class NsState:
    links: dict[str, Link] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)  # static ones: the kernel's follow from addresses
    sysctls: dict[str, str] = field(default_factory=dict)
    opaque: bool = False  # a container's namespace (`ns link`): what it holds is not known here


@dataclass
class LabState:
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

