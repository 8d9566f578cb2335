"""Before-state of what a step deletes or moves, and the ops that rebuild it.

`ns del` and `link del` take a veth's other end, a bridge's port memberships,
addresses and routes with them; undo needs all of it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..kernel import inventory
from .link_kinds import remake

if TYPE_CHECKING:
    from ..kernel.netns import Namespaces

Op = dict[str, Any]


@dataclass
class Snapshot:
    namespaces: list[str] = field(default_factory=list)
    links: list[inventory.Link] = field(default_factory=list)
    routes: list[inventory.Route] = field(default_factory=list)
    ports: list[tuple[str, str, str]] = field(default_factory=list)  # (ns, port, bridge) of deleted bridges
    sysctls: list[tuple[str, str, str]] = field(default_factory=list)
    lo_alias: dict[str, str] = field(default_factory=dict)  # host mode's tag lives on a namespace's lo
    stacked: list[Op] = field(default_factory=list)  # the ops that make its macvlans and vxlans again


FORWARD_KEYS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")


def take(nss: "Namespaces", whole_ns: list[str] = (), ifaces: list[tuple[str, str]] = ()) -> Snapshot:  # type: ignore[assignment]
    # only the namespaces involved: a bridge's ports are in its own namespace, and a veth's
    # other end is found by its netnsid (one lookup), not by reading every namespace
    by_ns = inventory.lab_links(nss, list(dict.fromkeys([*whole_ns, *(ns for ns, _ in ifaces)])))
    want: set[tuple[str, str]] = set(ifaces)
    for ns in whole_ns:
        want |= {(ns, link.name) for link in by_ns.get(ns, []) if link.kind != "loopback"}
    # a veth takes its other end with it
    for ns, name in list(want):
        for link in by_ns.get(ns, []):
            if link.name == name and link.peer:
                want.add(link.peer)
                peer_ns = link.peer[0]
                if peer_ns not in by_ns:  # all of it: a macvlan or vxlan on the other end goes too
                    by_ns.update(inventory.lab_links(nss, [peer_ns]))
    # a macvlan or vxlan goes with the interface it is on
    for ns, name in list(want):
        lower = next((x.index for x in by_ns.get(ns, []) if x.name == name), None)
        want |= {(ns, x.name) for x in by_ns.get(ns, []) if x.kind in ("macvlan", "vxlan") and lower is not None
                 and _lower(x) == lower}
    snap = Snapshot(namespaces=list(whole_ns))
    for ns, items in by_ns.items():
        for link in items:
            if (ns, link.name) in want:
                snap.links.append(link)
                if link.kind in ("macvlan", "vxlan") and (op := remake(link, {x.index: x.name for x in items})):
                    snap.stacked.append(op)
            elif link.master and (ns, link.master) in want and ns not in whole_ns:
                snap.ports.append((ns, link.name, link.master))
    involved = {ns for ns, _ in want} | set(whole_ns)
    for ns in involved:
        lo_down = ns in whole_ns
        for r in inventory.routes(nss.get(ns)):
            if r.kernel_made:
                continue
            if ns in whole_ns or (ns, r.dev) in want:
                snap.routes.append(r)
        if lo_down:
            lo = [link for link in by_ns.get(ns, []) if link.kind == "loopback"]
            snap.lo_alias[ns] = (lo[0].alias or "") if lo else ""
            if lo and lo[0].up:
                snap.links.append(lo[0])
            for key in FORWARD_KEYS:
                value = _read_sysctl(nss, ns, key)
                if value not in (None, "0"):
                    snap.sysctls.append((ns, key, value))
    return snap


def _lower(link: inventory.Link) -> int | None:
    """The index of the interface a macvlan (IFLA_LINK) or a vxlan (IFLA_VXLAN_LINK) is on."""
    if link.kind == "macvlan":
        return link.link_index if link.link_nsid is None else None
    from ..kernel.nlmsg import attrs

    raw = attrs(link.info).get(3)  # IFLA_VXLAN_LINK
    return int.from_bytes(raw, "little") if raw else None


def _read_sysctl(nss: "Namespaces", ns: str, key: str) -> str | None:
    from ..kernel import sysns

    try:
        with sysns.entered(nss.get(ns).fd), open("/proc/sys/" + key.replace(".", "/")) as f:
            return f.read().strip()
    except OSError:
        return None


def restore_ops(snap: Snapshot, create: bool = True) -> list[Op]:
    """Ops that rebuild a snapshot: namespaces, links, masters, states, addresses, routes."""
    ops: list[Op] = [{"op": "ns_add", "ns": ns, "alias": snap.lo_alias.get(ns, "")} if ns in snap.lo_alias
                     else {"op": "ns_add", "ns": ns} for ns in snap.namespaces]
    made: set[tuple[str, str]] = set()
    if create:
        for link in snap.links:
            if link.kind == "bridge":
                ops.append({"op": "bridge", "ns": link.ns, "name": link.name, "mac": link.mac, "mtu": link.mtu, "up": False,
                            "alias": link.alias or ""})  # host mode: put back whose it was
                made.add((link.ns, link.name))
        for link in snap.links:
            if link.kind != "veth" or (link.ns, link.name) in made:
                continue
            if link.peer is None:
                continue  # its other end is outside the lab: cannot be rebuilt
            peer = next((x for x in snap.links if (x.ns, x.name) == link.peer), None)
            ops.append({
                "op": "veth", "ns": link.ns, "name": link.name, "peer_ns": link.peer[0], "peer": link.peer[1],
                "mac": link.mac, "peer_mac": peer.mac if peer else None, "mtu": link.mtu,
                "alias": link.alias or "", "peer_alias": (peer.alias or "") if peer else "",
            })
            made |= {(link.ns, link.name), link.peer}
        ops += snap.stacked  # on the veths and bridges made above
    for link in snap.links:
        if link.master:
            ops.append({"op": "link_set", "ns": link.ns, "name": link.name, "master": link.master})
    for ns, port, bridge in snap.ports:
        ops.append({"op": "link_set", "ns": ns, "name": port, "master": bridge})
    for link in snap.links:
        if link.up:
            ops.append({"op": "link_set", "ns": link.ns, "name": link.name, "up": True})
    for link in snap.links:
        for cidr in link.addrs:
            if link.kind == "loopback" and cidr in ("127.0.0.1/8", "::1/128"):
                continue
            ops.append({"op": "addr_add", "ns": link.ns, "name": link.name, "cidr": cidr})
    for ns, key, value in snap.sysctls:
        ops.append({"op": "sysctl", "ns": ns, "key": key, "value": value})
    for r in snap.routes:
        ops.append({"op": "route_add", "ns": r.ns, "dst": r.dst, "gw": r.gw, "dev": r.dev})
    return ops
