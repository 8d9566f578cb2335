"""Teaching replay: a .lab file one step at a time (`nslab run --step`, `source` in the REPL).

Before each step: its section, its narration, the line and its iproute2
equivalent.  Then a key: Enter runs it, `s` skips it, `q` stops, `c` runs the
rest without asking.  After each step: what it changed and the exact iproute2
lines it ran.  The keys come from an `ask` function, so the face reads the
terminal and the tests feed a list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from .netns import HOST
from .results import ExpectResult, Failure, Message

PROMPT = "[Enter] run   s skip   q quit   c run the rest > "
Ask = Callable[[str], str]

# Set by an interactive face (the REPL on a terminal): then `source FILE` is a teaching replay.
ASK: Ask | None = None

# template words in the command table's iproute2 forms, and the values that fill them
_FILL = {"IF": ("ep", "dev"), "NS": ("ns",), "N": ("n", "mtu"), "NEW": ("new",), "MAC": ("mac",),
         "CIDR": ("cidr",), "DEST": ("dest",), "GW": ("gw",), "A": ("a",), "B": ("b",), "NAME": ("name",),
         "KEY": ("key",), "VALUE": ("value",), "TARGET": ("target",), "PROG": ("argv",)}


def ip_preview(cmd: Any, context: str) -> str:
    """The command table's iproute2 form with this line's values filled in (before running it;
    what a step really ran is in its journal entry afterwards)."""
    template = cmd.form.ip
    if not template:
        return ""
    ns = cmd.prefix or context

    def fill(m: re.Match[str]) -> str:
        for key in _FILL.get(m.group(0), ()):
            value = cmd.values.get(key)
            if value is None:
                continue
            if isinstance(value, list):
                return " ".join(str(v) for v in value)
            return getattr(value, "ifname", None) or str(value)
        return ns if m.group(0) == "NS" else m.group(0)

    line = re.sub(r"\b[A-Z]+\b", fill, template)
    if ns != HOST and line.startswith("ip ") and not line.startswith("ip netns") and " -n " not in line:
        line = f"ip -n {ns} " + line[3:]
    return line


def preview(cmd: Any, context: str, section: str | None) -> list[Message]:
    out: list[Message] = []
    if cmd.section and cmd.section != section:
        out.append(Message(f"## {cmd.section}", "ok"))
    out += [Message(f"  {line}") for line in cmd.narration]
    out.append(Message(f"» {cmd.text.strip()}"))
    ip = ip_preview(cmd, context)
    if ip:
        out.append(Message(f"  iproute2: {ip}", "dim"))
    return out


def replay(lab: Any, commands: list[Any], ask: Ask) -> Iterator[Any]:
    """Run commands one by one as the keys say; yields the events to render.
    Stops at the first failed step, like a plain run."""
    section: str | None = None
    ask_each = True
    ran = skipped = 0
    for i, cmd in enumerate(commands):
        if ask_each:
            yield from preview(cmd, lab.context, section)
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


def terminal_ask(prompt: str) -> str:
    """The face's key reader: a line from the terminal; end of input means quit."""
    try:
        return input(prompt)
    except EOFError:
        return "q"


def run_stepped(args: Any, commands: list[Any], out: Any, ask: Ask = terminal_ask) -> int:
    """`nslab run --step FILE`: the teaching replay on a fresh lab; exit 1 when a step failed or an expect was unmet."""
    from .cli import EXIT_FAILED, EXIT_OK, open_lab

    lab = open_lab(args)
    bad = False
    try:
        for event in replay(lab, commands, ask):
            if isinstance(event, Failure) or (isinstance(event, ExpectResult) and not event.ok):
                bad = True
            out(event)
    finally:
        lab.close()
    return EXIT_FAILED if bad else EXIT_OK
