"""`expect`: assertions that say what they wanted and what they found."""

from __future__ import annotations

from typing import Any

from ..base.errors import CommandError
from ..base.results import ExpectResult, PingReply
from ..engine.context import Ctx
from ..kernel import inventory
from ..kernel.netns import HOST
from ..lang.kinds import Endpoint
from ..ops.apply import ep as show_ep
from .look import resolve_target

# the probes of `expect reach`/`noreach`: echoes sent, and how long each waits for its reply
PROBES = {"expect_reach": (3, 1.0), "expect_noreach": (2, 0.3)}


def aim(ctx: Ctx, target: str, iface: str | None = None) -> tuple[str | None, str]:
    """(the address a probe of TARGET is sent to, ""), or (None, why nothing can be sent):
    a target that names nothing, an interface (-I) the context lacks, or a route that leaves
    the lab (the guard refuses it)."""
    try:
        addr = resolve_target(ctx, target)
    except CommandError as e:
        return None, e.message
    if iface is not None and not ctx.view.has(ctx.ns, iface):
        return None, f"no interface {show_ep(ctx.ns, iface)}"
    if (leaves := ctx.guard.outside(ctx.ns, addr, iface)) is not None:
        return None, leaves
    return addr, ""


def probe(fd: int, addr: str, tries: int, wait: float, iface: str | None = None) -> tuple[bool, str]:
    """Echoes from the namespace open as FD: (a reply came, what was found).  Needs no view,
    so a grader may send several at once from threads (each socket is its own)."""
    from ..kernel.ping import ping

    try:
        for event in ping(fd, addr, tries, 0.0, wait, iface):
            if isinstance(event, PingReply) and event.ms is not None:
                return True, f"reply from {addr} in {event.ms:.2f} ms"
    except CommandError as e:
        return False, e.message
    return False, f"no reply from {addr} ({tries} sent, {wait:g} s each)"


def reach_result(handler: str, ctx: Ctx, target: str, replied: bool | None, found: str,
                 iface: str | None = None) -> ExpectResult:
    """The verdict of a probe; `replied` None: nothing could be sent, and neither goal holds
    (a target that names nothing is not "unreachable", it is a goal not met)."""
    out_of = f" out of {iface}" if iface else ""
    if handler == "expect_reach":
        return ExpectResult(replied is True, f"{target} reachable from {ctx.ns}{out_of}", found)
    return ExpectResult(replied is False, f"{target} not reachable from {ctx.ns}{out_of}", found)


def _expect_probe(handler: str, ctx: Ctx, target: str, iface: str | None) -> ExpectResult:
    addr, why = aim(ctx, target, iface)
    if addr is None:
        return reach_result(handler, ctx, target, None, why, iface)
    tries, wait = PROBES[handler]
    replied, found = probe(ctx.view.fd(ctx.ns), addr, tries, wait, iface)
    return reach_result(handler, ctx, target, replied, found, iface)


def expect_reach(ctx: Ctx, target: str, I: str | None = None) -> ExpectResult:  # noqa: E741,N803  (ping's -I)
    return _expect_probe("expect_reach", ctx, target, I)


def expect_noreach(ctx: Ctx, target: str, I: str | None = None) -> ExpectResult:  # noqa: E741,N803
    return _expect_probe("expect_noreach", ctx, target, I)


def expect_ns(ctx: Ctx, name: str) -> ExpectResult:
    there = ctx.view.exists(name)
    return ExpectResult(there, f"namespace {name}", "it exists" if there else "no such namespace")


def expect_no_ns(ctx: Ctx, name: str) -> ExpectResult:
    there = ctx.view.exists(name) and name != HOST
    return ExpectResult(not there, f"no namespace {name}", "it exists" if there else "none")


def _link(ctx: Ctx, e: Endpoint) -> tuple[str, inventory.Link | None, str]:
    ns = ctx.resolve(e.ns)
    if not ctx.view.exists(ns):
        return ns, None, f"no namespace {ns}"
    link = ctx.view.link(ns, e.ifname)
    return ns, link, "exists" if link else f"no interface {show_ep(ns, e.ifname)}"


def _state(link: inventory.Link) -> str:
    """`UP`, or `UP (operstate LOWERLAYERDOWN)` when the kernel's state says more than the flag."""
    admin = "UP" if link.up else "DOWN"
    return admin if link.operstate == admin else f"{admin} (operstate {link.operstate})"


def expect_link(ctx: Ctx, ep: Endpoint) -> ExpectResult:
    ns, link, found = _link(ctx, ep)
    return ExpectResult(link is not None, f"link {show_ep(ns, ep.ifname)}", found if link is None else _state(link))


def expect_no_link(ctx: Ctx, ep: Endpoint) -> ExpectResult:
    ns, link, found = _link(ctx, ep)
    return ExpectResult(link is None, f"no link {show_ep(ns, ep.ifname)}", "it exists" if link else "none")


def expect_link_up(ctx: Ctx, ep: Endpoint) -> ExpectResult:
    ns, link, found = _link(ctx, ep)
    return ExpectResult(bool(link and link.up), f"{show_ep(ns, ep.ifname)} up", _state(link) if link else found)


def expect_link_down(ctx: Ctx, ep: Endpoint) -> ExpectResult:
    ns, link, found = _link(ctx, ep)
    return ExpectResult(bool(link and not link.up), f"{show_ep(ns, ep.ifname)} down", _state(link) if link else found)


def expect_addr(ctx: Ctx, ep: Endpoint, cidr: Any) -> ExpectResult:
    ns, link, found = _link(ctx, ep)
    want = f"{show_ep(ns, ep.ifname)} has {cidr}"
    if link is None:
        return ExpectResult(False, want, found)
    return ExpectResult(str(cidr) in link.addrs, want, ", ".join(link.addrs) or "no addresses")


def expect_master(ctx: Ctx, ep: Endpoint, bridge: str) -> ExpectResult:
    ns, link, found = _link(ctx, ep)
    want = f"{show_ep(ns, ep.ifname)} on bridge {bridge}"
    if link is None:
        return ExpectResult(False, want, found)
    return ExpectResult(link.master == bridge, want, f"master {link.master}" if link.master else "no master")


def _routes(ctx: Ctx, dest: str) -> list[inventory.Route]:
    return [r for r in ctx.view.routes(ctx.ns) if r.dst == dest]


def _route_words(found: list[inventory.Route]) -> str:
    if not found:
        return "no such route"
    return "; ".join(f"{r.dst}" + (f" via {r.gw}" if r.gw else "") + (f" dev {r.dev}" if r.dev else "") for r in found)


def expect_route(ctx: Ctx, dest: str, gw: Any) -> ExpectResult:
    found = _routes(ctx, dest)
    ok = any(r.gw == str(gw) for r in found)
    return ExpectResult(ok, f"route {dest} via {gw} in {ctx.ns}", _route_words(found))


def expect_route_dev(ctx: Ctx, dest: str, dev: str) -> ExpectResult:
    found = _routes(ctx, dest)
    ok = any(r.dev == dev for r in found)
    return ExpectResult(ok, f"route {dest} dev {dev} in {ctx.ns}", _route_words(found))
