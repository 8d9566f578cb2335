"""`save`: the journal as a `.lab` that replays in a fresh lab, checked by the dry run first.

The candidates, in journal order, are the steps whose effects are in the lab, every program
that ran to a zero exit (nslab cannot see what a program changed, so a rebuild runs it again,
wherever it ran), and with `expects` the goals that held.  Each candidate line is judged by the
dry run (nslab/engine/dryrun.py: the real handlers over a model of a fresh lab) after the ones
kept before it; a line a fresh lab would refuse (a namespace made by an attached REPL and deleted
here is a bare `ns del`) is left out and said, with the dry run's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..base.errors import CommandError, Loc, ParseError
from ..lang.parser import parse_line
from ..ops.journal import Step
from .dryrun import ModelLab
from .export import _with_context, kept


@dataclass
class Saved:
    text: str
    steps: int = 0
    left_out: list[str] = field(default_factory=list)  # `line` (step N): why, in words


def program_ran(step: Step) -> bool:
    """A program that ran and exited 0 (an interrupted or failed one is not replayed)."""
    return step.command == "exec" and step.outcome == "ok" and bool(step.program)


def save_text(steps: list[Step], handlers: Mapping[str, Callable[..., Any]], expects: bool = False) -> Saved:
    model = ModelLab(handlers)
    out = Saved("")
    lines: list[str] = []
    section = None
    undone_before = False
    for step in steps:
        undone_before = undone_before or step.outcome == "undone"
        goal = expects and step.command == "expect"
        if not (kept(step) or program_ran(step) or goal):
            continue
        line = _with_context(step)
        why = _goal_problem(step, undone_before) if goal else _replay_problem(model, line, step)
        if why is not None:
            out.left_out.append(f"`{line}` (step {step.n}): {why}")
            continue
        if step.section and step.section != section:
            section = step.section
            lines += ["", f"## {section}"]
        if step.narration:
            lines.append("")
            lines += [f"# {text}" if text else "#" for text in step.narration]
        lines.append(line)
        out.steps += 1
    out.text = "\n".join(lines).strip("\n") + "\n"
    return out


def _goal_problem(step: Step, undone_before: bool) -> str | None:
    if step.outcome != "ok":
        return "it did not hold when it was typed"
    if undone_before:  # as `export sh` decides: what it asserted may have been undone
        return "a step before it was undone since, so it may no longer hold"
    return None


def _replay_problem(model: ModelLab, line: str, step: Step) -> str | None:
    """Why a fresh lab, after the lines kept so far, would refuse LINE (None: it replays)."""
    try:
        cmd = parse_line(line, Loc("save", step.n, 1))
    except ParseError as e:
        return e.message
    if cmd is None:
        return "it is empty"
    try:
        model.run(cmd)
    except CommandError as e:
        return f"a fresh lab would refuse it: {e.message}"
    return None
