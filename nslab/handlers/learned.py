"""What the lab learned and counted: `fdb ls`, `neigh ls`, `link ls --stats`, `watch`, and the goals
on them, `expect neigh` and `expect fdb`.

The kernel learns these from traffic, which the dry run's model never sees: in a dry run each
handler resolves its words (the bridge, the namespace, the endpoints) and says nothing more, as
`ping` and `expect reach` do there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError
from ..base.lazy import Lazy
from ..base.results import ExpectResult, Message, Table
from ..engine.context import Ctx
from ..kernel.inventory import Link
from ..lang.kinds import Endpoint
from ..ops.apply import ep as show_ep

if TYPE_CHECKING:
    from ..kernel import learned
else:  # imported when fdb, neigh, link ls --stats or watch first runs
    learned = Lazy("nslab.kernel.learned")


def _nl(ctx: Ctx, ns: str) -> Any:
    return ctx.lab.nss.get(ns).nl


def _owners(ctx: Ctx) -> dict[str, list[str]]:
    return learned.owners(ctx.view.lab_links(peers=False))


def _bridge(ctx: Ctx, name: str) -> Link:
    link = ctx.view.link(ctx.ns, name, with_addrs=False)
    if link is None:
        raise CommandError(f"no bridge {name} in {ctx.ns}")
    if link.kind != "bridge":
        raise CommandError(f"{show_ep(ctx.ns, name)} is a {link.kind}, not a bridge")
    return link


def _kind(e: learned.Neigh) -> str:
    if e.master is None:
        return "self"  # the device's own address list (its multicast groups), not the bridge's table
    if e.state & learned.NUD_PERMANENT:
        return "permanent"  # the bridge's own ports' MACs
    if e.state & learned.NUD_NOARP:
        return "static"
    return "learned"


def _fdb_rows(ctx: Ctx, only: str | None) -> tuple[list[list[Any]], dict[str, float | None]]:
    nl = _nl(ctx, ctx.ns)
    links = {x.index: x for x in learned.counters(nl)}
    bridges = {i: x for i, x in links.items() if x.kind == "bridge" and (only is None or x.name == only)}
    owners = _owners(ctx)
    rows: list[tuple[Any, ...]] = []
    for e in learned.fdb(nl):
        dev = links.get(e.index)
        if dev is None:
            continue
        home = e.master if e.master in bridges else e.index if e.index in bridges else dev.master
        if home not in bridges:
            continue  # a device on no bridge of the listing (its own self entries)
        br = bridges[home]
        kind = _kind(e)
        age = ""
        if kind == "learned" and e.updated is not None:
            age = f"{e.updated:.0f} s"
            if br.ageing is not None and e.updated >= br.ageing:
                kind = "learned, aged out"  # past the ageing time: no longer used, dropped at the next sweep
        order = ("learned", "learned, aged out", "static", "permanent", "self").index(kind)
        rows.append((br.name, dev.name, order, e.mac, kind, age, ", ".join(owners.get(e.mac, []))))
    rows.sort(key=lambda r: (r[0], r[2], r[1], r[3]))
    return [[b, port, mac, kind, age, owner] for b, port, _, mac, kind, age, owner in rows], \
        {b.name: b.ageing for b in bridges.values()}


def fdb_ls(ctx: Ctx, bridge: str | None = None, all: bool = False) -> list[Any] | None:  # noqa: A002 - the flag's name
    if bridge is not None:
        _bridge(ctx, bridge)
    if ctx.dry:
        return None
    rows, ageing = _fdb_rows(ctx, bridge)
    hidden = 0 if all else sum(1 for r in rows if r[3] == "self")
    rows = rows if all else [r for r in rows if r[3] != "self"]
    title = f"forwarding database of {bridge or 'the bridges'} in {ctx.ns}"
    out: list[Any] = [Table(title, ["bridge", "port", "mac", "type", "age", "owner"], rows, key="fdb")]
    if hidden:
        out.append(Message(f"{hidden} self entries (the devices' own multicast groups) not shown: `fdb ls --all` lists them", "dim"))
    if not ageing:
        out.append(Message(f"no bridge in {ctx.ns}", "dim"))
    for name, secs in ageing.items():
        if secs is not None:
            out.append(Message(f"{name} forgets a learned MAC {secs:g} s after its last frame (its ageing time)", "dim"))
    return out


def neigh_ls(ctx: Ctx, ns: str | None = None) -> Table | None:
    where = ns or ctx.ns
    ctx.view.require(where)
    if ctx.dry:
        return None
    nl = _nl(ctx, where)
    names = {x.index: x.name for x in learned.counters(nl)}
    owners = _owners(ctx)
    rows = [[where, n.dst, names.get(n.index, str(n.index)), n.mac, " ".join(n.states), ", ".join(owners.get(n.mac, []))]
            for n in learned.neighbours(nl)]
    return Table(f"neighbours of {where}", ["ns", "address", "dev", "mac", "state", "owner"], rows, key="neighbours")


STAT_COLUMNS = ["ns", "name", "rx packets", "rx bytes", "rx dropped", "rx errors",
                "tx packets", "tx bytes", "tx dropped", "tx errors"]


def link_stats(ctx: Ctx, names: list[str]) -> Table | None:
    """`link ls --stats`: the kernel's counters of each interface (IFLA_STATS64, as `ip -s link`)."""
    if ctx.dry:
        return None
    rows = []
    for ns in names:
        for x in learned.counters(_nl(ctx, ns)):
            s = x.stats
            if s is not None:
                rows.append([ns, x.name, s.rx_packets, s.rx_bytes, s.rx_dropped, s.rx_errors,
                             s.tx_packets, s.tx_bytes, s.tx_dropped, s.tx_errors])
    return Table("link counters", STAT_COLUMNS, rows, key="stats")


# -- watch -------------------------------------------------------------------


def _watched(ctx: Ctx, eps: list[Endpoint]) -> list[tuple[str, str]]:
    if not eps:
        return [(ctx.ns, x.name) for x in ctx.view.links(ctx.ns, with_addrs=False) if x.kind != "loopback"]
    out = []
    for e in eps:
        ns = ctx.resolve(e.ns)
        ctx.view.require(ns)
        if not ctx.view.has(ns, e.ifname):
            raise CommandError(f"watch: no interface {show_ep(ns, e.ifname)}")
        out.append((ns, e.ifname))
    return list(dict.fromkeys(out))


def _sample(ctx: Ctx, eps: list[tuple[str, str]]) -> dict[tuple[str, str], learned.Stats]:
    out = {}
    for ns in dict.fromkeys(ns for ns, _ in eps):
        for x in learned.counters(_nl(ctx, ns)):
            if (ns, x.name) in eps and x.stats is not None:
                out[(ns, x.name)] = x.stats
    return out


def _rates(eps: list[tuple[str, str]], before: dict[tuple[str, str], learned.Stats],
           after: dict[tuple[str, str], learned.Stats], secs: float) -> Table:
    rows: list[list[Any]] = []
    for key in eps:
        a, b = before.get(key), after.get(key)
        if a is None or b is None:
            rows.append([show_ep(*key), "gone", "", "", "", ""])
            continue

        def rate(field: str, a: learned.Stats = a, b: learned.Stats = b) -> float:
            return max(0, getattr(b, field) - getattr(a, field)) / secs

        drops = rate("rx_dropped") + rate("tx_dropped")
        errors = rate("rx_errors") + rate("tx_errors")
        rows.append([show_ep(*key), round(rate("rx_packets"), 1), round(rate("rx_bytes")), round(rate("tx_packets"), 1),
                     round(rate("tx_bytes")), round(drops + errors, 1)])
    return Table(f"rates over {secs:.1f} s", ["endpoint", "rx pkt/s", "rx B/s", "tx pkt/s", "tx B/s", "drop+err/s"],
                 rows, key="rates")


def watch(ctx: Ctx, ep: list[Endpoint] | None = None, i: float = 1.0) -> Iterator[Any]:
    """Per-interface rates, a table each interval, until a key is pressed at the terminal.  A line
    not typed at the REPL's terminal (`nslab run`, `source`, a pipe) has no key to wait for: one
    interval's sample, said so."""
    eps = _watched(ctx, ep or [])
    if not eps:
        raise CommandError(f"watch: {ctx.ns} has no interface but lo (name one: watch NS:IF)")
    if ctx.dry:
        return
    typed = ctx.cmd.loc.source == "repl"  # a replay (`nslab run`, `source`) must not stop for a key
    live = typed and ctx.terminal is not None and getattr(ctx.terminal, "tty", None) is not None
    keys = ctx.terminal.keys() if live else None
    if keys is None:
        before, t0 = _sample(ctx, eps), time.monotonic()
        time.sleep(i)
        yield _rates(eps, before, _sample(ctx, eps), time.monotonic() - t0)
        yield Message("watch: one sample, as it is not typed at a terminal (there it goes on until a key is pressed)", "dim")
        return
    yield Message(f"watching {len(eps)} interface(s) every {i:g} s; press any key to stop", "dim")
    with keys as key:
        before, t0 = _sample(ctx, eps), time.monotonic()
        while True:
            pressed = key.wait(i)
            now, t1 = _sample(ctx, eps), time.monotonic()
            if pressed:
                break
            yield _rates(eps, before, now, t1 - t0)
            before, t0 = now, t1
    yield Message("watch ended", "dim")


# -- goals -------------------------------------------------------------------


def _neigh_words(n: learned.Neigh, owners: dict[str, list[str]]) -> str:
    who = f" ({', '.join(owners[n.mac])})" if n.mac in owners else ""
    if not n.mac:
        return f"{n.dst} has no MAC address yet ({' '.join(n.states)}: asked, not answered)"
    return f"{n.dst} is {n.mac}{who}, {' '.join(n.states)}"


def expect_neigh(ctx: Ctx, ip: Any, mac: str | None = None, ep: Endpoint | None = None) -> ExpectResult | None:
    """The context resolved IP (an entry with a MAC it may use), to MAC or to EP's MAC when named."""
    want, to = mac, ""
    if ep is not None:
        ns = ctx.resolve(ep.ns)
        if not ctx.view.exists(ns):
            return ExpectResult(False, f"{ctx.ns} resolved {ip} to {ep}", f"no namespace {ns}")
        link = ctx.view.link(ns, ep.ifname, with_addrs=False)
        if link is None:
            return ExpectResult(False, f"{ctx.ns} resolved {ip} to {ep}", f"no interface {show_ep(ns, ep.ifname)}")
        want, to = link.mac, f" to {show_ep(ns, ep.ifname)} ({link.mac})"
    elif mac is not None:
        to = f" to {mac}"
    wanted = f"{ctx.ns} resolved {ip}{to}"
    if ctx.dry:
        return None
    found = [n for n in learned.neighbours(_nl(ctx, ctx.ns)) if n.dst == str(ip)]
    ok = any(learned.RESOLVED & set(n.states) and (want is None or n.mac == want) for n in found)
    if not found:
        return ExpectResult(False, wanted, f"no neighbour entry for {ip} in {ctx.ns} (nothing was sent to it yet?)")
    owners = _owners(ctx)
    return ExpectResult(ok, wanted, "; ".join(_neigh_words(n, owners) for n in found))


def expect_fdb(ctx: Ctx, bridge: str, ep: Endpoint) -> ExpectResult | None:
    """BRIDGE learned EP's MAC on the port that leads to EP (over veths and other bridges)."""
    ns = ctx.resolve(ep.ns)
    where = show_ep(ns, ep.ifname)
    wanted = f"{bridge} learned {where} on the port towards it"
    br = ctx.view.link(ctx.ns, bridge, with_addrs=False)
    if br is None or br.kind != "bridge":
        return ExpectResult(False, wanted, f"no bridge {bridge} in {ctx.ns}")
    if not ctx.view.exists(ns) or (link := ctx.view.link(ns, ep.ifname, with_addrs=False)) is None:
        return ExpectResult(False, wanted, f"no interface {where}")
    if ns == ctx.ns and link.master == bridge:
        return ExpectResult(False, wanted, f"{where} is a port of {bridge}: its MAC is the bridge's own (permanent), not learned")
    port = learned.port_towards(ctx.view.lab_links(), ctx.ns, bridge, ns, ep.ifname)
    if port is None:
        return ExpectResult(False, wanted, f"no port of {bridge} leads to {where}")
    wanted = f"{bridge} learned {where} ({link.mac}) on port {port}"
    if ctx.dry:
        return None
    rows, _ = _fdb_rows(ctx, bridge)
    seen = [r for r in rows if r[2] == link.mac and r[3] != "self"]
    if any(r[1] == port and r[3] == "learned" for r in seen):
        age = next(r[4] for r in seen if r[1] == port and r[3] == "learned")
        return ExpectResult(True, wanted, f"learned on {port}, last frame {age} ago")
    if not seen:
        return ExpectResult(False, wanted, f"{bridge} has no entry for {link.mac}: it floods frames for it to every port")
    return ExpectResult(False, wanted, "; ".join(f"{r[3]} on {r[1]}" for r in seen))
