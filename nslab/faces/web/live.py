"""The web view's reader: a thread of its own that follows the lab through a kernel/mirror.Mirror
(its own socket, opened on this thread) and hands each new picture, and every second the links'
rates, to the server's loop.

The lab's thread only says a step ended (`follow`: a list append, and one write to a pipe per
picture, not per step).  Changes made elsewhere (`shell`, another terminal) are announced on the
mirror's socket and drawn the same way.  While a picture is due the socket is not watched: the
announcements of a burst of steps wait in its buffer and are read at once when it is drawn, and
pictures come no closer than their cost allows (BUDGET), so the lab's steps keep their pace.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ...engine.changes import namespaces_of
from ...kernel.mirror import Mirror
from .picture import Picture

GATHER = 0.003  # s: a change's other announcements (an `ip` command, a step) are waited for this long
MIN_GAP = 0.05  # s between two pictures at least (20 a second: more than a person follows)
BURST_GAP = 0.15  # s after a picture of several steps (a sourced file, a script): the lab is busy
BUDGET = 0.03  # the share of the time this thread may spend drawing (the lab's steps keep within 10%)
RATES = 1.0  # s between two readings of the counters, while a page is open


class Live:
    def __init__(self, lab: Any, post: Callable[[str, str], None], watchers: Callable[[], int]) -> None:
        self.lab = lab
        self.post = post  # (event, text) -> the server's loop: "picture" or "rates"
        self.watchers = watchers  # how many pages are open now
        self.host_fd = os.open(lab.host_ns_path, os.O_RDONLY | os.O_CLOEXEC)  # its own, not the lab's
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.steps: deque[Any] = deque()
        self.woken = False  # a wake is written and not yet taken by a picture
        self.asked: list[Future[str]] = []  # /api/lab: a picture now
        self.stopped = False
        self.burst = False  # the last picture drew several steps
        self.cost = 0.0  # s the last picture took
        self.rates_cost: list[float] = []  # s each reading of the counters took (the bench reads them)
        self.counted: dict[tuple[str, int], tuple[float, int, int]] = {}  # the last reading, by (ns, index)
        self.rated = False  # the last rates sent were not all zero
        self.text = ""
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="nslab-web-live", daemon=True)
        self.thread.start()
        self.ready.wait(10)
        if self.error is not None:
            raise self.error

    # -- other threads -----------------------------------------------------------------
    def follow(self, step: Any) -> None:
        """The lab's thread, after each step."""
        self.steps.append(step)
        if not self.woken:
            self.woken = True
            self._wake()

    def now(self) -> Future[str]:
        """A picture with everything announced so far (the server's loop, for /api/lab)."""
        f: Future[str] = Future()
        self.asked.append(f)
        self._wake()
        return f

    def stop(self) -> None:
        self.stopped = True
        self._wake()
        self.thread.join(5)
        for fd in (self.wake_r, self.wake_w, self.host_fd):
            os.close(fd)

    def _wake(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: a wake is waiting already

    # -- this thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.mirror = Mirror(self.host_fd, self.lab.nss.run_dir)
            self.picture = Picture(self.lab.nss.slots)
            self._draw()
        except BaseException as e:  # said by the constructor, on the lab's thread
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        every, woken = select.poll(), select.poll()
        for fd in (self.wake_r, *self.mirror.fds):
            every.register(fd, select.POLLIN)
        woken.register(self.wake_r, select.POLLIN)
        due: float | None = None  # when the next picture is drawn
        gap, sent, tick = MIN_GAP, 0.0, 0.0
        try:
            while not self.stopped:
                now = time.monotonic()
                reading = self.watchers() > 0
                deadlines = [d for d in (due, tick + RATES if reading else None) if d is not None]
                wait = max(0.0, min(deadlines) - now) if deadlines else None
                got = (woken if due is not None else every).poll(None if wait is None else wait * 1000)
                now = time.monotonic()
                if any(fd == self.wake_r for fd, _ in got):
                    while True:
                        try:
                            os.read(self.wake_r, 4096)
                        except BlockingIOError:
                            break
                if due is None and (got or self.steps):
                    due = max(now + GATHER, sent + gap)
                if self.stopped:
                    break
                if self.asked or (due is not None and now >= due):
                    self._draw()
                    least = BURST_GAP if self.burst else MIN_GAP
                    gap, sent, due = max(least, self.cost / BUDGET), time.monotonic(), None
                    asked, self.asked = self.asked, []
                    for f in asked:
                        f.set_result(self.text)
                if reading and now >= tick + RATES:
                    tick = now
                    self._rates()
        finally:
            self.mirror.close()
            for f in self.asked:
                f.cancel()

    def _draw(self) -> None:
        self.woken = False  # before the steps are taken: a step after this writes a wake again
        steps = []
        while self.steps:
            steps.append(self.steps.popleft())
        self.burst = len(steps) > 1
        changed = self.mirror.drain([ns for s in steps for op in s.ops for ns in namespaces_of(op)])
        t0 = time.perf_counter()
        nss = self.lab.nss
        gone = {n for n in list(nss.checks) if nss.gone(n) is not None}
        text = self.picture.text(self.mirror, changed, self.lab.context, self.lab.journal.steps, gone)
        if text != self.text:
            self.text = text
            self.post("picture", text)
        # what a picture costs, whatever it shows: reading the announcements costs the same, however
        # often it is done, and a namespace is opened once
        self.cost = time.perf_counter() - t0

    def _rates(self) -> None:
        """Bits per second in and out of every drawn interface since the last reading (non-zero ones).
        A veth's end says its peer's too (what one sends the other receives): one namespace's dump
        gives every cable of a star."""
        t0 = time.perf_counter()
        at = time.monotonic()
        before = self.counted
        counted: dict[tuple[str, int], tuple[float, int, int]] = {}
        rates: dict[str, list[int]] = {}
        for ns, index, rx, tx in self.mirror.counters(self.picture.counted()):
            counted[(ns, index)] = (at, rx, tx)
            old = before.get((ns, index))
            key = self.picture.keys.get(ns, {}).get(index)
            if old is None or key is None or at <= old[0]:
                continue
            rx_rate, tx_rate = (round(max(0, now - was) * 8 / (at - old[0])) for now, was in ((rx, old[1]), (tx, old[2])))
            if rx_rate or tx_rate:
                rates[key] = [rx_rate, tx_rate]
        self.counted = counted
        for a, b in self.picture.cables:
            for one, other in ((a, b), (b, a)):
                if one in rates and other not in rates:
                    rates[other] = rates[one][::-1]
        if rates or self.rated:  # all zero again is said once
            self.post("rates", json.dumps(rates))
        self.rated = bool(rates)
        self.rates_cost.append(time.perf_counter() - t0)
