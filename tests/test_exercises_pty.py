"""The bundled exercises from the student's side, in a real pseudo-terminal: `nslab run -i`
opens the shell with the goals listed unmet, typing the solution's lines turns them met
(`goals` and the toolbar say so), `hint` teaches, `check` passes, and leaving leaves nothing."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import ROOT
from test_repl_pty import Terminal

from nslab.kernel import isolate
from nslab.lang.exercise import exercise_of
from nslab.lang.labfile import parse_file

EX = ROOT / "nslab" / "labs" / "exercises"
EXERCISES = sorted(p for p in EX.glob("*.lab") if not p.name.endswith(".solution.lab"))


class ExerciseTerminal(Terminal):
    """`python -m nslab ARGS...` on a pty (Terminal runs the bare REPL)."""

    def __init__(self, tmp: str, *args: str) -> None:  # noqa: D107 - Terminal's, with the arguments
        self.env = dict(os.environ, TERM="xterm", XDG_STATE_HOME=tmp, NSLAB_RUNTIME_DIR=tmp, SHELL="/bin/sh",
                        COLUMNS="160", LINES="50")
        self.env.pop(isolate.MARK, None)
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        os.set_blocking(self.master, False)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "nslab", *args], stdin=slave, stdout=slave, stderr=slave,
                                     env=self.env, cwd=ROOT, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.screen = b""

    def run(self, line: str, timeout: float = 20.0) -> str:
        """Type LINE and Enter; its outcome, as `history 1` (the step before it) reports it."""
        self.type(line + "\r")
        self.wait_for(re.escape(line) + r"[\s\S]*nslab(\([^)]*\))?>", timeout)
        self.type("history 1\r")
        self.wait_for(re.escape(line) + r"\s*│\s*[\d.]+\s*│\s*\w+", timeout)
        return re.findall(re.escape(line) + r"\s*│\s*[\d.]+\s*│\s*(\w+)", self.text())[-1]

    def met(self, n: int, line: str = "goals") -> int:
        """How many of the N goals `goals` finds met now."""
        self.type(line + "\r")
        self.wait_for(rf"goals of \S+:\s+\d+/{n} met[\s\S]*(to go|every goal is met)", 30)
        return int(re.findall(rf"goals of \S+:\s+(\d+)/{n} met", self.text())[-1])


def words(text: str) -> str:
    """A regex for TEXT on the screen, where a line may wrap between any two words."""
    return r"\s+".join(re.escape(w) for w in text.split())


def solution_lines(exercise: Path) -> list[str]:
    setup = [c for c in parse_file(exercise).commands if c.name != "expect"]
    solution = parse_file(exercise.with_name(exercise.stem + ".solution.lab")).commands
    return [c.text.strip() for c in solution[len(setup):] if c.name != "expect"]


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.stem)
def test_a_student_works_an_exercise(tmp_path, exercise: Path):
    ex = exercise_of(str(exercise), parse_file(exercise).commands)
    assert ex is not None
    n = len(ex.goals)
    term = ExerciseTerminal(str(tmp_path), "run", "-i", f"exercises/{exercise.name}")  # as the file says to type it
    try:
        # the setup ran, the goals are listed, and the shell is open
        term.wait_for(rf"goals of exercises/{exercise.name}:\s+\d+/{n} met[\s\S]*unmet[\s\S]*nslab>", 30)
        first = int(re.findall(rf"(\d+)/{n} met", term.text())[0])
        assert first < n
        assert term.met(n) == first
        first_unmet = int(re.findall(r"│\s*(\d+)\s*│[^│\n]*│\s*unmet\s*│", term.text())[0])
        term.wait_for(rf"goals {first}/{n}")  # the toolbar
        # `hint`: the first unmet goal's hint, as the file writes it
        term.type("hint\r")
        term.wait_for(r"hint for goal \d+ \(([^)]*)\): ")
        number = int(re.findall(r"hint for goal (\d+)", term.text())[-1])
        assert number == first_unmet
        term.wait_for(words(ex.goals[number - 1].hint))  # the whole hint, as the file writes it
        term.type("hint 1\r")
        term.wait_for(rf"hint for goal 1 \({re.escape(ex.goals[0].text)}\):\s+{words(ex.goals[0].hint)}")
        term.type(f"hint {n + 1}\r")
        term.wait_for(rf"no goal {n + 1}: this exercise has goals 1 to {n}")
        # the solution, typed line by line; `goals` now and then
        lines = solution_lines(exercise)
        seen = [first]
        for i, line in enumerate(lines, 1):
            assert term.run(line) == "ok", term.text()
            if i % 3 == 0 and i < len(lines):
                seen.append(term.met(n))
        term.wait_for(rf"goals {n}/{n}")  # the toolbar, re-checked after the last line with no `goals` typed
        seen.append(term.met(n))
        assert seen[-1] == n, seen
        assert any(first < k < n for k in seen), seen  # met one by one, not all at the last line
        term.type("check\r")
        term.wait_for(rf"check exercises/{exercise.name}:\s+{n}/{n} passed")
        record = tmp_path / f"{term.proc.pid}.json"
        assert record.exists()  # the lab is published for `nslab attach` while it runs
        term.type("exit\r")
        term.wait_for(r"leave\? \[y/N\]")
        term.type("y\r")
        assert term.proc.wait(timeout=15) == 0
    finally:
        term.close()
    assert not record.exists()
    gone = subprocess.run([sys.executable, "-m", "nslab", "attach", "host", "--", "true"], capture_output=True,
                          text=True, env=term.env, cwd=ROOT, timeout=30)
    assert gone.returncode == 2 and "no running isolated lab" in gone.stderr, gone.stderr
