"""What the kernel finishes after a request returns: veth ends going, links turning UP."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .netns import Namespaces


class Settling:
    """The waits of `Kernel` after a step; it fills `raised`, `pairs` and `gone` as it applies ops."""

    nss: "Namespaces"
    raised: list[tuple[str, str]]
    pairs: dict[tuple[str, str], tuple[str, str]]
    gone: list[tuple[str, str]]

    def _carrier(self, timeout: float) -> None:
        watch = set(self.raised)
        watch |= {self.pairs[x] for x in self.raised if x in self.pairs}
        self.raised.clear()
        deadline = time.monotonic() + timeout
        while watch and time.monotonic() < deadline:
            watch = {x for x in watch if self._linkwatch_pending(*x)}
            if watch:
                time.sleep(0.005)

    def _linkwatch_pending(self, ns: str, name: str) -> bool:
        from .rtnl import IFF_LOWER_UP

        if not self.nss.exists(ns):
            return False
        link = self.nss.get(ns).nl.link(name)
        return link is not None and bool(link.flags & IFF_LOWER_UP) and link.operstate not in ("UP", "UNKNOWN")

    def settle(self, timeout: float = 2.0) -> None:
        """Wait for what the kernel finishes after a request returns.

        Veth ends whose namespace was deleted go a little later; and a link that
        has carrier (IFF_LOWER_UP) turns operationally UP only when the kernel's
        linkwatch runs, which for a veth whose index equals its peer's, or a
        bridge, may be up to a second later. Until then its queue drops packets,
        so a ping right after `link up` would lose its first echo.
        """
        self._carrier(1.5)
        deadline = time.monotonic() + timeout
        pending = set(self.gone)
        self.gone.clear()
        while pending and time.monotonic() < deadline:
            left: set[tuple[str, str]] = set()
            for ns in {ns for ns, _ in pending}:
                if not self.nss.exists(ns):
                    continue
                names = {link.name for link in self.nss.get(ns).nl.links()}  # one dump, not a lookup each
                left |= {(n, name) for n, name in pending if n == ns and name in names}
            pending = left
            if pending:
                time.sleep(0.002)
