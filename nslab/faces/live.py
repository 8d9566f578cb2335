"""The REPL's watch on its lab while it waits at the prompt: changes made elsewhere (an attached
REPL, `ip` in a lab namespace) refresh the toolbar within a fraction of a second, and an attached
REPL learns that the lab's own process has ended.

All of it runs on prompt_toolkit's event loop (add_reader), on the main thread: no thread reads
a namespace's socket.  The monitor is opened as a prompt starts and closed as it returns a line,
so it never holds a namespace the lab's own step deletes (a socket keeps its namespace alive).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from ..kernel.monitor import LabMonitor

SETTLE = 0.05  # seconds: a burst of netlink events (a veth pair, a namespace's setup) is one refresh
RETRY, RETRIES = 0.1, 20  # seconds: a namespace file made and not yet mounted is looked at again


class Live:
    def __init__(self, on_change: Callable[[], None], on_end: Callable[[], None]) -> None:
        self.on_change = on_change
        self.on_end = on_end
        self.owner: int | None = None  # a pidfd on the lab's own process (an attached REPL)
        self.monitor: LabMonitor | None = None
        self.loop: Any = None
        self.watched: set[int] = set()
        self.due: Any = None
        self.retries = 0
        self.cost = 0.0  # seconds the last refresh took

    def start(self, lab: Any) -> None:
        """Called in the prompt's running loop (pre_run); LAB is None while it is being opened."""
        self.loop = asyncio.get_running_loop()
        if self.owner is not None:
            self.loop.add_reader(self.owner, self.on_end)
        if lab is not None:
            self.watch(lab)

    def opened(self, lab: Any) -> None:
        """From the thread that opened LAB while the first prompt waits: watch it from now on."""
        loop = self.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self.watch, lab)
            except RuntimeError:  # that prompt has returned: the next one watches it
                pass

    def watch(self, lab: Any) -> None:
        if self.loop is None or self.monitor is not None:
            return
        try:
            self.monitor = LabMonitor(lab.nss.host.fd, lab.nss.run_dir)
            self.monitor.open()
        except OSError:  # no live toolbar, but the prompt works: it refreshes after each step
            self.monitor = None
            return
        self._watch()

    def _watch(self) -> None:
        assert self.monitor is not None
        now = set(self.monitor.fds)
        for fd in self.watched - now:
            self.loop.remove_reader(fd)
        for fd in now - self.watched:
            self.loop.add_reader(fd, self._readable, fd)
        self.watched = now
        if self.monitor.pending and self.retries < RETRIES:  # a stray file in the directory is not waited for forever
            self.retries += 1
            self.loop.call_later(RETRY, self._resync)

    def _resync(self) -> None:
        if self.monitor is not None:
            self.monitor.sync()
            self._watch()
            self._changed()

    def _readable(self, fd: int) -> None:
        if self.monitor is None:
            return
        changed = self.monitor.handle(fd)
        if fd == self.monitor.notify:
            self.retries = 0
            self._watch()  # namespaces came or went: their sockets too
        if changed:
            self._changed()

    def _changed(self) -> None:
        if self.due is None:
            # a big lab takes a while to re-read (0.3 s for 2,000 links): a busy neighbour must
            # not keep the prompt from reading keys, so the gap grows with the cost
            self.due = self.loop.call_later(max(SETTLE, 2 * self.cost), self._fire)

    def _fire(self) -> None:
        t0 = time.perf_counter()
        self.on_change()
        self.cost = time.perf_counter() - t0
        self.due = None

    def stop(self) -> None:
        """The prompt returned: let go of every namespace before the line runs."""
        if self.loop is not None and not self.loop.is_closed():
            for fd in (*self.watched, *([self.owner] if self.owner is not None else [])):
                self.loop.remove_reader(fd)
            if self.due is not None:
                self.due.cancel()
        self.due = None
        self.watched = set()
        self.loop = None
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None

    def ended(self) -> bool:
        """Whether the lab's own process has exited (an attached REPL's pidfd is readable)."""
        if self.owner is None:
            return False
        import select

        poller = select.poll()  # not select(): past FD_SETSIZE in a lab of many namespaces
        poller.register(self.owner, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        self.stop()
        if self.owner is not None:
            os.close(self.owner)
            self.owner = None
