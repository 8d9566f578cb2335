"""What `trace` watches beyond the lab's named namespaces, and how its links stand on each other:
the containers `pipework` attached that no `ns link` named, and each macvlan child's parent.

The journal's pipework steps know each container (name, PID and start time) and the veth's two
ends; the capture opens inside the container's namespace as pipework's own ops reach it
(ops/container_ops.open_ns), and the hop is named by the container's name.  A container that
has stopped is left out, in words.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..base.errors import CommandError
from ..engine.context import Ctx
from ..kernel import inventory
from ..kernel.inventory import Link
from ..kernel.netns import Netns
from ..ops import container_ops
from ..services import docker as containers


@dataclass
class _Attached:
    op: dict[str, Any]  # the first ctr_veth op: container, pid, start
    ends: dict[str, tuple[str, str]] = field(default_factory=dict)  # guest name -> (lab ns, host end)
    renamed: dict[str, str] = field(default_factory=dict)  # guest name -> its name in the container


def _attached(ctx: Ctx) -> dict[str, _Attached]:
    """By container name: what the live journal's pipework steps made for it."""
    out: dict[str, _Attached] = {}
    for step in ctx.lab.journal.live():
        for op in step.ops:
            name = op.get("container")
            if not name:
                continue
            if op["op"] == "ctr_veth":
                got = out.setdefault(name, _Attached(op))
                if got.op["pid"] != op["pid"]:  # the same name, another process: the latest run
                    out[name] = got = _Attached(op)
                got.ends[op["peer"]] = (op["ns"], op["name"])
            elif op["op"] == "in_ctr" and name in out and (inner := op["inner"]).get("rename"):
                out[name].renamed[inner["name"]] = inner["rename"]
    return out


class Pipeworked:
    """The unnamed pipework'd containers' namespaces, open for one trace; `close()` after."""

    def __init__(self) -> None:
        self.nss: dict[str, Netns] = {}
        self.left_out: list[str] = []

    def close(self) -> None:
        for n in self.nss.values():
            n.close()
        self.nss.clear()


def pipeworked(ctx: Ctx, by_ns: dict[str, list[Link]]) -> Pipeworked:
    """Open the namespaces of the containers pipework attached to the watched lab and add their
    interfaces to BY_NS (each veth's two ends made peers); a stopped one is said in LEFT_OUT."""
    found = Pipeworked()
    named = {os.fstat(ctx.view.fd(ns)).st_ino for ns in by_ns if ctx.view.exists(ns)}
    for name, got in _attached(ctx).items():
        if not any(lab_ns in by_ns for lab_ns, _ in got.ends.values()):
            continue
        op = got.op
        if not containers.alive(op["pid"], op.get("start")):
            found.left_out.append(f"container {name} (attached by pipework) has stopped: its interfaces are not watched")
            continue
        try:
            fd = container_ops.open_ns(op)
        except CommandError as e:
            found.left_out.append(f"container {name} (attached by pipework): {e.message}; not watched")
            continue
        if os.fstat(fd).st_ino in named:  # `ns link` named it: watched under that name already
            os.close(fd)
            continue
        if name in by_ns:
            os.close(fd)
            found.left_out.append(f"container {name} (attached by pipework) shares its name with a namespace of the lab: not watched")
            continue
        ns = Netns(name, fd, watch=False)
        found.nss[name] = ns
        links = [x for x in inventory.links(ns) if x.kind != "loopback"]
        by_link = {x.name: x for x in links}
        for guest, (lab_ns, host_end) in got.ends.items():
            inside = by_link.get(got.renamed.get(guest, guest))
            outside = next((x for x in by_ns.get(lab_ns, []) if x.name == host_end), None)
            if inside is not None and outside is not None:
                inside.peer, outside.peer = (lab_ns, host_end), (name, inside.name)
        by_ns[name] = links
    return found


def macvlan_parents(ctx: Ctx, by_ns: dict[str, list[Link]]) -> dict[tuple[str, str], tuple[tuple[str, str], str]]:
    """Each watched macvlan child's parent (NS, IF) and its mode: the parent is found by the
    child's IFLA_LINK (and IFLA_LINK_NETNSID once the child was moved to another namespace)."""
    from ..ops.link_kinds import macvlan_mode

    out = {}
    for ns, links in by_ns.items():
        for x in links:
            if x.kind != "macvlan" or x.link_index is None:
                continue
            try:
                where = ns if x.link_nsid is None else ctx.lab.nss.nsid_owner(ns, x.link_nsid)
            except CommandError:
                continue
            parent = next((p for p in by_ns.get(where or "", []) if p.index == x.link_index), None)
            if parent is not None:
                out[(ns, x.name)] = ((parent.ns, parent.name), macvlan_mode(x) or "?")
    return out
