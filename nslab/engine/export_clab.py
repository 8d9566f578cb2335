"""`export clab FILE`: the lab as a containerlab topology, for when it outgrows one machine or
needs real router images.

Namespaces become `kind: linux` nodes, bridges in the lab's host `kind: bridge` nodes (containerlab
expects such a bridge to exist on its host already), a bridge inside a namespace stays in its
node, made by that node's `exec` lines.  Each veth is a link `node:iface` (a host end on a bridge
is `BRIDGE:iface`, another host end `host:iface`).  Addresses, routes, sysctls and what
containerlab does not do by itself (an MTU, a link kept down) are each node's `exec` lines, in
the order that rebuilds it; the lab's host's own lines go to a `kind: host` node.  Strings are
JSON strings, which YAML reads as double-quoted scalars.
"""

from __future__ import annotations

import json
import re

from ..kernel.inventory import Link
from ..kernel.labstate import ETH_MTU
from ..kernel.netns import HOST
from ..ops.shell_words import command, comment_text
from .export_machines import Machine, a_kind

DEFAULT_IMAGE = "alpine:3"  # small, and has iproute2's `ip` through busybox


def q(text: object) -> str:
    return json.dumps(str(text))


def _stacked(m: Machine, link: Link) -> list[str]:
    op = m.stacked.get(link.name)
    if op is None:
        return []
    if link.kind == "macvlan":
        return [command("ip", "link", "add", "link", op["link"], "name", link.name, "type", "macvlan", "mode", op["mode"])]
    where = ["remote", op["remote"]] if op.get("remote") else ["group", op["group"]]
    dev = ["dev", op["dev"]] if op.get("dev") else []
    return [command("ip", "link", "add", "name", link.name, "type", "vxlan", "id", str(op["vni"]), *where, *dev,
                    "dstport", str(op.get("port") or 4789))]


def exec_lines(m: Machine, host_bridges: set[str]) -> list[str]:
    """What rebuilds the machine once containerlab made its links (up) and the bridges."""
    out: list[str] = []
    in_node = [x for x in m.links if x.kind == "bridge" and not (m.ns == HOST and x.name in host_bridges)]
    out += [command("ip", "link", "add", x.name, "type", "bridge") for x in in_node]
    for x in m.links:
        out += _stacked(m, x)
    for x in m.links:
        if x.mtu and x.mtu != ETH_MTU:
            out.append(command("ip", "link", "set", "dev", x.name, "mtu", str(x.mtu)))
        if m.mac_set(x):
            out.append(command("ip", "link", "set", "dev", x.name, "address", x.mac))
    for x in m.links:  # a port of a host bridge is made on it by containerlab (a BRIDGE:iface end)
        if x.master and not (m.ns == HOST and x.master in host_bridges):
            out.append(command("ip", "link", "set", "dev", x.name, "master", x.master))
    made_here = {x.name for x in in_node} | set(m.stacked)
    for x in m.links:
        if x.up and x.name in made_here:
            out.append(command("ip", "link", "set", "dev", x.name, "up"))
        if not x.up and x.kind in ("veth", "bridge"):  # containerlab brings veths up; nslab's import a bridge
            out.append(command("ip", "link", "set", "dev", x.name, "down"))
    if not m.lo_up and not m.container:
        # lo as a new namespace has it (down, bare), not as a container's (up, 127.0.0.1)
        out += [command("ip", "link", "set", "dev", "lo", "down"), command("ip", "addr", "del", "127.0.0.1/8", "dev", "lo")]
    out += [command("ip", "addr", "add", a, "dev", "lo") for a in m.loopback]
    for x in m.links:
        out += [command("ip", "addr", "add", a, "dev", x.name) for a in x.addrs]
    for r in m.routes:
        six = ["-6"] if r.family == 10 else []
        via = ["via", r.gw] if r.gw else []
        out.append(command("ip", *six, "route", "add", r.dst, *via, *(["dev", r.dev] if r.dev else [])))
    out += [command("sysctl", "-w", f"{k}={v}") for k, v in m.sysctls.items()]
    return out


def _ends(machines: list[Machine], host_bridges: set[str]) -> list[tuple[str, str]]:
    """Each veth once, as its two `node:iface` endpoints."""
    seen: set[tuple[str, str]] = set()
    out = []
    for m in machines:
        for x in m.links:
            if x.kind != "veth" or x.peer is None or (m.ns, x.name) in seen:
                continue
            seen |= {(m.ns, x.name), x.peer}
            out.append((_endpoint(m.ns, x, host_bridges), _endpoint(x.peer[0], None, host_bridges, x.peer[1], machines)))
    return out


def _endpoint(ns: str, link: Link | None, host_bridges: set[str], name: str = "",
              machines: list[Machine] | None = None) -> str:
    if link is None:
        owner = next((m for m in machines or [] if m.ns == ns), None)
        link = owner.link(name) if owner is not None else None
        if link is None:
            return f"{ns}:{name}"
    if ns == HOST and link.master in host_bridges:
        return f"{link.master}:{link.name}"
    return f"{ns}:{link.name}"


def topology_text(machines: list[Machine], image: str, file_name: str) -> str:
    host = next(m for m in machines if m.ns == HOST)
    host_bridges = {x.name for x in host.links if x.kind == "bridge"}
    name = re.sub(r"[^a-zA-Z0-9-._]", "-", re.sub(r"\.clab\.ya?ml$", "", file_name)).lstrip("-._") or "nslab"
    out = ["# Written by nslab: the lab as a containerlab topology (`containerlab deploy -t FILE`).",
           "# Each namespace is a linux node; interfaces are named as in the lab.",
           "# kind: bridge nodes: containerlab expects each bridge to exist on its host already",
           "# (ip link add NAME type bridge; ip link set NAME up).",
           "# The host node holds what the lab's own host had: run its exec lines there yourself.",
           f"name: {q(name)}", "topology:", "  nodes:"]
    for b in sorted(host_bridges):
        out += [f"    {q(b)}:", "      kind: bridge"]
    for m in machines:
        lines = exec_lines(m, host_bridges)
        if m.ns == HOST:
            if lines:
                out += [f"    {q(HOST)}:", "      kind: host", "      exec:", *(f"        - {q(x)}" for x in lines)]
            continue
        out += [f"    {q(m.ns)}:", "      kind: linux", f"      image: {q(image)}"]
        if m.container:
            out.append("      # a container of the lab (ns link, pipework): its own image in the lab")
        if lines:
            out += ["      exec:", *(f"        - {q(x)}" for x in lines)]
    if out[-1] == "  nodes:":
        out[-1] = "  nodes: {}"  # a lab emptied by its last lines
    ends = _ends(machines, host_bridges)
    if ends:
        out.append("  links:")
        out += [f"    - endpoints: [{q(a)}, {q(b)}]" for a, b in ends]
    notes = [f"# {comment_text(m.ns)}: {comment_text(x.name)} is {a_kind(comment_text(x.kind))}, which this file does not make"
             for m in machines for x in m.links if x.kind not in ("veth", "bridge", "macvlan", "vxlan")]
    return "\n".join(out + notes) + "\n"
