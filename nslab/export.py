"""The journal written out: a `.lab` that rebuilds the lab, and a bash script of iproute2."""

from __future__ import annotations

from .journal import Step
from .lexer import tokenize
from .netns import HOST
from .ops import ip_lines


def _with_context(step: Step) -> str:
    """The step's text, with its context written out when the REPL had `enter`ed one."""
    if step.context == HOST:
        return step.text
    first = tokenize(step.text)[0].text if step.text else ""
    return step.text if first == step.context else f"{step.context} {step.text}"


def lab_text(steps: list[Step], title: str = "") -> str:
    """Successful steps that changed the lab, with their narration and sections."""
    out = [f"# {title}"] if title else []
    section = None
    for step in steps:
        if step.outcome != "ok" or not step.changes_lab or not step.ops:
            continue
        if step.section and step.section != section:
            section = step.section
            out += ["", f"## {section}"]
        if step.narration:
            out.append("")
            out += [f"# {line}" if line else "#" for line in step.narration]
        out.append(_with_context(step))
    return "\n".join(out).strip("\n") + "\n"


HEADER = """#!/usr/bin/env bash
# Written by nslab: {what} with plain iproute2 commands.
set -euo pipefail
"""


def sh_text(steps: list[Step], teardown: bool = False) -> str:
    live = [s for s in steps if s.undoable]
    if teardown:
        out = [HEADER.format(what="removes the lab")]
        for step in reversed(live):
            out.append(f"# undo: {step.text}")
            for op in step.inverse:
                out += ip_lines(op)
        return "\n".join(out) + "\n"
    out = [HEADER.format(what="builds the lab")]
    section = None
    for step in live:
        if step.section and step.section != section:
            section = step.section
            out += ["", f"## {section}"]
        out += [f"# {line}" for line in step.narration]
        out.append(f"# nslab: {_with_context(step)}")
        out += step.ip
    return "\n".join(out) + "\n"
