"""The REPL's bottom toolbar: a row of segments, each a function of what the REPL shows now.

A segment takes a `Bar` and returns its words, or None to show nothing; `SEGMENTS` is their
order.  A new segment (goals K/N, say) is one function added to `SEGMENTS`; none reads the
kernel: `Bar.inv` is the snapshot the REPL keeps fresh (after each step, and from the monitor
of the lab's namespaces while it waits, live.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..base.words import count
from .completion import Inventory
from .goalbar import goals_segment

HINT = "   (Tab completes, Ctrl-R searches, Ctrl-D leaves)"


@dataclass
class Bar:
    inv: Inventory
    lab: Any  # the Session, or a stand-in while it is being opened (context, host_mode, last)
    attached: bool = False


def mode(bar: Bar) -> str:
    kind = "host" if bar.lab.host_mode else ("attached" if bar.attached else "isolated")
    return f" {kind} lab"


def counts(bar: Bar) -> str:
    ns, links, bridges = bar.inv.counts
    return " · ".join((count(ns, "namespace"), count(links, "link"), count(bridges, "bridge")))


def last_step(bar: Bar) -> str | None:
    last = getattr(bar.lab, "last", None)
    if last is None or last.outcome == "running":
        return None
    return f"last: {last.text[:40]} — {last.outcome} in {last.duration * 1000:.1f} ms"


def goals(bar: Bar) -> str | None:
    return " ".join(goals_segment(bar.lab)) or None  # an open exercise's goals met (goalbar.py)


Segment = Callable[[Bar], "str | None"]
SEGMENTS: list[Segment] = [mode, counts, goals, last_step]


def text(bar: Bar) -> str:
    parts = [words for seg in SEGMENTS if (words := seg(bar))]
    return " · ".join(parts) + HINT
