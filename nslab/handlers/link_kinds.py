"""Handlers for the link kinds beyond veth and bridge: macvlan and vxlan (their ops:
nslab/ops/link_kinds.py).  The kinds this kernel lacks are refused by the parser
(commands.MISSING_KINDS)."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..base.errors import CommandError
from ..base.results import Message
from ..engine.context import Ctx
from ..lang.kinds import Endpoint
from ..ops.apply import ep as show_ep
from .build import existing


def _fresh(ctx: Ctx, ns: str, name: str) -> None:
    if ctx.view.has(ns, name):
        raise CommandError(f"{show_ep(ns, name)} exists: File exists")


def macvlan(ctx: Ctx, name: str, ep: Endpoint, mode: str = "bridge") -> Message:
    ns, parent = existing(ctx, ep)
    ctx.guard.interface(ns, parent, "put a macvlan on")  # host mode: eth0's macvlan is the real network's
    _fresh(ctx, ns, name)
    ctx.apply({"op": "macvlan", "ns": ns, "name": name, "link": parent, "mode": mode})
    return Message(f"macvlan {show_ep(ns, name)} on {parent} (mode {mode}, down)", "ok")


def vxlan(ctx: Ctx, name: str, vni: int, ip: Any, dev: str | None = None, n: int | None = None) -> Message:
    ns = ctx.ns
    group = ctx.cmd.form.pattern.split()[4] == "group"
    addr = ipaddress.ip_address(ip)
    if group and not addr.is_multicast:
        raise CommandError(f"vxlan group {addr}: a group is a multicast address (for one other end: remote {addr})")
    if not group and addr.is_multicast:
        raise CommandError(f"vxlan remote {addr} is a multicast address: write `group {addr} dev DEV`")
    if group and dev is None:
        raise CommandError("vxlan group needs `dev DEV`: the interface the multicast group is joined on")
    if dev is not None:
        existing(ctx, Endpoint(ns, dev))
        ctx.guard.interface(ns, dev, "run a vxlan over")
    if (leaves := ctx.guard.outside(ns, str(addr), dev)) is not None:  # its datagrams would leave the lab
        raise CommandError(f"vxlan {name}: {leaves}")
    _fresh(ctx, ns, name)
    op: dict[str, Any] = {"op": "vxlan", "ns": ns, "name": name, "vni": vni, ("group" if group else "remote"): str(addr)}
    if dev is not None:
        op["dev"] = dev
    if n is not None:
        op["port"] = n
    ctx.apply(op)
    return Message(f"vxlan {show_ep(ns, name)} id {vni} {'group' if group else 'remote'} {addr} (down)", "ok")
