"""A link that goes down and up in the background (`link EP flap`).

The thread that toggles it never opens a socket and never enters a namespace: `setns` moves
only the calling thread, and a socket opened by a thread lands in whatever namespace that
thread is in.  So the caller (the lab's thread) opens a netlink socket of the flap's own inside
the namespace and hands it over; the thread only sends on it, by interface index (a rename
leaves the index as it was; a deleted or moved link ends the flap).  The lab's own sockets are
never shared with the thread, so nothing needs a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rtnl import Rtnl


@dataclass
class Flap:
    """A link being taken down and up in the background."""

    ns: str
    name: str
    index: int
    count: int | None  # None: until stopped
    down: float
    up: float
    nl: "Rtnl"
    was_up: bool = True  # before the flap: what stopping it puts back
    done: int = 0  # down-and-up cycles finished
    state: str = "up"  # what the link was last set to
    error: str = ""  # why the flap ended early (the link went)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"nslab-flap-{self.name}", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _set(self, up: bool) -> None:
        self.nl.set_link(self.index, up=up)
        self.state = "up" if up else "down"

    def _run(self) -> None:
        try:
            while self.count is None or self.done < self.count:
                self._set(False)
                if self._stop.wait(self.down):
                    return
                self._set(True)
                self.done += 1
                if self._stop.wait(self.up):
                    return
        except OSError as e:  # the link went away (or left the namespace): the flap ends
            self.error = str(e)

    def stop(self) -> None:
        """Stop toggling and wait for the thread; its socket closes.  The link is left as the last
        toggle set it: the caller puts it back as it was."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.nl.close()

    def describe(self) -> str:
        if not self.running:
            return f"flap ended after {self.done}" + (f" ({self.error})" if self.error else "")
        total = "" if self.count is None else f"/{self.count}"
        return f"flapping {self.done}{total} (down {self.down:g}s, up {self.up:g}s)"


class Flaps:
    """The lab's flaps, by (namespace, interface); closing the lab stops them all."""

    def __init__(self) -> None:
        self.by_ep: dict[tuple[str, str], Flap] = {}

    def get(self, ns: str, name: str) -> Flap | None:
        return self.by_ep.get((ns, name))

    def running(self, ns: str, name: str) -> bool:
        found = self.by_ep.get((ns, name))
        return found is not None and found.running

    def add(self, flap: Flap) -> None:
        self.by_ep[(flap.ns, flap.name)] = flap
        flap.start()

    def pop(self, ns: str, name: str) -> Flap | None:
        found = self.by_ep.pop((ns, name), None)
        if found is not None:
            found.stop()
        return found

    def close(self) -> None:
        for key in list(self.by_ep):
            self.pop(*key)
