"""Journal commands: history, save, export, undo, reset, source, check, help."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ..base.errors import CommandError, NslabError
from ..base.results import ExpectResult, Failure, Message, SourceFile, Table
from ..base.words import count
from ..engine import needs
from ..engine.context import Ctx
from ..engine.export import lab_text, sh_text
from ..kernel.netns import HOST
from ..lang import commands
from ..lang.labfile import LabFileError, parse_file


def history(ctx: Ctx, ip: bool = False, n: int | None = None) -> Table:
    steps = [s for s in ctx.lab.journal.steps if s is not ctx.lab.last]
    if n:
        steps = steps[-n:]
    if ip:
        rows = [[s.n, s.text + (" (undone)" if s.outcome == "undone" else ""), "\n".join(s.ip)] for s in steps if s.ip]
        return Table("history (iproute2)", ["#", "step", "iproute2"], rows, key="history")
    rows = [[s.n, s.source, s.context, s.text, round(s.duration * 1000, 1), s.outcome] for s in steps]
    return Table("history", ["#", "source", "context", "step", "ms", "outcome"], rows, key="history")


def _write(path: str, text: str, mode: int = 0o644) -> None:
    """Write a new file beside PATH (O_EXCL, 0600), fsync, give it MODE by its fd, rename it
    over PATH: a symlink planted at PATH is replaced, never followed or chmod-ed through, and
    a crash leaves the old file or the new one, never half of one."""
    fd, tmp = -1, ""
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=f".{os.path.basename(path)}.")
        with os.fdopen(fd, "w") as f:
            fd = -1  # the file object owns it now
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except OSError as e:
        if fd >= 0:
            os.close(fd)
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise CommandError(f"cannot write {path}: {e.strerror}") from None


def _alive(ctx: Ctx) -> set[str]:
    return {HOST, *ctx.view.names()}


def save(ctx: Ctx, file: str) -> Message:
    text = lab_text(ctx.lab.journal.steps, namespaces=_alive(ctx))
    _write(file, text)
    n = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    return Message(f"saved {count(n, 'step')} to {file}", "ok")


def export_sh(ctx: Ctx, file: str, teardown: bool = False) -> Message:
    _write(file, sh_text(ctx.lab.journal.steps, teardown, namespaces=_alive(ctx)), 0o755)
    return Message(f"wrote {'teardown' if teardown else 'build'} script {file}", "ok")


NOT_UNDOABLE = ("exec", "shell")  # programs: what they did is not in the journal


def _passed_over(ctx: Ctx, done: list[Any], everything: bool = False) -> list[Message]:
    """Programs run since the oldest step undone: their effects stay, and undo says so."""
    steps = ctx.lab.journal.steps
    since = 0 if everything or not done else min(s.n for s in done)
    # a program that ran, even one that failed; not a line that never started one (a typo)
    skipped = [s for s in steps if s.n > since and s.command in NOT_UNDOABLE
               and (s.outcome == "ok" or (s.outcome == "failed" and "exited with status" in (s.error or "")))]
    return [Message(f"cannot be undone, passed over: {s.text} (a program's effects are not recorded)", "warn")
            for s in skipped]


def _undo_report(done: Any) -> list[Message]:
    return ([Message(m, "warn") for m in done.skipped] + [Message(m, "error") for m in done.problems]
            + [Message(f"still there: {', '.join(done.left)}; nslab --host clean removes it", "error")] * bool(done.left))


def undo(ctx: Ctx, n: int = 1) -> list[Message]:
    done = ctx.lab.undo(n)
    if not done:
        return [*_passed_over(ctx, done.steps, everything=True), Message("nothing to undo", "warn")]
    return [*_passed_over(ctx, done.steps), *_undo_report(done), Message("undid " + "; ".join(s.text for s in done), "ok")]


def reset(ctx: Ctx) -> list[Message]:
    over = _passed_over(ctx, [], everything=True)
    done = ctx.lab.reset()
    return [*over, *_undo_report(done), Message(f"reset: undid {count(len(done), 'step')}", "ok")]


MAX_SOURCE_DEPTH = 64  # each level is a few Python frames: a deep chain would end in a RecursionError


def _chain(files: list[str]) -> str:
    """The chain of sourcing files, its middle elided: the ends say where it started and looped."""
    shown = files if len(files) <= 6 else [*files[:3], f"... {len(files) - 6} more ...", *files[-3:]]
    return " -> ".join(shown)


def _load(ctx: Ctx, file: str) -> Any:
    from ..lang.bundled import resolve_lab  # a bundled lab or exercise by name, as `nslab run` finds it

    file = resolve_lab(file)
    real = os.path.realpath(file)
    if real in ctx.sources:
        raise CommandError(f"{file} is already being sourced (a file cannot source itself)")
    if len(ctx.sources) >= MAX_SOURCE_DEPTH:
        raise CommandError(f"source nested more than {MAX_SOURCE_DEPTH} files deep, at {file}: {_chain(ctx.sources)}")
    try:
        return parse_file(file), real
    except LabFileError as e:
        first = e.errors[0]
        raise CommandError(f"{first.loc}: {first.message}") from None


def source(ctx: Ctx, file: str) -> SourceFile:
    """The session runs the file's lines, each a step of its own (Lab._source)."""
    lab_file, real = _load(ctx, file)
    if not ctx.dry and (unmet := needs.unmet(lab_file.needs, getattr(ctx.lab, "docker_host", None))):
        raise CommandError(f"{file}: " + "; ".join(f"{problem}; {fix.replace('FILE', file)}" for problem, fix in unmet)
                           + " (nothing of it ran)")
    return SourceFile(real, lab_file.commands)


def check(ctx: Ctx, file: str) -> Iterator[Any]:
    lab_file, _ = _load(ctx, file)
    if ctx.dry:  # a dry run sends no probe: the file is there and reads
        return
    rows = []
    here = ctx.lab.context  # the file's `enter`/`leave` lines move it, as they would in a run
    for cmd in lab_file.commands:
        if cmd.name in ("enter", "leave"):
            here = cmd.values["ns"] if cmd.name == "enter" else HOST
        if cmd.name != "expect":
            continue
        ns = cmd.prefix or here
        sub = replace(ctx, ns=ns, cmd=cmd)
        try:
            if not ctx.view.exists(ns):  # as a run finds it: a goal in a missing namespace is unmet
                result = ExpectResult(False, cmd.text.strip(), f"no namespace {ns}")
            else:
                result = ctx.lab.handlers[cmd.form.handler](sub, **cmd.values)
        except NslabError as e:
            result = ExpectResult(False, cmd.text.strip(), e.message)
        rows.append([cmd.loc.line, cmd.text.strip(), "pass" if result.ok else "FAIL", result.found])
    passed = sum(1 for r in rows if r[2] == "pass")
    yield Table(f"check {file}: {passed}/{len(rows)} passed", ["line", "expect", "result", "found"], rows, key="check")
    if passed != len(rows):
        yield ExpectResult(False, f"every expect of {file}", f"{len(rows) - passed} failed")


def help(ctx: Ctx, cmd: str | None = None) -> Any:  # noqa: A001 - the command's name
    if cmd is None:
        order = list(dict.fromkeys(c.group for c in commands.TABLE))  # groups together, in table order
        rows = [[c.group, c.name, c.summary] for c in sorted(commands.TABLE, key=lambda c: order.index(c.group))]
        rows += [["repl", word, what] for word, what in commands.REPL_WORDS]
        return Table("commands (help CMD for one)", ["group", "command", "what"], rows, key="help")
    spec = commands.BY_NAME.get(cmd)
    repl_word = dict(commands.REPL_WORDS).get(cmd)
    if spec is None and repl_word is not None:
        return Table(f"{cmd}: a word of the REPL", ["form", "what"], [[cmd, repl_word]], key="help")
    if spec is None:
        from ..lang.parser import suggest

        return Failure(f"no command {cmd!r}{suggest(cmd)}")
    rows = [[f.usage, f.help, f.ip] for f in spec.forms]
    out: list[Any] = [Table(f"{spec.name}: {spec.summary}", ["form", "what", "iproute2"], rows, key="help")]
    if spec.example:
        out.append(Message(f"example: {spec.example}", "dim"))
    return out
