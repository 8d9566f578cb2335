"""Host mode's write-ahead log: every op is written down before and after it runs.

A host lab outlives nslab, and nslab may die (`kill -9`) between two netlink
calls of one step.  The journal records whole steps; this log records each op
as it happens, so `nslab --host clean` can remove exactly what a crashed session
made, and nothing else.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from ..ops import records

KIND = "ops"
Op = dict[str, Any]


@dataclass
class Pending:
    """What the log holds for steps the journal never recorded (a crash mid-step)."""

    undo: list[Op] = field(default_factory=list)  # inverse ops of ops that ran, newest first
    unsure: list[Op] = field(default_factory=list)  # ops that started but were not seen to finish


class HostLog:
    """The op log.  Reading is lenient: damaged lines are skipped and described in `problems`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None  # kept open for the session
        self._open_step: int | None = None  # the step whose ops were logged and not yet settled
        self.problems: list[str] = []

    def require_writable(self) -> None:
        """Raise unless the log on disk is of a format this nslab knows."""
        version = records.version_of(self.path, KIND)
        if version > records.FORMAT:
            raise records.RecordError(records.newer_message(self.path, version))

    def _write(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            self.require_writable()
            self._fd = records.open_append(self.path, KIND)
        # one write(2) of the whole line reaches the page cache at once: it survives kill -9
        os.write(self._fd, (json.dumps(record) + "\n").encode())

    def intent(self, step: int, op: Op) -> None:
        self._open_step = step
        self._write({"step": step, "intent": op})

    def done(self, step: int, undo: list[Op]) -> None:
        self._write({"step": step, "undo": undo})

    def failed(self, step: int) -> None:
        """The op just logged as an intent was refused: nothing of it exists."""
        self._write({"step": step, "failed": True})

    def settled(self, step: int) -> None:
        """The step is over: in the journal, or rolled back.  Its ops are no longer pending."""
        if self._open_step == step:  # steps that changed nothing are not logged at all
            self._write({"step": step, "settled": True})
            self._open_step = None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def clear(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def last_step(self) -> int:
        """The highest step number the log mentions (0 when empty).

        Steps are numbered upwards and records appended, so the tail holds it:
        reading the last few KiB keeps opening a big host lab cheap.
        """
        try:
            with os.fdopen(records.open_nofollow(self.path, os.O_RDONLY), "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - 8192))
                tail = f.read().decode(errors="replace").splitlines()
        except FileNotFoundError:
            return 0
        last = 0
        for line in tail[1:] if len(tail) > 1 else tail:  # the first may be cut in half
            try:
                last = max(last, int(json.loads(line).get("step") or 0))
            except (json.JSONDecodeError, ValueError, AttributeError, TypeError):
                continue
        return last

    def pending(self, recorded: set[int]) -> Pending:
        """Ops of steps not in `recorded` (the journal's step numbers).

        Damaged lines (and records of a shape this nslab does not know) are skipped
        and described in `problems`; what the other lines say still counts.
        """
        out = Pending()
        version, lines = records.read(self.path, KIND, self.problems)
        if version > records.FORMAT:
            self.problems.append(records.newer_message(self.path, version))
            return out
        open_intent: dict[int, Op] = {}
        undo: dict[int, list[Op]] = {}
        for number, rec in lines:
            why = _record_problem(rec)
            if why:
                self.problems.append(f"{self.path}:{number}: {why}; skipped")
                continue
            step = int(rec["step"])
            if step in recorded:
                continue
            if "intent" in rec:
                open_intent[step] = rec["intent"]
            elif rec.get("failed"):
                open_intent.pop(step, None)  # refused by the kernel: nothing was made
            elif "undo" in rec:
                open_intent.pop(step, None)
                undo.setdefault(step, [])[:0] = rec["undo"]
            elif rec.get("settled"):
                # a failed step was rolled back; a finished one is in the journal
                open_intent.pop(step, None)
                undo.pop(step, None)
        out.unsure = list(open_intent.values())
        out.undo = [op for step in sorted(undo, reverse=True) for op in undo[step]]
        return out


def _record_problem(rec: dict[str, Any]) -> str | None:
    """Why an op log record cannot be used, or None."""
    step = rec.get("step")
    if not isinstance(step, int) or isinstance(step, bool):
        return "a record without a step number"
    if "intent" in rec:
        return records.op_problem(rec["intent"])
    if "undo" in rec:
        return records.ops_problem(rec["undo"])
    if rec.get("failed") is True or rec.get("settled") is True:
        return None
    return f"a record of unknown kind (fields {', '.join(map(repr, sorted(rec)))}; from another nslab version?)"
