"""Handler functions by the names the command table gives them.

The commands: one handler per form of the command table, returning data.
May import: engine, ops, services, kernel, lang, base.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..lang.commands import TABLE
from . import build, capture, containers, expect, goals, journal_cmds, look, programs

_NAMES = {f.handler for c in TABLE for f in c.forms}
HANDLERS: dict[str, Callable[..., Any]] = {
    name: fn
    for module in (build, look, programs, expect, goals, journal_cmds, containers, capture)
    for name, fn in vars(module).items()
    if name in _NAMES and callable(fn)
}
# a command form naming a handler that does not exist fails here, at import, not when typed
_MISSING = sorted(_NAMES - set(HANDLERS))
if _MISSING:
    raise ImportError(f"the command table names handlers that do not exist: {', '.join(_MISSING)}")
