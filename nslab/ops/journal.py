"""The journal: one step per command, with its effects, inverse ops and iproute2 lines."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

from . import records

Op = dict[str, Any]
KIND = "journal"


@dataclass
class Step:
    """One journal entry: a line that ran, where it came from, its ops and their inverse, and how it ended."""

    n: int
    source: str  # "repl", "api" or FILE:LINE
    text: str
    context: str
    started: float
    duration: float = 0.0
    outcome: str = "running"  # ok, failed, interrupted (Ctrl-C), unmet (an expect), undone
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
    changed: list[str] = field(default_factory=list)  # a program's changes to its namespace, in words

    @property
    def undoable(self) -> bool:
        return self.outcome == "ok" and bool(self.ops)


class Journal:
    """Steps in order.  In host mode it is also kept on disk so a later process can undo.

    Reading is lenient: a damaged line is skipped and described in `problems`
    (file:line: what was wrong), for the caller to show.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.steps: list[Step] = []
        self.next_n = 1
        self.problems: list[str] = []
        self.format = records.FORMAT  # of the file on disk; newer than ours: never written
        if path and os.path.lexists(path):
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

    def require_writable(self) -> None:
        """Raise unless this nslab may write the file (its format is one this nslab knows)."""
        if self.path and self.format > records.FORMAT:
            raise records.RecordError(records.newer_message(self.path, self.format))

    def save(self) -> None:
        if not self.path:
            return
        self.require_writable()
        records.rewrite(self.path, KIND, (vars(step) for step in self.steps))

    def append_disk(self, step: Step) -> None:
        """Record a step on disk as soon as it changed something (crash safety)."""
        if not self.path:
            return
        self.require_writable()
        fd = records.open_append(self.path, KIND)
        try:
            os.write(fd, (json.dumps(vars(step)) + "\n").encode())  # one write: whole, or cut at the tail
        finally:
            os.close(fd)

    def _load(self) -> None:
        assert self.path
        self.format, lines = records.read(self.path, KIND, self.problems)
        by_n: dict[int, Step] = {}
        for number, data in lines:
            step = _step(data, f"{self.path}:{number}", self.problems)
            if step is not None:
                by_n[step.n] = step  # a later record of the same step (after undo) replaces the earlier one
        self.steps = sorted(by_n.values(), key=lambda s: s.n)


_FIELDS = {f.name: f for f in dataclasses.fields(Step)}
_REQUIRED = [name for name, f in _FIELDS.items()
             if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
# the JSON types each field's annotation allows (a field not listed is not checked)
_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "str": (str,), "float": (int, float), "bool": (bool,), "str | None": (str, type(None)),
    "list[Op]": (list,), "list[str]": (list,),
}
_ALLOWED = {name: _TYPES[str(f.type)] for name, f in _FIELDS.items() if str(f.type) in _TYPES}


def _step(data: dict[str, Any], where: str, problems: list[str]) -> Step | None:
    """The step a journal record holds, or None (and why, in `problems`)."""
    if not data.keys() <= _FIELDS.keys():
        unknown = sorted(set(data) - set(_FIELDS))
        problems.append(f"{where}: unknown field {', '.join(map(repr, unknown))} (from another nslab version?); ignored")
        data = {k: v for k, v in data.items() if k in _FIELDS}
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        problems.append(f"{where}: a step missing field {', '.join(map(repr, missing))}; skipped")
        return None
    for name, value in data.items():
        allowed = _ALLOWED.get(name)
        if allowed and (type(value) not in allowed):  # exact JSON types: a bool is not an int here
            problems.append(f"{where}: step field {name!r} is a JSON {records.json_kind(value)}; skipped")
            return None
    for name in ("ops", "inverse"):
        why = records.ops_problem(data.get(name, []))
        if why:
            problems.append(f"{where}: step {data['n']} {name} {why}; skipped (clean still finds its objects by their tag)")
            return None
    return Step(**data)
