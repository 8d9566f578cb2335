"""Lines that come from another thread (a background capture's) while the REPL waits at its prompt:
gathered, and printed above the prompt in one go on the prompt's own loop (prompt_toolkit's
run_in_terminal), so a burst of packets redraws the prompt once, not once a line.  With no prompt
waiting (a step is running) they go straight to the renderer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class AbovePrompt:
    def __init__(self, app: Callable[[], Any], out: Callable[[], Any]) -> None:
        self.app = app  # the prompt's Application, read as each line comes
        self.out = out  # the renderer
        self.lock = threading.Lock()
        self.queued: list[Any] = []

    def __call__(self, event: Any) -> None:
        app = self.app()
        loop = getattr(app, "loop", None)
        if app.is_running and loop is not None:
            with self.lock:
                self.queued.append(event)
                first = len(self.queued) == 1
            if not first:
                return  # a drain is on its way: it takes this one too
            try:
                loop.call_soon_threadsafe(self._drain)
                return
            except RuntimeError:  # the loop has closed: the prompt returned meanwhile
                pass
        self._flush()
        self.out()(event)

    def _take(self) -> list[Any]:
        with self.lock:
            events, self.queued = self.queued, []
        return events

    def _flush(self) -> None:
        out = self.out()
        for event in self._take():
            out(event)

    def _drain(self) -> None:
        if not self.app().is_running:
            self._flush()
            return
        from prompt_toolkit.application import run_in_terminal

        run_in_terminal(self._flush)
