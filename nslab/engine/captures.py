"""A session's background captures (`capture start`, `capture ls`, `capture stop`).

Kept apart from nslab/engine/capture.py so that a session that never captures does not import
the packet sockets, pcapng and dpkt at start-up: the first `capture start` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError
from ..base.results import CaptureCounts

if TYPE_CHECKING:
    from .capture import Background, Capture


class Captures:
    """A session's background captures.  `sink` (set by the face) takes each line as it comes; with
    none, lines are not shown (the file and the counts remain)."""

    def __init__(self) -> None:
        self.running: dict[int, Background] = {}
        self.next = 1
        self.sink: Callable[[Any], None] | None = None

    def start(self, cap: Capture) -> int:
        cap.number = self.next
        self.next += 1
        from .capture import Background

        job = Background(cap, self._emit)
        self.running[cap.number] = job
        job.start()
        return cap.number

    def _emit(self, event: Any) -> None:
        sink = self.sink  # read as each line comes: a face may set it after the capture started
        if sink is not None:
            sink(event)

    def stop(self, number: int | None = None, why: str = "capture stop") -> list[CaptureCounts]:
        if number is not None and number not in self.running:
            have = ", ".join(map(str, self.running)) or "none is running"
            raise CommandError(f"no background capture {number} ({have})")
        out = []
        for n in [number] if number is not None else list(self.running):
            job = self.running.pop(n)
            job.stopping.set()
            job.join()  # its last read is done: the file gets whole blocks only
            out.append(job.cap.counts(why if job.error is None else f"{why} (it had stopped: {job.error})"))
            job.cap.close()
        return out

    def stop_in(self, ns: str) -> None:
        """Stop the captures reading an endpoint in NS (it is being deleted); the counts go to the sink."""
        for n, job in list(self.running.items()):
            if any(t.label.rsplit(":", 1)[0] == ns for t in job.cap.taps):
                for counts in self.stop(n, f"namespace {ns} deleted"):
                    self._emit(counts)

    def stop_all(self) -> None:
        self.stop(None, "the lab's end")

    def rows(self) -> list[list[Any]]:
        rows = []
        for n, job in self.running.items():
            cap = job.cap
            rows.append([n, ", ".join(t.label for t in cap.taps), str(cap.filter) if cap.filter else "",
                         cap.path or "", cap.total, "stopped: " + job.error if job.error else "running",
                         time.strftime("%H:%M:%S", time.localtime(cap.started))])
        return rows
