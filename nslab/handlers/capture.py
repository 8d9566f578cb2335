"""`capture`: packets on lab endpoints, in the foreground or the background (nslab/engine/capture.py).

Read-only: nothing is journalled, the dry run resolves the endpoints and opens nothing.  The
sockets are opened here, on the calling (main) thread, each inside its endpoint's namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..base.errors import CommandError
from ..base.results import CaptureCounts, Message, Table
from ..engine.context import Ctx
from ..lang.capfilter import PROTOCOLS, Filter
from ..lang.kinds import Endpoint
from ..ops.apply import ep as show_ep

_WORDS = {"start", "ls", "stop"}


def _endpoints(ctx: Ctx, eps: list[Endpoint]) -> list[tuple[str, str, str]]:
    """(namespace, interface, NS:IF) of each endpoint, each once; a missing one fails the capture."""
    out: list[tuple[str, str, str]] = []
    for e in eps:
        ns = ctx.resolve(e.ns)
        ctx.view.require(ns)
        if not ctx.view.has(ns, e.ifname):
            hint = ""
            if e.ns is None and (e.ifname in PROTOCOLS or e.ifname in ("host", "port", "ether", "not")):
                hint = f" (a filter comes after `--`: capture EP... -- {e.ifname} ...)"
            elif e.ns is None and e.ifname in _WORDS:
                hint = f" (`capture {e.ifname}` needs its own words: help capture)"
            raise CommandError(f"no interface {show_ep(ns, e.ifname)}{hint}")
        label = f"{ns}:{e.ifname}"
        if label not in [x[2] for x in out]:
            out.append((ns, e.ifname, label))
    return out


def _open(ctx: Ctx, eps: list[Endpoint], w: str | None, filter: Filter | None, lines: bool) -> Any:  # noqa: A002
    from ..engine.capture import Capture
    from ..kernel.packet import open_tap, ring_blocks

    where = _endpoints(ctx, eps)
    if ctx.dry:
        return None
    taps = []
    try:
        for ns, ifname, label in where:
            taps.append(open_tap(ctx.view.fd(ns), ifname, label, ring_blocks(len(where))))
        return Capture(taps, filter, w, lines=lines)
    except BaseException:
        for tap in taps:
            tap.close()
        raise


def capture(ctx: Ctx, ep: list[Endpoint], c: int | None = None, t: float | None = None, w: str | None = None,
            filter: Filter | None = None) -> Iterator[Any]:  # noqa: A002
    from ..engine.capture import foreground

    cap = _open(ctx, ep, w, filter, lines=True)
    if cap is None:
        return
    yield from foreground(cap, c, t)


def capture_start(ctx: Ctx, ep: list[Endpoint], q: bool = False, w: str | None = None,
                  filter: Filter | None = None) -> Message:  # noqa: A002
    if q and w is None:
        raise CommandError("capture start -q shows no lines, so it needs -w FILE to keep them")
    cap = _open(ctx, ep, w, filter, lines=not q)
    if cap is None:
        return Message("capture would start")
    number = _captures(ctx).start(cap)
    into = f", into {w}" if w else ""
    return Message(f"capture {number} started on {', '.join(t.label for t in cap.taps)}{into}; `capture stop {number}` ends it")


def capture_ls(ctx: Ctx) -> Table:
    rows = _captures(ctx).rows() if not ctx.dry else []
    return Table("captures", ["id", "endpoints", "filter", "file", "packets", "state", "started"], rows, key="captures")


def capture_stop(ctx: Ctx, id: int | None = None) -> list[CaptureCounts] | Message:  # noqa: A002
    if ctx.dry:
        return []
    done = _captures(ctx).stop(id)
    return done if done else Message("no background capture is running")


def _captures(ctx: Ctx) -> Any:
    return ctx.lab.captures
