"""`pingall` in waves, for a LAN whose pairs need more ARP entries than the machine's table has
free (kernel/arptable.py says why it is one table for every namespace).

A wave is a group of sources whose pairs fit in the room: each pair costs at most two entries,
the source's of the target and the target's of the source.  After each wave the entries it made
in the lab's namespaces are deleted, so the next finds the same room.  A pair that has not
answered within a short wait is not waited for in its wave (a silent host would hold up every
wave by the whole wait): those pairs, few, go again together at the end of the round with the
full wait, and only that echo counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import arptable
from .pingall import Echoes, sweep

if TYPE_CHECKING:
    from .rtnl import Rtnl

SETTLE = 0.25  # seconds a wave waits for its replies; a lab answers in well under a millisecond
Pair = tuple[str, str]


def waves_of(pairs: set[Pair], order: Sequence[str], room: int) -> list[list[str]]:
    """The sources with pairs to send, grouped in `order` so that each group's pairs fit in `room`
    entries (a source whose pairs alone do not fit goes alone)."""
    cost = {s: 0 for s in order}
    for s, _ in pairs:
        cost[s] += 2
    out: list[list[str]] = []
    group: list[str] = []
    used = 0
    for s in order:
        if not cost[s]:
            continue
        if group and used + cost[s] > room:
            out.append(group)
            group, used = [], 0
        group.append(s)
        used += cost[s]
    return out + ([group] if group else [])


def in_waves(sources: Sequence[tuple[str, int]], targets: Sequence[tuple[str, str]], room: int,
             tables: Sequence[tuple["Rtnl", set[arptable.Entry]]], rounds: int, wait: float, until_answered: bool,
             skip: frozenset[Pair]) -> dict[Pair, Echoes]:
    """As pingall.sweep, in waves that fit in `room` ARP entries; `tables`: each lab namespace's
    socket and the entries it had before, which the deletes after each wave leave alone."""
    names = [s for s, _ in sources]
    result = {(s, t): Echoes() for s in names for t, _ in targets if s != t and (s, t) not in skip}
    short = min(wait, SETTLE)
    for _ in range(rounds):
        todo = {p for p, e in result.items() if not e.error and not (until_answered and e.rtts)}
        silent = _send(sources, targets, todo, room, tables, short, result)
        if silent and wait > short:
            for p in silent:  # their short echo was a first try: the full wait decides, and counts
                result[p].sent -= 1
            _send(sources, targets, silent, room, tables, wait, result)
    return result


def _send(sources: Sequence[tuple[str, int]], targets: Sequence[tuple[str, str]], todo: set[Pair], room: int,
          tables: Sequence[tuple["Rtnl", set[arptable.Entry]]], wait: float, result: dict[Pair, Echoes]) -> set[Pair]:
    """One echo to each pair of `todo`, wave by wave, into `result`; the pairs that had no reply."""
    fds = dict(sources)
    silent: set[Pair] = set()
    for wave in waves_of(todo, [s for s, _ in sources], room):
        others = frozenset((s, t) for s in wave for t, _ in targets if s != t and (s, t) not in todo)
        try:
            got = sweep([(s, fds[s]) for s in wave], targets, 1, wait, False, others)
        finally:
            for nl, before in tables:
                arptable.forget(nl, before)
        for p, e in got.items():
            into = result[p]
            into.sent += e.sent
            into.rtts += e.rtts
            into.error = into.error or e.error
            if not e.rtts and not e.error:
                silent.add(p)
    return silent
