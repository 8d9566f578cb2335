"""Handler functions by the names the command table gives them.

The commands: one handler per form of the command table, returning data.  The table names each
form's handler as MODULE.FUNCTION; a module is imported when a line first needs one of its
handlers, so a lab that never captures, shapes or grades does not pay for those modules at start-up.
May import: engine, ops, services, kernel, lang, base.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..base.errors import NoInterfaceError
from ..engine.context import Ctx
from ..kernel.netns import HOST
from ..lang.commands import TABLE
from ..lang.near import did_you_mean


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


class Handlers(Mapping[str, Callable[..., Any]]):
    """The handler of each form by its function's name, each module imported on first use.  Loading
    a module checks every handler the table names in it, so a wrong name fails on the first line
    that needs that module (and tests/pure/test_handler_registry.py loads them all)."""

    def __init__(self) -> None:
        self.module_of = {f.handler: f.module for c in TABLE for f in c.forms}
        self.loaded: dict[str, Callable[..., Any]] = {}  # filled as modules load, as sys.modules is

    def __getitem__(self, name: str) -> Callable[..., Any]:
        fn = self.loaded.get(name)
        if fn is None:
            self.load(self.module_of[name])
            fn = self.loaded[name]
        return fn

    def load(self, module: str) -> None:
        mod = importlib.import_module(f"{__name__}.{module}")
        names = sorted(n for n, m in self.module_of.items() if m == module)
        missing = [n for n in names if not callable(getattr(mod, n, None))]
        if missing:
            raise ImportError(f"the command table names handlers nslab/handlers/{module}.py lacks: {', '.join(missing)}")
        self.loaded.update((n, _taught(getattr(mod, n))) for n in names)

    def __contains__(self, name: object) -> bool:
        return name in self.module_of

    def __iter__(self) -> Iterator[str]:
        return iter(self.module_of)

    def __len__(self) -> int:
        return len(self.module_of)


HANDLERS = Handlers()
# a form naming a module that does not exist fails here, at import, not when typed
_MODULES = {name[:-3] for name in os.listdir(os.path.dirname(__file__)) if name.endswith(".py")} - {"__init__"}
_MISSING = sorted({f"{f.module}.{f.handler}" for c in TABLE for f in c.forms
                   if f.module not in _MODULES or HANDLERS.module_of[f.handler] != f.module})
if _MISSING:
    raise ImportError("the command table names handlers as MODULE.FUNCTION, one module per function, of a module "
                      f"in nslab/handlers; these are not: {', '.join(_MISSING)}")
