"""`trace TARGET` and `expect path TARGET via EP...`: one probe from the context while every interface
of the lab is watched (nslab/engine/trace.py), and the path it took.

Read-only: nothing is journalled or changed; the dry run resolves the target and the interface and
opens nothing.  In host mode the probe is guarded as `ping` is (a route out of the lab is refused
before anything is sent) and only the lab's own interfaces of the host are watched.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from ..base.errors import CommandError, NoInterfaceError
from ..base.results import ExpectResult, PingReply, TraceLeg, TraceResult
from ..engine.context import Ctx
from ..kernel.netns import HOST
from ..lang.kinds import Endpoint
from .look import ipv4_of
from .trace_ctr import Pipeworked, macvlan_parents, pipeworked

WAIT = 1.0  # seconds the echo waits for its reply
BLOCK = 64 * 1024  # a trace's ring blocks: ARP and echoes are small
BUDGET = 64 * 1024 * 1024  # bytes of rings for the whole lab


def _first_ipv6(ctx: Ctx, ns: str) -> str | None:
    """A namespace's first IPv6 address the lab gave it (not the kernel's fe80::), not on lo."""
    return next((c.split("/")[0] for x in ctx.view.links(ns) if x.kind != "loopback" for c in x.addrs
                 if ipaddress.ip_interface(c).version == 6), None)


def _aim(ctx: Ctx, target: str, iface: str | None) -> str:
    """An address as given, or a namespace's first IPv4 address, else its first IPv6 one."""
    try:
        addr = str(ipaddress.ip_address(target))
    except ValueError:
        ctx.view.require(target)
        found = ipv4_of(ctx, target) or _first_ipv6(ctx, target)
        if found is None:
            raise CommandError(f"namespace {target!r} has no IPv4 or IPv6 address to trace to") from None
        addr = found
    if iface is not None and not ctx.view.has(ctx.ns, iface):
        raise NoInterfaceError(f"trace -I: no interface {iface} in {ctx.ns}", ctx.ns, iface)
    return addr


def _watched(ctx: Ctx) -> dict[str, list[Any]]:
    names = [HOST, *ctx.view.names()]
    if ctx.host_mode:
        made = ctx.guard.made_namespaces()
        names = [HOST, *[n for n in ctx.view.names() if n in made or ctx.view.is_link(n)]]
    by_ns = ctx.view.lab_links(names)
    if ctx.host_mode:  # the machine's own interfaces are not the lab's to watch
        from ..engine.egress import is_lab_link

        nl = ctx.lab.nss.get(HOST).nl
        by_ns[HOST] = [x for x in by_ns[HOST] if (m := nl.link(x.name)) is not None and is_lab_link(ctx.lab, HOST, m)]
    return by_ns


def _forwarding(fd: int, v6: bool) -> bool | None:
    from ..kernel import sysns

    knob = "/proc/sys/net/ipv6/conf/all/forwarding" if v6 else "/proc/sys/net/ipv4/ip_forward"
    try:
        with sysns.entered(fd), open(knob) as f:
            return f.read().strip() != "0"
    except OSError:
        return None


def run_trace(ctx: Ctx, target: str, iface: str | None) -> TraceResult | None:
    addr = _aim(ctx, target, iface)
    if ctx.dry:
        return None
    if (leaves := ctx.guard.outside(ctx.ns, addr, iface)) is not None:
        raise CommandError(leaves)
    by_ns = _watched(ctx)
    extra = pipeworked(ctx, by_ns)  # containers pipework attached that no `ns link` named
    try:
        return _probe(ctx, target, iface, addr, by_ns, extra)
    finally:
        extra.close()


def _probe(ctx: Ctx, target: str, iface: str | None, addr: str, by_ns: dict[str, list[Any]], extra: Pipeworked) -> TraceResult:
    from ..engine import trace as tr
    from ..engine.trace_why import Lookups, verdict
    from ..kernel import ping as icmp
    from ..kernel.packet import open_tap

    def fd_of(ns: str) -> int:
        return extra.nss[ns].fd if ns in extra.nss else ctx.view.fd(ns)

    def nl_of(ns: str) -> Any:
        return extra.nss[ns].nl if ns in extra.nss else ctx.lab.nss.get(ns).nl

    topo = tr.Topology(by_ns, macvlan_parents(ctx, by_ns))
    wanted = [(ns, x.name) for ns, links in by_ns.items() for x in links if x.kind != "loopback"]
    blocks = max(2, min(16, BUDGET // BLOCK // max(1, len(wanted))))
    fd = ctx.view.fd(ctx.ns)
    src_ip = icmp.source(fd, addr, iface)
    ident = (os.getpid() ^ id(topo)) & 0xFFFF
    taps: list[Any] = []
    try:
        for ns, name in wanted:
            taps.append((ns, name, open_tap(fd_of(ns), name, f"{ns}:{name}", blocks, BLOCK)))

        def send() -> float | None:
            for event in icmp.ping(fd, addr, 1, 0.0, WAIT, iface, ident):
                if isinstance(event, PingReply):
                    return event.ms
            return None

        try:
            rtt, frames = tr.watch(taps, send)
            error = None
        except CommandError as e:
            rtt, frames, error = None, [], e.message
    finally:
        for *_, tap in taps:
            tap.close()
    seen = tr.sightings(frames, ident)
    roots = _related(ctx, tr.forest(seen, topo), addr, src_ip)
    t0 = seen[0].t if seen else 0
    legs = []
    for k, rs in roots.items():
        path = tr.main_path(rs[0], topo)
        legs.append(TraceLeg(_what(rs[0]), k[0], tr.hops(path, topo), tr.endpoints(path, topo), len(rs), tr.tree(rs[0], t0)))
    legs.sort(key=lambda leg: leg.tree.get("ms", 0))
    if error is not None:
        hint = icmp.down_hint(by_ns, ctx.ns, addr)
        reason, why = "no-route", f"{ctx.ns} cannot send to {addr}: {error.split(': ', 1)[-1]}" + (f"; {hint}" if hint else "")
    else:
        ask = Lookups(lambda ns, dst: nl_of(ns).route_get(dst) is not None, lambda ns: _forwarding(fd_of(ns), ":" in addr))
        reason, why = verdict(roots, topo, ask, ctx.ns, src_ip, addr, rtt)
        if reason in ("no-arp-answer", "no-neighbour-answer", "no-reply", "unknown") and (hint := icmp.down_hint(by_ns, ctx.ns, addr)):
            reason, why = "link-down", f"dropped by a down link: {hint} ({why})"
    return TraceResult(target, addr, ctx.ns, src_ip, iface, reason == "reached", reason, why, legs,
                       [f"{ns}:{name}" for ns, name in wanted], unwatched=extra.left_out)


def _related(ctx: Ctx, roots: dict[Any, list[Any]], addr: str, src_ip: str) -> dict[Any, list[Any]]:
    """The ARP exchanges the probe needed: for the target, the source, or a gateway of the
    asker's routes (another probe's late retry is no part of this one)."""
    def needed(ns: str, ip: str) -> bool:
        if ip in (addr, src_ip):
            return True
        return ctx.view.exists(ns) and any(r.gw == ip for r in ctx.view.routes(ns))

    from ..engine.trace import NEIGH, REPLY, REQUEST

    asked = {(k[1], k[2]) for k, rs in roots.items() if k[0] in REQUEST and needed(rs[0].ns, k[2])}
    # (an NDP advertisement names the asker by its address: as a reply, the pair is reversed)
    return {k: rs for k, rs in roots.items()
            if k[0] not in NEIGH or (k[1], k[2]) in asked or (k[0] in REPLY and (k[2], k[1]) in asked)}


def _what(s: Any) -> str:
    if s.kind == "arp-request":
        return f"ARP who-has {s.dst} tell {s.src}"
    if s.kind == "arp-reply":
        return f"ARP reply {s.src} is-at (to {s.dst})"
    if s.kind == "nd-solicit":
        return f"NDP neighbour solicitation who-has {s.dst} tell {s.src}"
    if s.kind == "nd-advert":
        return f"NDP neighbour advertisement {s.src} is-at (to {s.dst})"
    if s.kind == "icmp-error":
        return f"ICMP error from {s.src}: {s.summary.split(': ICMP ', 1)[-1]}"
    life = "hop limit" if s.v6 else "ttl"
    return s.kind.replace("-", " ") + (f" {s.src} > {s.dst}, {life} {s.ttl}" if s.ttl is not None else "")


def trace(ctx: Ctx, target: str, I: str | None = None, json: bool = False) -> TraceResult | None:  # noqa: E741,N803
    result = run_trace(ctx, target, I)
    if result is not None:
        result.as_json = json
    return result


def expect_path(ctx: Ctx, target: str, ep: list[Endpoint], I: str | None = None) -> ExpectResult:  # noqa: E741,N803
    want = [f"{ctx.resolve(e.ns)}:{e.ifname}" for e in ep]
    wanted = f"a trace from {ctx.ns} to {target} passes {' → '.join(want)}"
    try:
        result = run_trace(ctx, target, I)
    except CommandError as e:
        return ExpectResult(False, wanted, e.message)
    assert result is not None  # expect is never judged by the dry run
    path = result.path
    at = 0
    for ep_ in path:
        if at < len(want) and ep_ == want[at]:
            at += 1
    found = f"path {' → '.join(dict.fromkeys(path)) or '(nothing seen)'}; {result.why}"
    return ExpectResult(at == len(want), wanted, found)
