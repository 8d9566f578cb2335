"""Handler functions by the names the command table gives them.

The commands: one handler per form of the command table, returning data.
May import: engine, ops, services, kernel, lang, base.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from ..base.errors import NoInterfaceError
from ..engine.context import Ctx
from ..kernel.netns import HOST
from ..lang.commands import TABLE
from ..lang.near import did_you_mean
from . import (
    background,
    build,
    capture,
    container_life,
    containers,
    expect,
    goals,
    journal_cmds,
    learned,
    link_kinds,
    look,
    programs,
    shaping,
    traffic,
)


def where_now(ctx: Ctx, e: NoInterfaceError) -> str:
    """What a missing interface's error adds: where that name is now (it moved), or the names it is close to."""
    elsewhere = [ns for ns in [HOST, *ctx.view.names()] if ns != e.ns and ctx.view.has(ns, e.name)]
    if elsewhere:
        return "; " + ", ".join(f"{e.name} is in {ns} now: {ns}:{e.name}" for ns in elsewhere)
    if not ctx.view.exists(e.ns):
        return ""
    return did_you_mean(e.name, (link.name for link in ctx.view.links(e.ns, with_addrs=False)))


def _taught(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The handler, its missing-interface errors completed with `where_now` (one place for every command)."""

    def stream(ctx: Ctx, produced: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from produced
        except NoInterfaceError as e:
            raise NoInterfaceError(e.message + where_now(ctx, e), e.ns, e.name) from None

    @functools.wraps(fn)
    def run(ctx: Ctx, **values: Any) -> Any:
        try:
            produced = fn(ctx, **values)
        except NoInterfaceError as e:
            raise NoInterfaceError(e.message + where_now(ctx, e), e.ns, e.name) from None
        return stream(ctx, produced) if hasattr(produced, "__next__") else produced

    return run


_NAMES = {f.handler for c in TABLE for f in c.forms}
HANDLERS: dict[str, Callable[..., Any]] = {
    name: _taught(fn)
    for module in (build, background, look, programs, expect, goals, journal_cmds, containers, container_life, shaping, learned, traffic, link_kinds, capture)
    for name, fn in vars(module).items()
    if name in _NAMES and callable(fn)
}
# a command form naming a handler that does not exist fails here, at import, not when typed
_MISSING = sorted(_NAMES - set(HANDLERS))
if _MISSING:
    raise ImportError(f"the command table names handlers that do not exist: {', '.join(_MISSING)}")
