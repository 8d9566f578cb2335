"""The handler contract: what a handler gets besides its command's values.

A handler reads the lab through `view` (the kernel, or the dry run's model), checks
ownership with `guard`, changes the lab only through `apply` (one op at a time: the
session records, checks and undoes them), and asks the person at the terminal through
`ask`; a program runs on the face's `terminal` when there is one.  Whatever else it wants done — a new context namespace, a program that ran, a
file to source — it returns as an event, and the session does it.  Journal commands
(history, save, export, undo, reset, check) also read the session itself, as `lab`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..lang.parser import Command
from .view import View

Op = dict[str, Any]


@dataclass
class Ctx:
    """What a handler gets for one command: the view, the guard, `apply`, `ask` and the context."""

    view: View
    guard: Any  # guard.Guard, or the dry run's guard.ModelGuard
    ns: str  # the context namespace of this command
    cmd: Command
    apply: Callable[[Op], None]
    ask: Callable[[str], str] | None = None
    dry: bool = False  # a dry run: resolve everything, run and send nothing
    host_mode: bool = False
    sources: list[str] = field(default_factory=list)  # files being sourced, outermost first
    lab: Any = None  # the session, for journal commands only
    terminal: Any = None  # the face's terminal a program may run on (faces/terminal.py); None: pipes

    def resolve(self, ns: str | None) -> str:
        return ns if ns is not None else self.ns
