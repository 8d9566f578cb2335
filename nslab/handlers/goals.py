"""Grading: `check` (a file's expect lines), and an opened exercise's `goals` and `hint`.

One grader judges them all, each goal where its file would run it (nslab/lang/exercise.py):
a goal whose namespace is missing is unmet, never passed.  The probes of `expect
reach`/`noreach` are aimed here, on the caller's thread (they read the lab), then sent at
once from threads of their own, so grading seven reach goals waits about one timeout, not
seven.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ..base.errors import CommandError, NslabError
from ..base.results import ExpectResult, Failure, Message, Table
from ..base.words import count
from ..engine.context import Ctx
from ..lang.exercise import Exercise, expects_in_place
from ..lang.labfile import LabFile, LabFileError, parse_file
from ..lang.parser import Command
from .expect import PROBES, aim, probe, reach_result
from .traffic import expect_perf, expect_pingall

QUICK = (1, 0.25)  # the toolbar's re-check after a step: one echo; a lab answers in well under a millisecond
NO_EXERCISE = ("no exercise is open: `nslab run -i EXERCISE.lab` opens one (`nslab labs` lists the bundled "
               "exercises); `check FILE` grades any file's expect lines")


@dataclass
class Opened:
    """The exercise `nslab run -i` opened in this lab, with its goals' last verdicts."""

    exercise: Exercise
    met: list[bool] = field(default_factory=list)  # empty until first graded

    @property
    def tally(self) -> tuple[int, int]:
        return sum(self.met), len(self.exercise.goals)


def grade(ctx: Ctx, placed: list[tuple[Command, str]], quick: bool = False) -> list[ExpectResult]:
    """The verdict on each (expect line, namespace it runs in), in order."""
    results: list[ExpectResult | None] = []
    probes: list[tuple[int, str, Ctx, str, int, str, str | None]] = []
    for i, (cmd, ns) in enumerate(placed):
        text = cmd.text.strip()
        if not ctx.view.exists(ns):  # as a run finds it: a goal in a missing namespace is unmet
            results.append(ExpectResult(False, text, f"no namespace {ns}"))
            continue
        sub = replace(ctx, ns=ns, cmd=cmd)
        handler = cmd.form.handler
        result: ExpectResult | None
        try:
            if handler in PROBES:
                target, iface = cmd.values["target"], cmd.values.get("I")
                addr, why = aim(sub, target, iface)
                if addr is None:
                    result = reach_result(handler, sub, target, None, why, iface)
                else:
                    result = None
                    probes.append((i, handler, sub, target, ctx.view.fd(ns), addr, iface))
            elif handler == "expect_pingall":  # its pairs go at once from one thread; quick: one echo each
                result = expect_pingall(sub, **cmd.values, quick=quick)
            elif handler == "expect_perf":  # quick: a 0.3 s test, not 2 s, after every step at the prompt
                result = expect_perf(sub, **cmd.values, quick=quick)
            else:
                result = ctx.lab.handlers[handler](sub, **cmd.values)
        except NslabError as e:
            result = ExpectResult(False, text, e.message)
        results.append(result)
    if probes:
        from concurrent.futures import ThreadPoolExecutor  # only when a goal sends probes: 3 ms at start-up

        with ThreadPoolExecutor(max_workers=min(8, len(probes)), thread_name_prefix="nslab-probe") as pool:
            sent = [pool.submit(probe, fd, addr, *(QUICK if quick else PROBES[handler]), iface)
                    for _, handler, _, _, fd, addr, iface in probes]
            for (i, handler, sub, target, _, _, iface), future in zip(probes, sent, strict=True):
                replied, found = future.result()
                results[i] = reach_result(handler, sub, target, replied, found, iface)
    return [r for r in results if r is not None]


def opened(lab: Any) -> Opened | None:
    return getattr(lab, "exercise", None)


def _require(ctx: Ctx) -> Opened:
    ex = opened(ctx.lab)
    if ex is None:
        raise CommandError(NO_EXERCISE)
    return ex


def regrade(ctx: Ctx, ex: Opened, quick: bool = False) -> list[ExpectResult]:
    results = grade(ctx, [(g.cmd, g.ns) for g in ex.exercise.goals], quick)
    ex.met = [r.ok for r in results]
    return results


def goals_table(ex: Opened, results: list[ExpectResult]) -> list[Any]:
    """The goals, numbered, met or not; then what to do next."""
    rows = [[g.n, g.text, "met" if r.ok else "unmet", r.found] for g, r in zip(ex.exercise.goals, results, strict=True)]
    met, n = ex.tally
    out: list[Any] = [Table(f"goals of {ex.exercise.shown}: {met}/{n} met", ["#", "goal", "status", "found"], rows, key="goals")]
    if met == n:
        out.append(Message("every goal is met: `check` grades the exercise", "ok"))
    else:
        first = next(g.n for g, ok in zip(ex.exercise.goals, ex.met, strict=True) if not ok)
        out.append(Message(f"{n - met} to go; `hint` helps with goal {first}, `hint N` with goal N", "dim"))
    return out


def goals(ctx: Ctx) -> list[Any] | None:
    if ctx.dry:
        return None  # a dry run sends no probe
    ex = _require(ctx)
    return goals_table(ex, regrade(ctx, ex))


def hint(ctx: Ctx, n: int | None = None) -> Message | None:
    if ctx.dry:
        return None
    ex = _require(ctx)
    all_goals = ex.exercise.goals
    if n is None:
        met = [r.ok for r in regrade(ctx, ex, quick=True)]
        unmet = [g for g, ok in zip(all_goals, met, strict=True) if not ok]
        if not unmet:
            return Message("every goal is met: `check` grades the exercise; `hint N` shows goal N's hint anyway", "ok")
        goal = unmet[0]
    elif n > len(all_goals):
        raise CommandError(f"no goal {n}: this exercise has goals 1 to {len(all_goals)} (`goals` lists them)")
    else:
        goal = all_goals[n - 1]
    if not goal.hint:
        return Message(f"goal {goal.n} ({goal.text}) has no hint in {ex.exercise.shown}", "warn")
    return Message(f"hint for goal {goal.n} ({goal.text}): {goal.hint}")


def _parse(file: str) -> LabFile:
    from ..lang.bundled import resolve_lab  # a bundled lab or exercise by name, as `nslab run` finds it

    return parse_file(resolve_lab(file))


def check(ctx: Ctx, file: str | None = None) -> Iterator[Any]:
    ex = opened(ctx.lab) if not ctx.dry else None
    if file is None:
        if ctx.dry:
            return
        this = _require(ctx).exercise
        read, file = this.path, this.shown
    else:
        read = file
    try:
        lab_file = _parse(read)
    except LabFileError as e:  # every error, each with its line and caret, as `run --dry-run` shows them
        for err in e.errors:
            yield Failure(err.message, str(err.loc), err.text, err.caret())
        first = e.errors[0]
        raise CommandError(f"{file}: {count(len(e.errors), 'parse error')}, the first at {first.loc}: {first.message}; "
                           "nothing graded") from None
    if ctx.dry:  # a dry run sends no probe: the file is there and reads
        return
    placed = expects_in_place(lab_file.commands)
    if not placed:  # 0/0 would read as a pass
        raise CommandError(f"{file} has no expect lines: nothing to grade")
    results = grade(ctx, placed)
    if ex is not None and lab_file.path == ex.exercise.path:  # the opened exercise: the toolbar follows
        by_line = {(cmd.loc.line, cmd.text): r.ok for (cmd, _), r in zip(placed, results, strict=True)}
        keys = [(g.cmd.loc.line, g.cmd.text) for g in ex.exercise.goals]
        if all(k in by_line for k in keys):
            ex.met = [by_line[k] for k in keys]
    rows = [[cmd.loc.line, cmd.text.strip(), "pass" if r.ok else "FAIL", r.found]
            for (cmd, _), r in zip(placed, results, strict=True)]
    passed = sum(1 for r in results if r.ok)
    yield Table(f"check {file}: {passed}/{len(rows)} passed", ["line", "expect", "result", "found"], rows, key="check")
    if passed != len(rows):
        yield ExpectResult(False, f"every expect of {file}", f"{len(rows) - passed} failed")
