"""After a step: wait for what the kernel finishes after a request returns.

Veth ends whose namespace was deleted go a little later; and a link that has
carrier (IFF_LOWER_UP) turns operationally UP only when the kernel's linkwatch
runs, which for a veth whose index equals its peer's, or a bridge, may be up to a
second later. Until then its queue drops packets, so a ping right after `link up`
would lose its first echo.
"""

from __future__ import annotations

import select
import time
from typing import TYPE_CHECKING

from ..kernel.nlmsg import IFF_LOWER_UP, IFF_UP

if TYPE_CHECKING:
    from ..kernel.nlmsg import LinkMsg
    from .apply import Kernel


def settle(kernel: "Kernel", timeout: float = 2.0) -> None:
    _carrier(kernel, 1.5)
    deadline = time.monotonic() + timeout
    pending = set(kernel.gone)
    kernel.gone.clear()
    while pending and time.monotonic() < deadline:
        left: set[tuple[str, str]] = set()
        for ns in {ns for ns, _ in pending}:
            if not kernel.nss.exists(ns):
                continue
            names = {link.name for link in kernel.nss.get(ns).nl.links()}  # one dump, not a lookup each
            left |= {(n, name) for n, name in pending if n == ns and name in names}
        pending = left
        if pending:
            time.sleep(0.002)


def _carrier(kernel: "Kernel", timeout: float) -> None:
    raised = set(kernel.raised)
    kernel.raised.clear()
    # a veth has carrier on both ends or on neither (veth_open and veth_close set both): when
    # the end brought up has none, its peer has none either and is not read (one request, not two)
    watch: set[tuple[str, str]] = set()
    # peers whose carrier came on with their end's: announced only once linkwatch has run
    # (kernel/watch.py), so their own flags may not say so yet
    carried: set[tuple[str, str]] = set()
    for x in raised:
        link = _link(kernel, *x)
        peer = kernel.pairs.get(x)
        if _pending(link):
            watch.add(x)
        if peer is not None and peer not in raised and (link is None or link.kind != "veth" or link.flags & IFF_LOWER_UP):
            watch.add(peer)
            if link is not None and link.kind == "veth":
                carried.add(peer)
    start = time.monotonic()
    deadline = start + timeout
    asked: set[tuple[str, str]] = set()
    while watch and time.monotonic() < deadline:
        # linkwatch runs an urgent event soon (a work item) and batches the others (a veth whose
        # index equals its peer's, a bridge) up to a second; a read of the link runs its event
        # there and then, so a link the watch says is pending is read, once: one request is
        # cheaper than waiting long for the work item, which mostly comes within a millisecond
        late = time.monotonic() - start >= GRACE
        watch = {x for x in watch if _pending(_link(kernel, *x, ask=late and x not in asked), x in carried)}
        if late:
            asked |= watch
        if watch:
            _wait(kernel, watch, min(0.005, max(0.0, deadline - time.monotonic())))


def _wait(kernel: "Kernel", links: set[tuple[str, str]], most: float) -> None:
    """Until a namespace of these links announces something (linkwatch has run), or `most` s."""
    socks = {ns: w for ns, _ in links if kernel.nss.exists(ns) and (w := kernel.nss.get(ns).nl.watch) is not None}
    if socks:
        poller = select.poll()  # not select(): a big lab's descriptors pass FD_SETSIZE (1024)
        for w in socks.values():
            poller.register(w, select.POLLIN)
        poller.poll(most * 1000)
    else:
        time.sleep(most)


GRACE = 0.001  # s: how long the watch may answer alone before a pending link is read


def _link(kernel: "Kernel", ns: str, name: str, ask: bool = False) -> "LinkMsg | None":
    # as last announced (kernel/watch.py): polling a link linkwatch has not reached costs no request
    return kernel.nss.get(ns).nl.latest(name, ask) if kernel.nss.exists(ns) else None


def _pending(link: "LinkMsg | None", carried: bool = False) -> bool:
    """The link has carrier (or, carried, is up and its peer has) and linkwatch has not yet made
    it operationally UP."""
    if link is None or link.operstate in ("UP", "UNKNOWN"):
        return False
    return bool(link.flags & IFF_LOWER_UP) or (carried and bool(link.flags & IFF_UP))
