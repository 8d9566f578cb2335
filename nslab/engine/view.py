"""How handlers read the lab: one view, two backends.

`KernelView` reads the live lab over netlink (single-object lookups, as before);
`ModelView` reads a `LabState` (nslab/kernel/labstate.py) that the ops' model effects change.
The handlers are written once against this view, so `--dry-run` is the real handlers
over the model and says what the real run would say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..base.errors import CommandError, GoneError
from ..kernel import inventory
from ..kernel.inventory import Link, Route
from ..kernel.netns import HOST
from ..ops.model import link_of

if TYPE_CHECKING:
    from ..kernel.labstate import LabState
    from ..kernel.netns import Namespaces


class View(Protocol):
    def exists(self, ns: str) -> bool: ...
    def require(self, ns: str) -> None: ...  # raises "no namespace" when it does not exist
    def names(self) -> list[str]: ...  # the named namespaces (not the lab's host)
    def slot(self, ns: str) -> int: ...  # its place in the pictures: the order the lab first had it
    def has(self, ns: str, name: str) -> bool: ...
    def link(self, ns: str, name: str, with_addrs: bool = True) -> Link | None: ...
    def master(self, ns: str, name: str) -> str | None: ...  # the bridge it is a port of (no peer lookup)
    def links(self, ns: str, with_addrs: bool = True) -> list[Link]: ...
    def routes(self, ns: str) -> list[Route]: ...
    def link_local(self, ns: str) -> dict[str, list[str]]: ...  # IPv6 fe80:: by interface (the kernel's own)
    def lab_links(self, names: list[str] | None = None, peers: bool = True) -> dict[str, list[Link]]: ...
    def is_link(self, ns: str) -> bool: ...  # a name `ns link` gave another process's namespace
    def gone(self, ns: str) -> str | None: ...  # why a linked name's process has stopped, or None
    def fd(self, ns: str) -> int: ...  # a descriptor on the namespace, to run a program or a probe in
    def shaping(self, ns: str) -> dict[str, dict[str, Any]]: ...  # root qdiscs set, by interface (not defaults)
    def flapping(self, ns: str) -> dict[str, str]: ...  # links flapping in the background, in words


class KernelView:
    def __init__(self, nss: "Namespaces") -> None:
        self.nss = nss

    def exists(self, ns: str) -> bool:
        return self.nss.exists(ns)

    def require(self, ns: str) -> None:
        self.nss.get(ns)

    def names(self) -> list[str]:
        return self.nss.names()

    def slot(self, ns: str) -> int:
        return self.nss.slot(ns)

    def has(self, ns: str, name: str) -> bool:
        return self.nss.get(ns).nl.index(name) is not None

    def link(self, ns: str, name: str, with_addrs: bool = True) -> Link | None:
        return inventory.find(self.nss, ns, name, with_addrs=with_addrs)

    def master(self, ns: str, name: str) -> str | None:
        nl = self.nss.get(ns).nl
        msg = nl.latest(name)  # a master is announced as it changes, a veth's too (kernel/watch.py)
        found = nl.link(index=msg.master) if msg is not None and msg.master else None
        return found.name if found is not None else None

    def links(self, ns: str, with_addrs: bool = True) -> list[Link]:
        return inventory.links(self.nss.get(ns), with_addrs=with_addrs)

    def routes(self, ns: str) -> list[Route]:
        return inventory.routes(self.nss.get(ns))

    def link_local(self, ns: str) -> dict[str, list[str]]:
        return inventory.link_local(self.nss.get(ns))

    def lab_links(self, names: list[str] | None = None, peers: bool = True) -> dict[str, list[Link]]:
        return inventory.lab_links(self.nss, names, peers)

    def is_link(self, ns: str) -> bool:
        from ..ops.container_ops import is_link

        return is_link(self.nss, ns)

    def gone(self, ns: str) -> str | None:
        return self.nss.gone(ns)

    def fd(self, ns: str) -> int:
        return self.nss.get(ns).fd

    def shaping(self, ns: str) -> dict[str, dict[str, Any]]:
        from ..kernel import tc
        from ..ops.shaping_spec import carried

        nl = self.nss.get(ns).nl
        out = {}
        for q in tc.qdiscs(nl):  # one dump; a name looked up only for an interface that carries one
            link = nl.link(index=q.index) if tc.root([q], q.index) is not None else None
            if link is not None:
                out[link.name] = carried(q.kind, q.options)
        return out

    def flapping(self, ns: str) -> dict[str, str]:
        return {name: flap.describe() for (where, name), flap in self.nss.flaps.by_ep.items() if where == ns}


class ModelView:
    def __init__(self, state: "LabState") -> None:
        self.state = state

    def exists(self, ns: str) -> bool:
        return ns in self.state.nss

    def require(self, ns: str) -> None:
        if ns not in self.state.nss:
            raise CommandError(f"no namespace {ns!r}")

    def names(self) -> list[str]:
        return sorted(n for n in self.state.nss if n != HOST)

    def slot(self, ns: str) -> int:
        return list(self.state.nss).index(ns) if ns in self.state.nss else len(self.state.nss)  # the model's order

    def has(self, ns: str, name: str) -> bool:
        return self.link(ns, name) is not None

    def link(self, ns: str, name: str, with_addrs: bool = True) -> Link | None:
        try:
            return link_of(self.state, ns, name)  # as the ops' effects find it (a container's: on trust)
        except GoneError:
            return None

    def master(self, ns: str, name: str) -> str | None:
        link = self.link(ns, name)
        return link.master if link is not None else None

    def links(self, ns: str, with_addrs: bool = True) -> list[Link]:
        self.require(ns)
        return list(self.state.nss[ns].links.values())

    def routes(self, ns: str) -> list[Route]:
        self.require(ns)
        return list(self.state.nss[ns].routes)

    def link_local(self, ns: str) -> dict[str, list[str]]:
        self.require(ns)
        return {}  # made by the kernel from a MAC the model cannot know

    def lab_links(self, names: list[str] | None = None, peers: bool = True) -> dict[str, list[Link]]:
        return {n: self.links(n) for n in (names if names is not None else [HOST, *self.names()])}

    def is_link(self, ns: str) -> bool:
        return ns in self.state.nss and self.state.nss[ns].opaque

    def gone(self, ns: str) -> str | None:
        return None  # the model takes a linked process on trust

    def fd(self, ns: str) -> int:
        raise CommandError("a dry run touches no namespace")

    def shaping(self, ns: str) -> dict[str, dict[str, Any]]:
        self.require(ns)
        return dict(self.state.nss[ns].shaping)

    def flapping(self, ns: str) -> dict[str, str]:
        self.require(ns)
        return {name: "flapping" for name in sorted(self.state.nss[ns].flaps)}
