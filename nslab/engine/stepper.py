"""Teaching replay: a .lab file one step at a time (`nslab run --step`, `source` in the REPL).

First the lab's title.  Before each step: its section, its narration, the line and its
iproute2 form (what a lab-changing step would run, planned against the lab as it stands;
what a probe, a program or a goal is in plain iproute2 and iputils).  Then a key: Enter
runs it, `s` skips it, `q` stops, `c` runs the rest without asking, still showing each
section and narration as it comes.  A section's consecutive `expect` lines are one stop:
shown together, run on one Enter.  After each step: what it changed and the exact iproute2
lines it ran.  The keys come from an `ask` function, so the face reads the terminal and the
tests feed a list.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any

from ..base.environment import Ask
from ..base.results import ExpectResult, Failure, Message
from ..kernel.netns import HOST

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


def _in_ns(ns: str, words: list[str]) -> str:
    return shlex.join(words if ns == HOST else ["ip", "netns", "exec", ns, *words])


def _check_text(ok: bool, line: str) -> str:
    """An exported check (`has_match RE CMD...`) as a reader would type it: `CMD | grep -E RE`."""
    words = shlex.split(line)
    if words[:1] == ["has_match"] and len(words) > 2:
        line = f"{shlex.join(words[2:])} | grep -E {shlex.quote(words[1])}"
    return line if ok else f"! {line}"


def ip_form(lab: Any, cmd: Any) -> list[str]:
    """The iproute2 form of any step: a lab-changing one's planned lines; a probe, program or goal
    as iputils ping, `ip netns exec` or the `ip ... show` that checks it (as `export sh` writes it)."""
    if cmd.spec.journal:
        return ip_preview(lab, cmd)
    from .export import expect_checks

    ns = cmd.prefix or lab.context
    if cmd.name == "expect":
        checks = expect_checks(ns, cmd.form.handler, cmd.values)
        return list(dict.fromkeys(_check_text(ok, line) for ok, line in checks))
    if cmd.name == "ping":
        words = shlex.split(cmd.text)
        return [_in_ns(ns, words[words.index("ping"):])]
    if cmd.name == "exec":
        argv = list(cmd.values.get("argv", []))
        if cmd.prefix is None and argv and lab.nss.exists(argv[0]) and len(argv) > 1:
            ns, argv = argv[0], argv[1:]  # `exec NS PROG...`
        return [_in_ns(ns, argv)] if argv else []
    if cmd.name in ("shell", "enter"):
        target = cmd.values.get("ns") or ns
        return [_in_ns(target, ["bash"])]
    return []


def _header(cmd: Any, section: str | None) -> list[Message]:
    out: list[Message] = []
    if cmd.section and cmd.section != section:
        out.append(Message(f"## {cmd.section}", "ok"))
    return out + [Message(f"  {line}") for line in cmd.narration]


def preview(lab: Any, cmd: Any, section: str | None) -> list[Message]:
    out = _header(cmd, section)
    out.append(Message(f"» {cmd.text.strip()}"))
    out += [Message(f"  iproute2: {line}", "dim") for line in ip_form(lab, cmd)]
    return out


def _group(commands: list[Any], i: int) -> list[Any]:
    """The step at i, or the run of `expect` lines of one section that starts there: one stop."""
    first = commands[i]
    if first.name != "expect":
        return [first]
    end = i + 1
    while end < len(commands) and commands[end].name == "expect" and commands[end].section == first.section \
            and commands[end].title == first.title:
        end += 1
    return commands[i:end]


def replay(lab: Any, commands: list[Any], ask: Ask) -> Iterator[Any]:
    """Run commands one by one (a section's expects together) as the keys say; yields the events
    to render.  Stops at the first failed step, like a plain run."""
    section: str | None = None
    title: str | None = None
    ask_each = True
    ran = skipped = 0
    i = 0
    while i < len(commands):
        group = _group(commands, i)
        if group[0].title and group[0].title != title:
            title = group[0].title
            yield Message(f"# {title}", "ok")
        if ask_each:
            shown = section
            for cmd in group:
                yield from preview(lab, cmd, shown)
                shown = cmd.section
            key = ask(PROMPT).strip().lower()
            if key == "q":
                yield Message(f"stopped before step {i + 1} of {len(commands)}", "warn")
                break
            if key == "s":
                skipped += len(group)
                section = group[-1].section
                i += len(group)
                yield Message("skipped", "dim")
                continue
            ask_each = key != "c"
            shown_now = True
        else:
            shown_now = False
        failed = False
        for cmd in group:
            if not shown_now:  # after `c`: the lesson goes on, its words still shown
                yield from _header(cmd, section)
                yield Message(f"» {cmd.text.strip()}")
            section = cmd.section
            for event in lab.stream(cmd):
                failed = failed or isinstance(event, Failure)
                yield event
            ran += 1
            step = lab.last
            if step is not None and step.ip:
                yield Message("  ran: " + " ; ".join(step.ip), "dim")
            if failed:
                break
        i += len(group)
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
