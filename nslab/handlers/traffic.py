"""Traffic tests: `pingall` and `perf`, and the goals `expect pingall` and `expect perf`.

Each namespace is aimed at by the one rule `ping NS` and `expect reach NS` use (look.ipv4_of:
its first IPv4 address not on lo); a namespace with none is listed as skipped, neither a source
nor a target.  The echoes and the test traffic are nslab's own (nslab/kernel/pingall.py,
nslab/kernel/perf.py), sent from sockets opened inside the namespaces.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ..base.errors import CommandError
from ..base.results import ExpectResult, PerfResult, PingMatrix, PingPair
from ..engine.context import Ctx
from .look import first_ipv4, ipv4_of

# `expect pingall`: a pair answers when one of 3 echoes, each given a second, comes back (as
# `expect reach`); the toolbar's quick re-check sends one and waits a quarter of a second
PINGALL_PROBES = (3, 1.0)
PINGALL_QUICK = (1, 0.25)
EXPECT_PERF_SECONDS = 2.0
# the toolbar's re-check after each step of an open exercise: long enough for TCP to fill a
# shaped line (tbf's burst is 10 ms of its rate), short enough not to hold up the prompt
EXPECT_PERF_QUICK = 0.3
# the kernel keeps one ARP table for every namespace of the machine, at most gc_thresh3 (1024)
# entries not 5 s old (kernel/arptable.py): a pingall whose pairs may not fit in what is free
# goes in waves of sources (kernel/pingwaves.py), leaving this share of the limit to the machine's other users
LEFT_TO_OTHERS = 0.25
NEIGHBOURS_AT = 900
NEIGHBOURS = ("; with this many pairs the kernel's neighbour table may be full (it is shared by every namespace "
              "of the machine: net.ipv4.neigh.default.gc_thresh3, 1024 entries): pingall went in waves to fit in "
              "it, but other labs on the machine may hold the rest")
SHOWN = 8  # pairs named in a verdict's "found" before "and N more"


def _hosts(ctx: Ctx, names: list[str] | None) -> tuple[list[str], dict[str, str], list[str]]:
    """(the namespaces pinged, their addresses, those skipped for having no IPv4 address)."""
    chosen = list(dict.fromkeys(names)) if names else ctx.view.names()
    for ns in chosen:
        ctx.view.require(ns)
    addrs = {ns: a for ns in chosen if (a := ipv4_of(ctx, ns)) is not None}
    return [ns for ns in chosen if ns in addrs], addrs, [ns for ns in chosen if ns not in addrs]


def matrix(ctx: Ctx, names: list[str] | None, rounds: int, wait: float, until_answered: bool) -> PingMatrix:
    from ..kernel.pingall import sweep

    hosts, addrs, skipped = _hosts(ctx, names)
    refused: dict[tuple[str, str], str] = {}
    for src in hosts:  # in host mode, a pair whose route would leave the lab is not sent to
        for dst in hosts:
            if src != dst and (why := ctx.guard.outside(src, addrs[dst])) is not None:
                refused[(src, dst)] = why
    t0 = time.perf_counter()
    sources, targets = [(ns, ctx.view.fd(ns)) for ns in hosts], [(ns, addrs[ns]) for ns in hosts]
    room, tables = _room(ctx, len(hosts))
    if room is None:
        got = sweep(sources, targets, rounds, wait, until_answered, frozenset(refused))
    else:
        from ..kernel.pingwaves import in_waves

        got = in_waves(sources, targets, room, tables, rounds, wait, until_answered, frozenset(refused))
    pairs = []
    for src in hosts:
        for dst in hosts:
            if src == dst:
                continue
            e = got.get((src, dst))
            if e is None:
                pairs.append(PingPair(src, dst, addrs[dst], 0, 0, error=refused[(src, dst)]))
            else:
                pairs.append(PingPair(src, dst, addrs[dst], e.sent, len(e.rtts), e.rtts, e.error))
    return PingMatrix(hosts, addrs, pairs, skipped, time.perf_counter() - t0)


def _room(ctx: Ctx, n: int) -> tuple[int | None, list[tuple[Any, set[Any]]]]:
    """The ARP entries n hosts may make at once, or None when all their pairs fit in what the
    machine's table has free; with a room, each lab namespace's socket and the entries it had (the
    host's unless it is the machine's own, in host mode: nslab cannot tell its own entries apart
    from the machine's there), which the waves leave alone (kernel/pingwaves.py)."""
    from ..kernel import arptable
    from ..kernel.netns import HOST

    if n * (n - 1) <= NEIGHBOURS_AT // 4:  # a small lab: no need to read the table
        return None, []
    where = ctx.view.names() + ([] if ctx.host_mode else [HOST])
    tables = [(nl, arptable.learned(nl)) for nl in (ctx.lab.nss.get(ns).nl for ns in where)]
    used = arptable.in_use()
    room = int(arptable.limit() * (1 - LEFT_TO_OTHERS)) - (used if used is not None else sum(len(b) for _, b in tables))
    if n * (n - 1) <= room:
        return None, []
    return max(room, 2 * (n - 1)), tables  # one source's pairs at a time, at the least


def pingall(ctx: Ctx, ns: list[str] | None = None, c: int = 1, W: float = 1.0) -> Iterator[Any]:  # noqa: N803
    hosts, _, skipped = _hosts(ctx, ns)
    if len(hosts) < 2:
        raise CommandError(_too_few(hosts, skipped))
    if ctx.dry:
        return
    result = matrix(ctx, ns, c, W, until_answered=False)
    yield result
    silent = [p for p in result.pairs if p.received == 0]
    if silent:
        raise CommandError(f"{len(silent)} of {len(result.pairs)} pairs had no reply: {_listed(silent)}"
                           + (NEIGHBOURS if len(result.pairs) > NEIGHBOURS_AT else ""))


def _too_few(hosts: list[str], skipped: list[str]) -> str:
    why = f" ({', '.join(skipped)}: no IPv4 address)" if skipped else ""
    return f"pingall needs two namespaces with an IPv4 address, found {len(hosts)}{why}"


def _listed(pairs: list[PingPair]) -> str:
    words = [f"{p.src}->{p.dst}" for p in pairs[:SHOWN]]
    return ", ".join(words) + (f" and {len(pairs) - SHOWN} more" if len(pairs) > SHOWN else "")


def excepted(pair: PingPair, words: set[str]) -> str | None:
    """The `except` word that names this pair (A-B, either order), or None.  Matching the joined
    names, never splitting the word, keeps namespace names with '-' in them unambiguous."""
    for word in (f"{pair.src}-{pair.dst}", f"{pair.dst}-{pair.src}"):
        if word in words:
            return word
    return None


def expect_pingall(ctx: Ctx, pair: list[str] | None = None, quick: bool = False) -> ExpectResult:
    words = set(pair or [])
    wanted = "every namespace answers every other" + (f" except {' '.join(pair or [])}" if words else "")
    hosts, _, skipped = _hosts(ctx, None)
    if len(hosts) < 2:
        return ExpectResult(False, wanted, _too_few(hosts, skipped))
    tries, wait = PINGALL_QUICK if quick else PINGALL_PROBES
    result = matrix(ctx, None, tries, wait, until_answered=True)
    used: set[str] = set()
    silent, answered = [], []
    n_except = 0
    for p in result.pairs:
        word = excepted(p, words)
        if word is not None:
            used.add(word)
            n_except += 1
            if p.received:
                answered.append(p)
        elif not p.received:
            silent.append(p)
    unknown = sorted(words - used)
    problems = ([f"no reply: {_listed(silent)}"] if silent else []) + \
               ([f"answered though excepted: {_listed(answered)}"] if answered else []) + \
               ([f"except {' '.join(unknown)} names no two namespaces with an IPv4 address"] if unknown else [])
    if problems:
        return ExpectResult(False, wanted, "; ".join(problems))
    found = f"{len(result.pairs) - n_except} pairs answered" + (f", {n_except} excepted ones did not" if n_except else "")
    found += f" ({result.seconds * 1000:.0f} ms)"
    if skipped:
        found += f"; skipped (no IPv4 address): {', '.join(skipped)}"
    return ExpectResult(True, wanted, found)


def _perf(ctx: Ctx, a: str, b: str, seconds: float, udp: bool, rate: int | None) -> PerfResult | None:
    for ns in (a, b):
        ctx.view.require(ns)
    if a == b:
        raise CommandError("perf needs two different namespaces: a sender and a listener")
    addr = first_ipv4(ctx, b)
    if ctx.dry:
        return None
    if (leaves := ctx.guard.outside(a, addr)) is not None:
        raise CommandError(leaves)
    from ..kernel import perf as run

    result = (run.udp if udp else run.tcp)(ctx.view.fd(a), ctx.view.fd(b), addr, seconds, rate)
    result.src, result.dst = a, b
    return result


def perf(ctx: Ctx, a: str, b: str, t: float = 3.0, udp: bool = False, rate: int | None = None,
         json: bool = False) -> PerfResult | None:
    result = _perf(ctx, a, b, t, udp, rate)
    if result is not None:
        result.as_json = json
    return result


def expect_perf(ctx: Ctx, a: str, b: str, r: int, quick: bool = False) -> ExpectResult:
    wanted = f"at least {r / 1e6:.10g} Mbit/s from {a} to {b}"
    try:
        result = _perf(ctx, a, b, EXPECT_PERF_QUICK if quick else EXPECT_PERF_SECONDS, False, None)
    except CommandError as e:
        return ExpectResult(False, wanted, e.message)
    assert result is not None  # expect is never judged by the dry run
    found = f"{result.mbps:.1f} Mbit/s over {result.seconds:g} s, {result.retransmits} retransmits"
    return ExpectResult(result.mbps * 1e6 >= r, wanted, found)
