"""Handlers that look at or use the lab: listings, show, enter/leave, shell, ping (exec: programs.py)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from typing import Any

from ..base.errors import CommandError, NoInterfaceError
from ..base.results import (
    ContextChanged,
    Interactive,
    Message,
    PingReply,
    PingSummary,
    Table,
    Tree,
    WebRequested,
)
from ..engine.context import Ctx
from ..kernel import targets
from ..kernel.netns import HOST


def _names(ctx: Ctx, ns: str | None, everywhere: bool = False) -> list[str]:
    """The namespaces a listing covers: NS, or with --all every namespace of the lab, else the context."""
    if ns is not None and everywhere:
        raise CommandError(f"a namespace ({ns}) or --all, not both")
    if everywhere:  # a link whose container has stopped has nothing to list
        return [HOST, *(n for n in ctx.view.names() if ctx.view.gone(n) is None)]
    if ns is not None:
        ctx.view.require(ns)
        return [ns]
    return [ctx.ns]


def ns_ls(ctx: Ctx, all: bool = False) -> Table:  # noqa: A002 - the option's name
    """The lab's namespaces and the caller's containers; with --all also the namespaces other
    processes hold.  An ordinary user sees only their own processes and containers."""
    rows: list[list[Any]] = []
    made = ctx.guard.made_namespaces() if ctx.host_mode else None
    from ..ops.container_ops import link_row

    for name in ctx.view.names():
        # `ns link`: another process's namespace, maybe stopped
        linked = link_row(ctx.lab.nss, name) if ctx.lab is not None else None
        if linked is not None:
            rows.append(linked)
            continue
        origin = "lab" if made is None or name in made else "host"
        rows.append([name, origin, len(ctx.view.links(name, with_addrs=False))])
    if ctx.lab is not None:  # the machine beyond the lab: containers, and with --all what processes hold
        from ..services.docker import container_rows

        uid = _only_uid()
        rows += container_rows(ctx.lab.docker_host, uid)
        if all:
            rows += _process_rows(ctx, rows, uid)
    return Table("namespaces", ["name", "origin", "links"], rows, key="namespaces")


def _only_uid() -> int | None:
    """Whose processes an `ns ls` may list: anybody's for root (root outside any user namespace),
    else the caller's own, by their uid as this process's user namespace sees it."""
    from ..base.environment import real_uid

    return None if real_uid() == 0 else os.getuid()


def _process_rows(ctx: Ctx, listed: list[list[Any]], uid: int | None) -> list[list[Any]]:
    """Namespaces only processes hold (no name in /run/netns): `ns link PID` names one."""
    import re

    from ..kernel.isolate import OUTER
    from ..kernel.procns import inode_of_pid, other_namespaces, user_name

    nss = ctx.lab.nss
    known = {os.fstat(nss.host.fd).st_ino}
    for name in nss.names():
        try:
            known.add(os.stat(nss.path(name)).st_ino)
        except OSError:
            pass
    for row in listed:  # containers already listed by name
        m = re.search(r"\(pid (\d+)", str(row[0]))
        if m and (inode := inode_of_pid(int(m.group(1)))) is not None:
            known.add(inode)
    machine = {os.environ.get(OUTER), str(inode_of_pid(1))}  # the namespace nslab left; PID 1's
    rows = []
    for p in other_namespaces(known, uid):
        if str(p.inode) in machine:
            rows.append(["(the machine's own)", "outside the lab", p.links])
        else:
            whose = "" if p.uid == os.getuid() else f", user {user_name(p.uid)}"  # root sees everybody's
            rows.append([f"pid {p.pid} ({p.comm})", f"process{whose}", p.links])
    return rows


def _link_rows(ctx: Ctx, names: list[str]) -> list[list[Any]]:
    by_ns = ctx.view.lab_links(names)  # peers elsewhere: by netnsid, not by reading all
    from ..ops.shaping_spec import describe

    rows = []
    for ns in names:
        shaped, flapping = ctx.view.shaping(ns), ctx.view.flapping(ns)  # what each interface carries
        for link in by_ns[ns]:
            peer = f"{link.peer[0]}:{link.peer[1]}" if link.peer else ""
            carries = [describe(shaped[link.name])] if link.name in shaped else []
            carries += [flapping[link.name]] if link.name in flapping else []
            rows.append([ns, link.name, link.kind, "UP" if link.up else "DOWN", link.operstate, link.mac, link.mtu,
                         link.master or "", peer, "; ".join(carries)])
    return rows


def link_ls(ctx: Ctx, ns: str | None = None, all: bool = False, stats: bool = False) -> Table | None:  # noqa: A002
    if stats:
        from .learned import link_stats

        return link_stats(ctx, _names(ctx, ns, all))
    return Table("links", ["ns", "name", "kind", "state", "oper", "mac", "mtu", "master", "peer", "carries"],
                 _link_rows(ctx, _names(ctx, ns, all)), key="links")


def addr_ls(ctx: Ctx, ns: str | None = None, all: bool = False) -> Table:  # noqa: A002
    """Addresses the lab made, and the IPv6 link-local ones the kernel made, marked as such."""
    rows = []
    for name in _names(ctx, ns, all):
        local = ctx.view.link_local(name)
        for link in ctx.view.links(name):
            state = "UP" if link.up else "DOWN"
            rows += [[name, link.name, cidr, state, ""] for cidr in link.addrs]
            rows += [[name, link.name, cidr, state, "link-local (by the kernel)"] for cidr in local.get(link.name, [])]
    return Table("addresses", ["ns", "link", "address", "state", "note"], rows, key="addresses")


def route_ls(ctx: Ctx, ns: str | None = None, all: bool = False) -> Table:  # noqa: A002
    rows = []
    for name in _names(ctx, ns, all):
        for r in ctx.view.routes(name):
            rows.append([name, r.dst, r.gw or "", r.dev or "", "kernel" if r.kernel_made else "static"])
    return Table("routes", ["ns", "dest", "via", "dev", "proto"], rows, key="routes")


def bridge_ls(ctx: Ctx) -> Table:
    rows = []
    by_ns = ctx.view.lab_links(peers=False)
    for ns, items in by_ns.items():
        for link in items:
            if link.kind == "bridge":
                ports = [x.name for x in items if x.master == link.name]
                rows.append([ns, link.name, "UP" if link.up else "DOWN", ", ".join(ports), ", ".join(link.addrs)])
    return Table("bridges", ["ns", "bridge", "state", "ports", "addresses"], rows, key="bridges")


def show(ctx: Ctx, ns: str | None = None) -> Tree:
    from ..engine.topology import shown

    if ns:
        ctx.view.require(ns)
    return Tree(shown(ctx.view, [ns] if ns else None))


def web(ctx: Ctx, port: int | None = None, listen: str | None = None, open: bool = False) -> WebRequested:  # noqa: A002
    return WebRequested(listen or "127.0.0.1", port or 0, open)


def enter(ctx: Ctx, ns: str) -> ContextChanged:
    ctx.view.require(ns)
    return ContextChanged(ns)  # the session moves its context


def leave(ctx: Ctx) -> ContextChanged:
    return ContextChanged(HOST)


def shell(ctx: Ctx, ns: str | None = None) -> Interactive:
    target = ns or ctx.ns
    ctx.view.require(target)
    return Interactive([], target)  # the person's own shell: the face knows which


def ipv4_of(ctx: Ctx, ns: str) -> str | None:
    """The address `ping NS`, `expect reach NS` and `pingall` aim at; None when NS has none."""
    return targets.first_address((link.index, cidr) for link in ctx.view.links(ns)
                                 for cidr in link.addrs)  # the exported script's first_ipv4 reads the same rule


def first_ipv4(ctx: Ctx, ns: str) -> str:
    found = ipv4_of(ctx, ns)
    if found is not None:
        return found
    raise CommandError(f"namespace {ns!r} has no IPv4 address to ping")


def resolve_target(ctx: Ctx, target: str) -> str:
    try:
        ipaddress.ip_address(target)
        return target
    except ValueError:
        return first_ipv4(ctx, target)


def ping(ctx: Ctx, target: str, c: int = 3, i: float = 1.0, W: float = 1.0, I: str | None = None) -> Iterator[Any]:  # noqa: E741,N803
    from ..kernel import ping as icmp

    addr = resolve_target(ctx, target)
    link = ctx.view.link(ctx.ns, I) if I is not None else None
    if I is not None and link is None:
        raise NoInterfaceError(f"ping -I: no interface {I} in {ctx.ns}", ctx.ns, I)
    if ctx.dry:
        return
    if (leaves := ctx.guard.outside(ctx.ns, addr, I)) is not None:
        raise CommandError(leaves)
    if link is not None and ":" not in addr and not any(":" not in c for c in link.addrs):
        yield Message(icmp.NO_SOURCE.format(I))  # as iputils warns: the answer comes back to no address here
    fd = ctx.view.fd(ctx.ns)
    yield Message(icmp.header(addr, I, icmp.source(fd, addr, I) if I else None))
    summary = None
    for event in icmp.ping(fd, addr, c, i, W, I):
        if isinstance(event, PingReply):
            event.source = ctx.ns
        if isinstance(event, PingSummary):
            summary = event
        yield event
    if summary is not None and summary.received == 0:
        hint = icmp.down_hint(ctx.view.lab_links(), ctx.ns, addr)
        raise CommandError(f"no reply from {addr} ({summary.sent} sent)" + (f"; {hint}" if hint else ""))
