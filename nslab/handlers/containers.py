"""Handlers for containers: `ns link` and `pipework`.

`pipework` follows jpetazzo/pipework step by step: the bridge made when
missing (`br*` Linux, `ovs*` Open vSwitch), a veth pair named
v{IF}pl{PID} / v{IF}pg{PID} with the bridge's MTU, the host end on the bridge
(tagged with @VLAN on OVS) and up, the guest end renamed IF in the container,
its MAC, its address, the old default route deleted, IF up, and the default
route via the gateway (with a host route to it first when it is off-link).
Every step is an op, so the command is atomic, undoable and exportable.
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError
from ..base.lazy import Lazy
from ..base.results import Message
from ..engine.context import Ctx
from ..kernel import inventory
from ..kernel.netns import HOST
from ..ops.apply import ep as show_ep
from .build import _guard_ns_name

if TYPE_CHECKING:
    from ..ops import container_ops
    from ..services import docker as containers
else:  # imported when a container command first runs (the Docker client, OVS: 5 ms at start-up)
    container_ops, containers = Lazy("nslab.ops.container_ops"), Lazy("nslab.services.docker")

IFNAME_MAX = 15


def _target(target: str) -> tuple[containers.Container | None, int]:
    if target.isdigit():
        pid = int(target)
        if containers.start_time(pid) is None:
            raise CommandError(f"no process {pid}")
        return None, pid
    c = containers.find(target)
    return c, c.pid


def ns_link(ctx: Ctx, target: str, name: str | None = None) -> Message:
    # a dry run asks no Docker: the model takes the namespace on trust
    c, pid = (None, 0) if ctx.dry else _target(target)
    name = name or (c.name if c else (target if ctx.dry else str(pid)))
    from ..lang.kinds import check_ns

    try:
        check_ns(name)
    except ValueError as e:
        raise CommandError(f"{e}; give the link a name: ns link {target} NAME") from None
    _guard_ns_name(ctx, name)
    if ctx.view.exists(name):
        raise CommandError(f"namespace {name!r} exists already")
    if pid == os.getpid() and not ctx.dry:
        raise CommandError("that is nslab itself; its namespace is the lab's host")
    start = None if ctx.dry else containers.start_time(pid)
    ctx.apply({"op": "ns_link", "ns": name, "pid": pid, "start": start, "container": c.name if c else None,
               **container_ops.engine_kind(c)})
    who = f"container {c.name} (pid {pid})" if c else f"pid {pid}"
    return Message(f"{name} names the network namespace of {who}; valid while it runs", "ok")


def _ovs_known(ctx: Ctx) -> Any:
    """The lab's OVS when one is there already (never starts one just to look)."""
    from ..services import ovs

    if ctx.lab is None:  # a dry run: no Open vSwitch to ask
        return None
    kernel = ctx.lab.kernel
    known = getattr(kernel, "ovs", None)
    if known is not None:
        return known
    if ctx.host_mode and ovs.installed():
        try:
            return container_ops.ovs_of(kernel)
        except CommandError:
            return None
    return None


def _bridge_type(ctx: Ctx, ns: str, bridge: str) -> tuple[str, bool]:
    """('linux'|'ovs', exists) as pipework decides it: what the name is, else its prefix."""
    link = ctx.view.link(ns, bridge)
    if link is not None and link.kind == "bridge":
        return "linux", True
    known = _ovs_known(ctx) if ns == HOST else None
    if (known is not None and bridge in known.bridges()) or (link is not None and link.kind == "openvswitch"):
        return "ovs", True  # (the model's kind for an OVS bridge: the kernel shows a tap)
    if link is not None:
        raise CommandError(f"{show_ep(ns, bridge)} is a {link.kind}, not a bridge (pipework's macvlan on a "
                           "physical interface is not supported)")
    if bridge.startswith("br"):
        return "linux", False
    if bridge.startswith("ovs"):
        if ns != HOST:
            raise CommandError(f"Open vSwitch bridges live in the lab's host namespace; run pipework {bridge} "
                               f"from host, not {ns}")
        return "ovs", False
    raise CommandError(f"no bridge {bridge}: pipework makes a missing one only for names br* (Linux) or "
                       "ovs* (Open vSwitch)")


def _make_bridge(ctx: Ctx, ns: str, bridge: str, kind: str) -> Message:
    """The bridge pipework makes when it is missing: Linux for br*, Open vSwitch for ovs*."""
    ctx.apply({"op": "bridge", "ns": ns, "name": bridge} if kind == "linux"
              else {"op": "ovs_br_add", "ns": ns, "name": bridge})
    return Message(f"{'Open vSwitch ' if kind == 'ovs' else ''}bridge {show_ep(ns, bridge)} created", "ok")


def _split(addr: str, mac: str | None) -> tuple[str, str | None, str | None, int | None]:
    cidr, _, gw = addr.partition("@")
    m, _, vlan = (mac or "").partition("@")
    return cidr, gw or None, m or None, int(vlan) if vlan else None


def _ctr_default_routes(pid: int, start: int | None) -> list[inventory.Route]:
    one = container_ops._OneNs(container_ops.open_ns({"pid": pid, "start": start}))
    try:
        return [r for r in inventory.routes(one.host) if r.dst == "default"]  # type: ignore[arg-type]
    finally:
        one.host.close()


def pipework(ctx: Ctx, bridge: str, container: str, addr: str, mac: str | None = None,
             i: str | None = None, l: str | None = None) -> list[Message]:  # noqa: E741 - pipework's flag
    ns = ctx.ns
    cidr, gw, hwaddr, vlan = _split(addr, mac)
    iface = ipaddress.ip_interface(cidr)
    kind, exists = _bridge_type(ctx, ns, bridge)
    if kind == "linux" and vlan is not None:
        raise CommandError("VLAN configuration is unsupported for a Linux bridge (as in pipework); use an ovs* bridge")
    if ctx.dry:  # the container's side is Docker's: the model makes the bridge, as pipework does
        return [] if exists else [_make_bridge(ctx, ns, bridge, kind)]
    c = containers.find(container)
    pid, start = c.pid, containers.start_time(c.pid)
    # before anything is made: the container must not be the machine itself, the bridge must be the lab's
    ctx.guard.container(f"container {c.name}", pid)
    if exists and kind == "linux":
        ctx.guard.interface(ns, bridge, "add ports to")
    elif exists:
        ctx.guard.ovs_bridge(bridge)
    cif = i or "eth1"
    local = l or f"v{cif}pl{pid}"[:IFNAME_MAX]
    guest = f"v{cif}pg{pid}"[:IFNAME_MAX]
    inside = containers.interfaces(pid)
    if cif in inside:
        raise CommandError(f"container {c.name} has {cif} already (choose another with -i)")
    if guest in inside:
        raise CommandError(f"container {c.name} has {guest} already")
    if ctx.view.has(ns, local):
        raise CommandError(f"{show_ep(ns, local)} exists already (name the host end with -l)")

    out = [] if exists else [_make_bridge(ctx, ns, bridge, kind)]
    br = ctx.view.link(ns, bridge)
    mtu = br.mtu if br is not None else 1500  # pipework: MTU=$(ip link show $IFNAME | awk '{print $5}')
    base = {"container": c.name, "pid": pid, "start": start, **container_ops.engine_kind(c)}
    ctx.apply({"op": "ctr_veth", "ns": ns, "name": local, "peer": guest, "mtu": mtu, **base})
    if kind == "linux":
        ctx.apply({"op": "link_set", "ns": ns, "name": local, "master": bridge})
    else:
        ctx.apply({"op": "ovs_port_add", "ns": ns, "bridge": bridge, "name": local, "tag": vlan})
    ctx.apply({"op": "link_set", "ns": ns, "name": local, "up": True})

    def inner(op: dict[str, Any]) -> None:
        ctx.apply(container_ops.in_ctr(c, pid, start, op))

    inner({"op": "link_set", "name": guest, "rename": cif})
    if hwaddr:
        inner({"op": "link_set", "name": cif, "mac": hwaddr})
    inner({"op": "addr_add", "name": cif, "cidr": str(iface)})
    if gw:
        for r in _ctr_default_routes(pid, start):
            if (r.family == 10) == (iface.version == 6):
                inner({"op": "route_del", "dst": "default", "gw": r.gw})
    inner({"op": "link_set", "name": cif, "up": True})
    if gw:
        if ipaddress.ip_address(gw) not in iface.network:
            inner({"op": "route_add", "dst": f"{gw}/{iface.max_prefixlen}", "gw": None, "dev": cif})
        inner({"op": "route_add", "dst": "default", "gw": gw, "dev": None})
    via = f", default via {gw}" if gw else ""
    tag = f" (VLAN {vlan})" if vlan is not None else ""
    out.append(Message(f"{c.name}:{cif} {iface}{via}, on {show_ep(ns, bridge)}{tag} through {local}", "ok"))
    return out
