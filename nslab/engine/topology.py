"""The lab's wiring as data, read by every picture (dot, mermaid, SVG, and the web page).

It is built from what `show` returns (handlers/look.py reads the view: the kernel, or the
dry run's model), so a picture never says something `show` would not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..kernel.netns import HOST

if TYPE_CHECKING:
    from .view import View

BRIDGES = ("bridge", "openvswitch")


@dataclass
class Interface:
    ns: str
    name: str
    kind: str
    up: bool
    oper: str
    addrs: list[str]
    master: str | None
    mac: str = ""

    @property
    def key(self) -> str:
        return f"{self.ns}:{self.name}"

    @property
    def state(self) -> str:
        """up, down, or nocarrier: up but its other end is down or gone."""
        if not self.up:
            return "down"
        return "nocarrier" if self.oper in ("DOWN", "LOWERLAYERDOWN") else "up"


@dataclass
class Namespace:
    name: str
    context: bool
    interfaces: list[Interface] = field(default_factory=list)  # bridges included (kind says)
    slot: int = 0  # its place in a picture (View.slot): the page draws slot N at the same spot every time


@dataclass
class Topology:
    namespaces: list[Namespace]
    cables: list[tuple[str, str]]  # veth pairs, each once, by "ns:ifname"
    ports: list[tuple[str, str]]  # (port, bridge), by "ns:ifname"

    def interface(self, key: str) -> Interface | None:
        for ns in self.namespaces:
            for x in ns.interfaces:
                if x.key == key:
                    return x
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "namespaces": [{"name": ns.name, "context": ns.context, "slot": ns.slot,
                            "interfaces": [interface_json(x) for x in ns.interfaces]}
                           for ns in self.namespaces],
            "cables": [list(c) for c in self.cables],
            "ports": [list(p) for p in self.ports],
        }


def interface_json(x: Interface) -> dict[str, Any]:
    """One interface as the web page draws it (faces/web/picture.py builds the page's JSON from these too)."""
    return {"name": x.name, "kind": x.kind, "state": x.state, "addrs": x.addrs, "master": x.master,
            "mac": x.mac, "bridge": x.kind in BRIDGES}


def shown(view: "View", only: list[str] | None = None) -> list[dict[str, Any]]:
    """What `show` says: each namespace (ONLY, or the lab's host and every one) with its links and routes."""
    every = [HOST, *view.names()]
    dead = {n: why for n in every if (why := view.gone(n)) is not None}
    by_ns = view.lab_links([n for n in (only or every) if n not in dead])
    out: list[dict[str, Any]] = []
    for name in only or every:
        if name in dead:  # shown, marked: the lab still holds the name until `ns del`, `undo` or `reset`
            out.append({"ns": name, "slot": view.slot(name), "gone": dead[name], "links": [], "routes": []})
            continue
        index = {x.index: x.name for x in by_ns[name]}
        links = [
            {"name": x.name, "kind": x.kind, "up": x.up, "oper": x.operstate, "mac": x.mac, "mtu": x.mtu,
             "master": x.master, "peer": f"{x.peer[0]}:{x.peer[1]}" if x.peer else None, "addrs": x.addrs,
             "over": index.get(x.link_index or 0) if x.kind == "macvlan" and x.link_nsid is None else None}
            for x in by_ns[name]
        ]
        routes = [{"dst": r.dst, "via": r.gw, "dev": r.dev, "kernel": r.kernel_made} for r in view.routes(name)]
        out.append({"ns": name, "slot": view.slot(name), "links": links, "routes": routes})
    return out


def topology(shown: list[dict[str, Any]], context: str) -> Topology:
    """SHOWN: the namespaces of `show`'s Tree.  The loopback is left out: it is wired to nothing."""
    namespaces: list[Namespace] = []
    cables: list[tuple[str, str]] = []
    ports: list[tuple[str, str]] = []
    for ns in shown:
        here = Namespace(ns["ns"], ns["ns"] == context, slot=ns.get("slot", len(namespaces)))
        for link in ns["links"]:
            if link["kind"] == "loopback" or link["name"] == "lo":
                continue
            x = Interface(ns["ns"], link["name"], link["kind"], link["up"], link["oper"], list(link["addrs"]),
                          link["master"], link.get("mac", ""))
            here.interfaces.append(x)
            if link["peer"]:
                a, b = sorted((x.key, link["peer"]))
                cables.append((a, b))
            if x.master:
                ports.append((x.key, f"{x.ns}:{x.master}"))
        namespaces.append(here)
    known = {x.key for ns in namespaces for x in ns.interfaces}
    cables = sorted({c for c in cables if c[0] in known and c[1] in known})  # an end outside the lab is not drawn
    return Topology(namespaces, cables, ports)
