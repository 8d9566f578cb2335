"""The session: one object that runs commands, talks netlink and keeps the journal.

Every input (REPL line, .lab line, stdin, the Python API) goes
text -> parser -> Command -> `Lab.stream` -> handler (ops through `Tx`) -> events.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError, Loc, NslabError, ParseError, internal_error
from ..base.results import Changes, ContextChanged, ExpectResult, Failure, Interrupted, ProgramStarted, SourceFile
from ..kernel import isolate, sysns
from ..kernel.netns import HOST, Namespaces
from ..lang.parser import Command, parse_line
from ..ops import opkinds
from ..ops.apply import Kernel, Op, ip_lines
from ..ops.change_words import BY_PROGRAM, of_ops
from ..ops.journal import Journal, Step
from . import egress
from .captures import Captures
from .changes import Watch
from .context import Ctx
from .guard import Guard
from .hostlog import HostLog
from .lablock import LabLock
from .tx import PlanTx, Tx, no_sigint  # noqa: F401  (importers find a step's ops here)
from .view import KernelView

if TYPE_CHECKING:
    from .undo import Undone


@dataclass
class Outcome:
    """The result of `Lab.run`: the step and every event its handler produced."""

    ok: bool
    events: list[Any] = field(default_factory=list)
    step: Step | None = None

    @property
    def error(self) -> str | None:
        if self.step is not None and self.step.error:
            return self.step.error  # `source`: the file's line that stopped it, not only its message
        for e in self.events:
            if isinstance(e, Failure):
                return e.message
        return None


class Session:
    """A lab: its namespaces, its kernel ops and its journal.

    Isolated (default): the process moves into a private network and mount namespace
    on first use, and each Lab gets a fresh root namespace, so nothing outside changes
    and the kernel removes everything when the process ends.
    Host (`host=True`): the real root namespace and /run/netns; the journal is on disk.
    """

    def __init__(
        self,
        host: bool = False,
        name: str = "default",
        root: str = "new",
        allow_host_changes: bool = False,
        run_dir: str = "/run/netns",
        state_dir: str = "/run/nslab",
        allow_outside: bool = False,
        read_only: bool = False,
        handlers: Mapping[str, Callable[..., Any]] | None = None,
        read_changes: bool = False,
    ) -> None:
        """`read_only` (host mode): the process only reads the lab (`check`); it shares the
        lab's lock with other readers instead of holding it alone.  `read_changes`: each step reads
        the namespaces it touches before and after, so its `Changes` hold the kernel's side effects
        too (nslab/engine/changes.py); the faces that show them set it."""
        self.read_changes = read_changes
        # the commands' handlers (nslab/handlers, bound by nslab/lab.py): the engine runs them, it
        # does not import them
        self.handlers: Mapping[str, Callable[..., Any]] = handlers if handlers is not None else {}
        self.host_mode = host
        self.name = name
        # one process at a time changes a host lab: refused before anything is opened or read
        self.lock = LabLock(os.path.join(state_dir, name), name, shared=read_only) if host else None
        self.allow_host_changes = allow_host_changes
        self.allow_outside = allow_outside  # probes may leave through interfaces the lab did not make (egress.py)
        if not host:
            isolate.enter()
        if host or root == "current":
            root_fd = sysns.current_netns_fd()
        else:
            root_fd = _fresh_root()
        if not host:
            _lo_up(root_fd)  # a real host has lo up; the lab's stands in for one
        self.nss = Namespaces(root_fd, run_dir)
        tag = f"nslab:{name}" if host else None
        self.kernel = Kernel(self.nss, tag=tag)
        self.state_dir = os.path.join(state_dir, name)
        self.journal = Journal(os.path.join(self.state_dir, "journal.jsonl") if host else None)
        self.hostlog = HostLog(os.path.join(self.state_dir, "ops.jsonl")) if host else None
        if self.hostlog is not None:
            if not read_only:  # records of a newer nslab: refuse before anything changes
                self.journal.require_writable()
                self.hostlog.require_writable()
            self.journal.next_n = self.hostlog.last_step() + 1
        if host and any(op["op"] in ("ns_link", "ctr_run") for s in self.journal.live() for op in s.ops):
            from ..ops.container_ops import relink

            relink(self.nss, self.journal)  # watch links an earlier process made
        self.context = HOST
        self.undo_epoch = 0  # bumped by every undo: whatever was derived from the journal is stale
        self.guard = Guard(self)
        self.sources: list[str] = []  # files being sourced, to refuse a loop
        # the face's key reader when a person sits at a terminal: `source FILE` is then the
        # teaching replay (nslab/engine/stepper.py); None for files, pipes and the library
        self.ask: Callable[[str], str] | None = None
        self.terminal: Any = None  # the face's terminal for programs (nslab/faces/terminal.py); None: pipes
        self.docker_host: str | None = None  # the face's DOCKER_HOST (nslab/base/environment.py); None: the SDK's default
        self.last: Step | None = None
        # called on the lab's thread as each step ends (the web view, nslab/faces/web/): each reads the lab then
        self.followers: list[Callable[[Step], None]] = []
        self.closing: list[Callable[[], None]] = []  # what ends with the lab (the web view)
        self.captures = Captures()  # background captures (`capture start`); the lab's end and reset stop them

    # -- lifecycle -------------------------------------------------------
    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, remove: bool = True) -> None:
        """Isolated: remove every namespace the lab made (and still the one it made); host: let go.
        `remove=False`: a process about to exit (the kernel removes an isolated lab with it, faster)."""
        for stop in list(self.closing):
            stop()
        self.captures.stop_all()  # their sockets hold the lab's namespaces, their files want closing
        if self.hostlog is not None:
            self.hostlog.close()
        if self.lock is not None:
            self.lock.release()
        for stop in self.kernel.on_close:
            stop()
        if not self.host_mode and remove:
            for name in self.kernel.own_namespaces():  # not another Lab's of this process
                try:
                    self.nss.delete(name)
                except NslabError:
                    pass
        self.nss.close()

    @property
    def host_ns_path(self) -> str:
        """A path other programs can open to enter the lab's host namespace."""
        return f"/proc/{os.getpid()}/fd/{self.nss.host.fd}"

    # -- running ---------------------------------------------------------
    def ctx(self, ns: str, cmd: Command, tx: Tx, watch: Watch | None = None) -> Ctx:
        """The handler's view of this lab for one command (nslab/engine/context.py)."""
        def apply(op: Op) -> None:
            if watch is not None:
                watch.touch(op)  # the state before: what the step's list of changes compares with
            if op["op"] == "ns_del":  # a capture's socket would keep the namespace, and its veths, alive
                self.captures.stop_in(op["ns"])
            if opkinds.kind(op).routes_traffic:  # host mode: never take the host's traffic (egress.py)
                egress.apply_route_change(self, op, tx.apply)
            else:
                tx.apply(op)
        return Ctx(KernelView(self.nss), self.guard, ns, cmd, apply, self.ask, host_mode=self.host_mode,
                   sources=list(self.sources), lab=self, terminal=self.terminal)

    def run(self, text: str, source: str = "api") -> Outcome:
        """Parse and run one line; errors come back in the outcome, not as exceptions."""
        try:
            cmd = parse_line(text, Loc(source, 1, 1))
        except ParseError as e:
            return Outcome(False, [Failure(e.message, str(e.loc), e.text, e.caret())])
        if cmd is None:
            return Outcome(True)
        return self.execute(cmd)

    def stream_line(self, text: str, source: str = "repl") -> Iterator[Any]:
        """Parse one line and stream its events; a parse error is one Failure event."""
        try:
            cmd = parse_line(text, Loc(source, 1, 1))
        except ParseError as e:
            yield Failure(e.message, "", e.text, e.caret())
            return
        if cmd is not None:
            yield from self.stream(cmd)

    def plan(self, cmd: Command) -> list[Op]:
        """The ops a lab-changing command would apply now, without applying them (the
        handler reads the live lab; its writes are collected).  Raises the error it would
        raise.  Read-only commands (ping, exec, show...) plan nothing."""
        if not cmd.spec.journal:
            return []
        ctx_ns = cmd.prefix or self.context
        if not self.nss.exists(ctx_ns):
            raise CommandError(no_context(ctx_ns))
        tx = PlanTx(self.kernel)
        for _ in events(self.handlers[cmd.form.handler](self.ctx(ctx_ns, cmd, tx), **cmd.values)):
            pass  # nothing the events ask for is done (a context change either): a plan changes nothing
        return tx.ops

    def execute(self, cmd: Command) -> Outcome:
        happened = list(self.stream(cmd))
        step = self.last
        ok = step is not None and step.outcome == "ok"
        return Outcome(ok, happened, step)

    def stream(self, cmd: Command) -> Iterator[Any]:
        """Run a command, yielding its events as they happen (ping replies, program output)."""
        source = "repl" if cmd.loc.source == "repl" else f"{cmd.loc.source}:{cmd.loc.line}"
        ctx_ns = cmd.prefix or self.context
        step = self.journal.new(
            source=source, text=cmd.text.strip(), context=ctx_ns, started=time.time(),
            narration=list(cmd.narration), section=cmd.section, changes_lab=cmd.spec.journal,
            command=cmd.spec.name,
        )
        self.last = step
        t0 = time.perf_counter()
        self.nss.new_step()  # nothing read before this step (a plan, a key awaited) is trusted in it
        tx = Tx(self.kernel, self.hostlog, step.n)
        watch = Watch(self.nss) if self.read_changes and cmd.spec.journal else None
        program: Watch | None = None  # a program's namespace, read before and after it ran
        failed: str | None = None
        unmet = interrupted = False
        try:
            ctx = self.ctx(ctx_ns, cmd, tx, watch)
            if self.nss.exists(ctx_ns):
                produced = self.handlers[cmd.form.handler](ctx, **cmd.values)
            elif cmd.spec.name == "expect":  # an unmet goal (an exercise not done yet), not a broken replay
                produced = ExpectResult(False, f"{cmd.text.split('expect', 1)[-1].strip()} in {ctx_ns}", f"no namespace {ctx_ns}")
            else:
                raise CommandError(no_context(ctx_ns))
            for event in events(produced):
                if isinstance(event, ExpectResult) and not event.ok:
                    unmet = True
                if isinstance(event, ProgramStarted):
                    step.program, step.program_ns = list(event.argv), event.ns
                    program = Watch(self.nss)
                    program.touch_ns(event.ns)
                    continue
                if isinstance(event, SourceFile):
                    yield from self._source(event)
                    continue
                if isinstance(event, ContextChanged):
                    self.context = event.context
                yield event
            self.kernel.settle()
        except NslabError as e:
            failed = e.message
        except KeyboardInterrupt:  # Ctrl-C, or a program it ended (handlers/programs.py)
            failed, interrupted = "interrupted", True
        except GeneratorExit:
            # the caller stopped reading (Ctrl-C while an event was shown): the step is
            # interrupted, and what it made is undone, but nothing more can be yielded
            tx.rollback()
            self.last = step
            step.outcome, step.error, step.duration = "interrupted", "interrupted", time.perf_counter() - t0
            if self.hostlog is not None:
                self.hostlog.settled(step.n)
            raise
        except Exception as e:  # a bug must not lose the lab: report it as a failed step
            failed = internal_error(e)
        self.last = step  # a nested `source` ran steps of its own; this one is the caller's
        if self.context != HOST and not self.nss.exists(self.context):
            self.context = HOST  # its namespace went (`ns del`, an undo, a program): back to host
        if failed is not None:
            problems = tx.rollback()
            if problems:
                failed += " (and undoing its first part failed: " + "; ".join(problems) + ")"
        step.duration = time.perf_counter() - t0
        step.ops = tx.ops if failed is None else []
        step.inverse = tx.undo_ops() if failed is None else []
        step.ip = [line for op in step.ops for line in ip_lines(op)]
        step.outcome = "interrupted" if interrupted else "failed" if failed else ("unmet" if unmet else "ok")
        step.error = failed
        if step.ops:
            self.journal.append_disk(step)
        if self.hostlog is not None:
            self.hostlog.settled(step.n)  # after the journal has it: a crash in between leaves it pending
        for follow in list(self.followers):
            follow(step)
        if step.ops:
            yield Changes(watch.lines(step.ops) if watch is not None else of_ops(step.ops))
        if program is not None:
            step.changed = self._program_changes(program)
            if step.changed:
                yield Changes(step.changed)
        if failed is not None:
            yield (Interrupted if interrupted else Failure)(failed, source if source != "repl" else "", cmd.text.strip())

    def _program_changes(self, watch: Watch) -> list[str]:
        """What a program changed in its namespace (undo names such steps: it cannot undo them)."""
        return watch.lines([], BY_PROGRAM)

    def _source(self, event: SourceFile) -> Iterator[Any]:
        """Each line of a sourced file is a step of its own; the `source` step fails with the first
        that fails, naming its file and line.  At a terminal it is the teaching replay."""
        from . import stepper

        self.sources.append(event.path)
        try:
            if self.ask is not None:
                yield from stepper.replay(self, event.commands, self.ask)
                self._stop_if_failed()
            else:
                for cmd in event.commands:
                    yield from self.stream(cmd)
                    self._stop_if_failed()
        finally:
            self.sources.remove(event.path)
        if event.opens is not None:  # an exercise's setup ran: it is open, its goals listed
            self.exercise = event.opens
            yield from self.stream_line("goals")

    def _stop_if_failed(self) -> None:
        last = self.last
        if last is not None and last.outcome == "interrupted":
            raise KeyboardInterrupt  # the file's step was: so is the `source` that ran it
        if last is not None and last.outcome == "failed":
            raise CommandError(f"{last.source}: {last.error}")

    def run_file(self, path: str) -> list[Outcome]:
        """Parse a whole .lab file, then run it, stopping at the first failed step."""
        from ..lang.labfile import parse_file

        outcomes = []
        for cmd in parse_file(path).commands:
            out = self.execute(cmd)
            outcomes.append(out)
            if out.step is not None and out.step.outcome in ("failed", "interrupted"):
                break
        return outcomes

    # -- undo ------------------------------------------------------------
    def reset(self) -> "Undone":
        """Undo every step, going on past what is gone (see nslab/engine/undo.py); the records start
        afresh once nothing the lab made is left."""
        from .undo import reset

        self.captures.stop_all()
        return reset(self)

    def undo(self, n: int = 1, save: bool = True) -> "Undone":
        """Undo the last n steps that changed the lab, newest first."""
        from .undo import undo

        return undo(self, n, save)


def events(produced: Any) -> Iterable[Any]:
    """What a handler returned, as a sequence of events (None, one, a list or a generator)."""
    if produced is None:
        return ()
    if isinstance(produced, (list, tuple)):
        return produced
    if hasattr(produced, "__next__"):
        return produced
    return (produced,)


def no_context(ns: str) -> str:
    from ..lang.parser import suggest

    hint = suggest(ns) if not ns[:1].isdigit() else ""
    if hint.startswith("; did"):
        return f"unknown command or namespace {ns!r}{hint}"
    return f"no namespace {ns!r}"


def _fresh_root() -> int:
    """A new network namespace to be this lab's `host`; the thread goes back afterwards."""
    back = sysns.current_netns_fd()
    try:
        sysns.unshare(sysns.CLONE_NEWNET)
        fd = sysns.current_netns_fd()
    finally:
        sysns.setns(back)
        os.close(back)
    return fd


def _lo_up(fd: int) -> None:
    from ..kernel.rtnl import open_in

    nl = open_in(fd)
    try:
        nl.set_link(1, up=True)
    finally:
        nl.close()
