"""Journal commands: history, save, export, undo, reset, source, help (check: goals.py)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from ..base.errors import CommandError
from ..base.results import Failure, Message, SourceFile, Table
from ..base.words import count
from ..engine import needs
from ..engine.context import Ctx
from ..kernel.netns import HOST
from ..lang import commands
from ..lang.exercise import exercise_of
from ..lang.labfile import LabFileError, parse_file
from ..ops.change_words import BY_PROGRAM, undid


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


def save(ctx: Ctx, file: str, expects: bool = False) -> list[Message]:
    """Only what replays in a fresh lab (the dry run judges each line first: nslab/engine/savefile.py);
    what was left out is said, with why."""
    from ..engine.savefile import save_text  # it runs the dry run: only when a file is saved

    saved = save_text(ctx.lab.journal.steps, ctx.lab.handlers, expects=expects)
    _write(file, saved.text)
    n = saved.steps
    out = [Message(f"left out of {file}: {why}", "warn") for why in saved.left_out]
    return [*out, Message(f"saved {count(n, 'step')} to {file}"
                          + (f" ({len(saved.left_out)} left out: it replays without them)" if saved.left_out else ""), "ok")]


def export_sh(ctx: Ctx, file: str, teardown: bool = False) -> Message:
    from ..engine.export import sh_text  # the exporter (and its bash) only when a script is written

    _write(file, sh_text(ctx.lab.journal.steps, teardown, namespaces=_alive(ctx)), 0o755)
    return Message(f"wrote {'teardown' if teardown else 'build'} script {file}", "ok")


def _picture(ctx: Ctx, file: str, kind: str) -> Message:
    from ..engine import pictures  # the drawing only when a picture is written
    from ..engine.topology import topology
    from .look import show

    drawn = topology(show(ctx).namespaces, ctx.ns)
    text = {"dot": pictures.dot_text, "mermaid": pictures.mermaid_text, "svg": pictures.svg_text}[kind](drawn)
    _write(file, text)
    return Message(f"wrote {kind} picture {file} ({count(len(drawn.namespaces), 'namespace')}, "
                   f"{count(len(drawn.cables), 'cable')})", "ok")


def export_dot(ctx: Ctx, file: str) -> Message:
    return _picture(ctx, file, "dot")


def export_mermaid(ctx: Ctx, file: str) -> Message:
    return _picture(ctx, file, "mermaid")


def show_svg(ctx: Ctx, file: str) -> Message:
    return _picture(ctx, file, "svg")


def _passed_over(ctx: Ctx, done: list[Any], everything: bool = False) -> list[Message]:
    """Programs run since the oldest step undone that changed the lab (the session read their
    namespace before and after): their changes stay, and undo says so.  A program that changed
    nothing there (`ip -br a`, a ping) is passed over in silence."""
    steps = ctx.lab.journal.steps
    since = 0 if everything or not done else min(s.n for s in done)
    return [Message(f"cannot be undone: step {s.n} `{s.text}`, a program that changed the lab ({'; '.join(c.removesuffix(BY_PROGRAM) for c in s.changed)}); "
                    "nslab does not record what a program does", "warn")
            for s in steps if s.n > since and s.changed]


def _undo_report(done: Any) -> list[Message]:
    return ([Message(m, "warn") for m in done.skipped] + [Message(m, "error") for m in done.problems]
            + [Message(f"still there: {', '.join(done.left)}; nslab --host clean removes it", "error")] * bool(done.left))


def _undid(step: Any) -> Message:
    said = undid(step.inverse)
    return Message(f"undid step {step.n}: {step.text}" + (f" ({said})" if said else ""), "ok")


def undo(ctx: Ctx, n: int = 1) -> list[Message]:
    done = ctx.lab.undo(n)
    if not done:
        return [*_passed_over(ctx, done.steps, everything=True), Message("nothing to undo", "warn")]
    return [*_passed_over(ctx, done.steps), *_undo_report(done), *(_undid(s) for s in done)]


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
    # an exercise (a `## Goals` section): its setup runs, then it is the open one, as `nslab run -i`
    exercise = None if ctx.dry else exercise_of(real, lab_file.commands, file)
    if exercise is not None:
        from .goals import Opened

        return SourceFile(real, exercise.setup, Opened(exercise))
    return SourceFile(real, lab_file.commands)


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
