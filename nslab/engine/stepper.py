"""Teaching replay: a .lab file one step at a time (`nslab run --step`, `source` in the REPL).

Before each step: its section, its narration, the line and its iproute2
equivalent.  Then a key: Enter runs it, `s` skips it, `q` stops, `c` runs the
rest without asking.  After each step: what it changed and the exact iproute2
lines it ran.  The keys come from an `ask` function, so the face reads the
terminal and the tests feed a list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..base.environment import Ask
from ..base.results import ExpectResult, Failure, Message

PROMPT = "[Enter] run   s skip   q quit   c run the rest > "

def ip_preview(lab: Any, cmd: Any) -> list[str]:
    """The exact iproute2 lines the step would run, planned against the lab as it stands
    (the handler runs with its writes collected, not applied); a step that would fail says why."""
    from ..base.errors import NslabError
    from ..ops.apply import ip_lines

    try:
        return [line for op in lab.plan(cmd) for line in ip_lines(op)]
    except NslabError as e:
        return [f"(would fail: {e.message})"]


def preview(lab: Any, cmd: Any, section: str | None) -> list[Message]:
    out: list[Message] = []
    if cmd.section and cmd.section != section:
        out.append(Message(f"## {cmd.section}", "ok"))
    out += [Message(f"  {line}") for line in cmd.narration]
    out.append(Message(f"» {cmd.text.strip()}"))
    out += [Message(f"  iproute2: {line}", "dim") for line in ip_preview(lab, cmd)]
    return out


def replay(lab: Any, commands: list[Any], ask: Ask) -> Iterator[Any]:
    """Run commands one by one as the keys say; yields the events to render.
    Stops at the first failed step, like a plain run."""
    section: str | None = None
    ask_each = True
    ran = skipped = 0
    for i, cmd in enumerate(commands):
        if ask_each:
            yield from preview(lab, cmd, section)
            key = ask(PROMPT).strip().lower()
            if key == "q":
                yield Message(f"stopped before step {i + 1} of {len(commands)}", "warn")
                break
            if key == "s":
                skipped += 1
                section = cmd.section
                yield Message("skipped", "dim")
                continue
            if key == "c":
                ask_each = False
        section = cmd.section
        failed = False
        for event in lab.stream(cmd):
            failed = failed or isinstance(event, Failure)
            yield event
        ran += 1
        step = lab.last
        if ask_each and step is not None and step.ip:
            yield Message("  ran: " + " ; ".join(step.ip), "dim")
        if failed:
            break
    yield Message(f"replay: {ran} run, {skipped} skipped, {len(commands) - ran - skipped} not reached", "ok")


def run_stepped(lab: Any, commands: list[Any], out: Any, ask: Ask) -> bool:
    """`nslab run --step FILE`: the teaching replay on LAB, each event to OUT; True when a step
    failed or an expect was unmet (the caller owns the lab and the exit code)."""
    bad = False
    for event in replay(lab, commands, ask):
        if isinstance(event, Failure) or (isinstance(event, ExpectResult) and not event.ok):
            bad = True
        out(event)
    return bad
