"""`nslab run --dry-run`: every line resolved by the real handlers against the lab model,
without touching the kernel and without privileges.

The handlers read a `ModelView` of a `LabState` (nslab/engine/view.py, nslab/kernel/labstate.py) and
their ops change it through each op kind's model effect (nslab/ops/model.py), which raises
what the kernel would refuse with the kernel's errno: the messages are the real run's,
written once.  A line that fails leaves the model as it was, like a real failed step, and
the dry run goes on to report every problem.  Probes and programs are resolved (their
namespace, interface and target) but not run; goals (`expect`) and journal commands are
not judged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..base.errors import CommandError
from ..base.results import ContextChanged, Failure, Message, SourceFile
from ..base.words import count
from ..kernel.labstate import LabState
from ..kernel.netns import HOST
from ..ops import opkinds
from ..ops.apply import apply_error
from .context import Ctx
from .guard import ModelGuard
from .session import events, no_context
from .view import ModelView

Op = dict[str, Any]
NOT_JUDGED = {"history", "save", "export", "help", "expect"}


@dataclass
class Problem:
    """A line the dry run judged would fail, and why."""

    where: str  # FILE:LINE
    line: str
    message: str


class ModelLab:
    """The dry run's session: a lab state, its context, and the ops of the line being judged."""

    def __init__(self, handlers: Mapping[str, Callable[..., Any]]) -> None:
        self.handlers = handlers
        self.state = LabState.fresh()
        self.view = ModelView(self.state)
        self.context = HOST
        self.guard = ModelGuard()
        self.sources: list[str] = []  # files being sourced, to refuse a loop as the real run does
        self.before: list[LabState] = []  # the state before each line that changed it: what undo goes back to
        self.applied = 0

    def _source(self, event: SourceFile) -> None:
        self.sources.append(event.path)
        try:
            for sub in event.commands:
                if sub.name not in NOT_JUDGED:
                    try:
                        self.run(sub)
                    except CommandError as e:  # the real run's message: the sourced line that stopped it
                        raise CommandError(f"{sub.loc.source}:{sub.loc.line}: {e.message}") from None
        finally:
            self.sources.remove(event.path)

    def apply(self, op: Op) -> None:
        self.applied += 1
        try:
            opkinds.kind(op).model(self.state, op)
        except OSError as e:  # a refusal the model knows the kernel makes: worded as the kernel's
            raise apply_error(op, e) from None

    def run(self, cmd: Any) -> None:
        """One line; raises its error, with the model as it was before the line (a `source` keeps
        what its lines did up to the one that failed, as the real run does)."""
        before, applied = self.state.copy(), self.applied
        ns = cmd.prefix or self.context
        try:
            if not self.view.exists(ns):
                raise CommandError(no_context(ns))
            if cmd.name in ("undo", "reset"):  # the steps undone, newest first: their states before
                self._undo(len(self.before) if cmd.name == "reset" else cmd.values.get("n", 1))
                return
            ctx = Ctx(self.view, self.guard, ns, cmd, self.apply, dry=True, sources=list(self.sources))
            for event in events(self.handlers[cmd.form.handler](ctx, **cmd.values)):
                if isinstance(event, ContextChanged):
                    self.context = event.context
                elif isinstance(event, SourceFile):
                    self._source(event)
            if self.context not in self.state.nss:
                self.context = HOST  # its namespace was deleted
            if self.applied != applied and cmd.name != "source":
                self.before.append(before)
        except CommandError:
            if cmd.name != "source":
                self.state.__dict__.update(before.__dict__)  # the view holds this very object
            raise

    def _undo(self, n: int) -> None:
        k = min(n, len(self.before))
        if k > 0:
            back = self.before[-k]
            del self.before[-k:]
            self.state.__dict__.update(back.__dict__)  # nothing else holds that snapshot
        if self.context not in self.state.nss:
            self.context = HOST


def dry_run(commands: Iterable[Any], handlers: Mapping[str, Callable[..., Any]]) -> tuple[list[Problem], int]:
    """Resolve every command; (problems found, commands looked at).  Nothing touches the kernel."""
    lab = ModelLab(handlers)
    problems: list[Problem] = []
    n = 0
    for cmd in commands:
        n += 1
        if cmd.name in NOT_JUDGED:
            continue
        try:
            lab.run(cmd)
        except CommandError as e:
            problems.append(Problem(f"{cmd.loc.source}:{cmd.loc.line}", cmd.text.strip(), e.message))
    return problems, n


def report(commands: list[Any], out: Callable[[Any], None], handlers: Mapping[str, Callable[..., Any]]) -> int:
    """`nslab run --dry-run`: each problem as FILE:LINE with its line; exit 1 when a real run would trip."""
    problems, n = dry_run(commands, handlers)
    for p in problems:
        out(Failure(p.message, p.where, p.line))
    verdict = "a real run would stop at the first of them" if problems else "a real run should get through"
    out(Message(f"dry run: {count(n, 'line')} resolved, {count(len(problems), 'problem')}; {verdict}", "error" if problems else "ok"))
    return 1 if problems else 0
