"""Exercises: a `.lab` file with a `## Goals` section.

The file's other lines are its setup; the `expect` lines of its Goals section are its
goals, numbered from 1 in file order.  `# hint: ...` comment lines directly above a goal
are that goal's hint (several lines make one hint).  A goal is judged where the file
would run it: its line's namespace prefix, else the context the file's `enter`/`leave`
lines left, starting at host.
"""

from __future__ import annotations

from dataclasses import dataclass

from .parser import Command

GOALS_SECTION = "goals"  # `## Goals`, in any case
HOST = "host"


@dataclass(frozen=True)
class Goal:
    n: int  # 1-based, in file order
    cmd: Command
    ns: str  # the namespace it is judged in
    hint: str  # "" when the file gives none

    @property
    def text(self) -> str:
        return self.cmd.text.strip()


@dataclass(frozen=True)
class Exercise:
    path: str
    setup: list[Command]  # every line but the goals, in order
    goals: list[Goal]
    name: str = ""  # as the student named it (`exercises/01-veth-to-namespace.lab`); else the path

    @property
    def shown(self) -> str:
        return self.name or self.path


def is_goal_section(section: str | None) -> bool:
    return section is not None and section.strip().lower() == GOALS_SECTION


def hint_of(cmd: Command) -> str:
    """The `# hint:` lines of a command's narration, joined (a hint line's own
    continuation lines follow it without the `hint:` mark)."""
    lines: list[str] = []
    started = False
    for line in cmd.narration:
        if line.lower().startswith("hint:"):
            started = True
            lines.append(line[5:].strip())
        elif started:
            lines.append(line)
    return " ".join(x for x in lines if x)


def expects_in_place(commands: list[Command]) -> list[tuple[Command, str]]:
    """Every `expect` line with the namespace it is judged in (see the module's docstring)."""
    here = HOST
    found: list[tuple[Command, str]] = []
    for cmd in commands:
        if cmd.name == "enter" and cmd.prefix is None:
            here = cmd.values["ns"]
        elif cmd.name == "leave" and cmd.prefix is None:
            here = HOST
        elif cmd.name == "expect":
            found.append((cmd, cmd.prefix or here))
    return found


def exercise_of(path: str, commands: list[Command], name: str = "") -> Exercise | None:
    """The exercise a parsed file declares, or None when it has no goal."""
    placed = {id(cmd): ns for cmd, ns in expects_in_place(commands)}
    goals: list[Goal] = []
    setup: list[Command] = []
    for cmd in commands:
        if cmd.name == "expect" and is_goal_section(cmd.section):
            goals.append(Goal(len(goals) + 1, cmd, placed[id(cmd)], hint_of(cmd)))
        else:
            setup.append(cmd)
    return Exercise(path, setup, goals, name) if goals else None
