"""The journal: one step per command, with its effects, inverse ops and iproute2 lines."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

Op = dict[str, Any]


@dataclass
class Step:
    n: int
    source: str  # "repl", "api" or FILE:LINE
    text: str
    context: str
    started: float
    duration: float = 0.0
    outcome: str = "running"  # ok, failed, unmet (an expect), undone
    error: str | None = None
    ops: list[Op] = field(default_factory=list)
    inverse: list[Op] = field(default_factory=list)  # applied in order to undo the step
    ip: list[str] = field(default_factory=list)
    narration: list[str] = field(default_factory=list)
    section: str | None = None
    changes_lab: bool = True  # False for read-only commands (ping, show, expect...)
    command: str = ""
    program: list[str] = field(default_factory=list)  # `exec`: the argv it ran, and where
    program_ns: str | None = None

    @property
    def undoable(self) -> bool:
        return self.outcome == "ok" and bool(self.ops)


class Journal:
    """Steps in order.  In host mode it is also kept on disk so a later process can undo."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.steps: list[Step] = []
        self.next_n = 1
        if path and os.path.exists(path):
            self._load()

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.steps)

    def new(self, **kw: Any) -> Step:
        # numbers are never reused: on disk only steps that changed something are kept,
        # and the op log may hold the number of a step that never finished
        self.next_n = max(self.next_n, (self.steps[-1].n + 1) if self.steps else 1)
        step = Step(n=self.next_n, **kw)
        self.next_n += 1
        self.steps.append(step)
        return step

    def live(self) -> list[Step]:
        """Steps whose effects are still in the lab."""
        return [s for s in self.steps if s.undoable]

    def save(self) -> None:
        if not self.path:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            for step in self.steps:
                f.write(json.dumps(vars(step)) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def append_disk(self, step: Step) -> None:
        """Record a step on disk as soon as it changed something (crash safety)."""
        if not self.path:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(vars(step)) + "\n")

    def _load(self) -> None:
        with open(self.path) as f:  # type: ignore[arg-type]
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash
                step = Step(**data)
                # a later record of the same step (after undo) replaces the earlier one
                if self.steps and self.steps[-1].n >= step.n:
                    self.steps = [s for s in self.steps if s.n != step.n]
                self.steps.append(step)
        self.steps.sort(key=lambda s: s.n)
