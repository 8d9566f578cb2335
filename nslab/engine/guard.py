"""The guard: nslab changes only what its lab made, decided by identity, never by a name.

A namespace is the lab's when the lab made it and its inode is still the one it made
(host mode), or when it lives inside an isolated lab and is neither the machine's own
namespace nor one the lab only links to. A namespace linked with `ns link` (a container,
any process, maybe the machine's root) is the lab's to read; of it the lab may change
only interfaces it created there, known by (namespace inode, ifindex).
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError, NoInterfaceError
from ..kernel import inventory
from ..kernel.netns import HOST
from ..ops.apply import ep
from . import egress

if TYPE_CHECKING:
    from .session import Session as Lab

WAY_OUT = "run with --allow-host-changes to do it anyway"
_LEGACY = -1  # a namespace recorded by an nslab that wrote no inode: known by its name only


def machine_namespaces() -> set[int]:
    """Inodes of the machine's own network namespace: the one nslab started in, and init's."""
    from ..kernel.isolate import OUTER

    out = set()
    if os.environ.get(OUTER, "").isdigit():
        out.add(int(os.environ[OUTER]))
    try:
        out.add(os.stat("/proc/1/ns/net").st_ino)
    except OSError:
        pass  # an unprivileged user cannot read init's namespace
    return out


class Guard:
    def __init__(self, lab: "Lab") -> None:
        self.lab = lab
        # what the journal's live steps made, kept up to date step by step: reading the whole
        # journal at every check made a 1000-namespace host replay quadratic
        self._made: dict[str, int] = {}  # namespace name -> inode it had when the lab made it
        self._ifaces: set[tuple[int, int]] = set()  # (namespace inode, ifindex) of interfaces it created
        self._ovs: set[str] = set()  # Open vSwitch bridges it made
        self._upto = 0
        self._epoch = -1
        self._machine = machine_namespaces()

    def _refresh(self) -> None:
        steps = self.lab.journal.steps
        if self._epoch != self.lab.undo_epoch or self._upto > len(steps):
            self._made, self._ifaces, self._ovs = {}, set(), set()
            self._upto, self._epoch = 0, self.lab.undo_epoch
        while self._upto < len(steps) and steps[self._upto].outcome != "running":
            step = steps[self._upto]
            if step.undoable:
                for op in step.ops:
                    kind = op["op"]
                    if kind == "ns_add":
                        self._made[op["ns"]] = op.get("ino", _LEGACY)
                    elif kind in ("ns_del", "ns_unlink"):
                        self._made.pop(op["ns"], None)
                    elif kind == "ovs_br_add":
                        self._ovs.add(op["name"])
                    elif kind == "ovs_br_del":
                        self._ovs.discard(op["name"])
                    self._ifaces.update((ino, index) for _ns, ino, index, _name in op.get("ids", []))
            self._upto += 1

    def _inode(self, ns: str) -> int | None:
        if ns == HOST:
            return self.lab.nss.host.ino
        try:
            return os.stat(self.lab.nss.path(ns)).st_ino
        except OSError:
            return None

    def is_made(self, ns: str) -> bool:
        """The namespace is this lab's own to change."""
        from ..ops.container_ops import is_link

        if not self.lab.host_mode:
            # an isolated lab's namespaces are its own, but for a link to another process's
            # namespace and anything bound to the machine's own (an attached shell can do that)
            return not is_link(self.lab.nss, ns) and self._inode(ns) not in self._machine
        if ns == HOST:
            return False
        self._refresh()
        want = self._made.get(ns)
        return want is not None and (want == _LEGACY or want == self._inode(ns))

    def made_namespaces(self) -> set[str]:
        self._refresh()
        return {name for name in self._made if self.is_made(name)}

    def _free(self, ns: str) -> bool:
        return self.lab.allow_host_changes or self.is_made(ns)

    def namespace(self, ns: str, for_moving: bool = False) -> None:
        """Deleting a namespace (or moving one of the lab's interfaces into it)."""
        from ..ops.container_ops import is_link

        if ns == HOST or for_moving or self._free(ns):
            return  # moving our own interface into it changes nothing of theirs
        if is_link(self.lab.nss, ns):
            return  # deleting a link removes only the lab's name for it
        raise CommandError(f"namespace {ns!r} was not made by this lab; nslab --host will not delete it ({WAY_OUT})")

    def inside(self, ns: str, action: str) -> None:
        """A change to a namespace itself (a sysctl): only in namespaces this lab made.
        The host's own namespace is the machine's: its forwarding is not the lab's to flip."""
        if self._free(ns):
            return
        what = "the machine's own namespace" if ns == HOST else f"namespace {ns!r}"
        raise CommandError(f"{what} was not made by this lab; nslab will not {action} it ({WAY_OUT})")

    def route(self, ns: str, dest: str) -> None:
        """Removing a route: allowed only when it goes out of an interface this lab made."""
        if self._free(ns):
            return
        for r in inventory.routes(self.lab.nss.get(ns)):
            if r.dst == dest and not r.kernel_made:
                if r.dev:
                    self.interface(ns, r.dev, f"remove route {dest} through")
                elif r.gw:
                    self.gateway(ns, r.gw)

    def gateway(self, ns: str, gw: str) -> None:
        """A route via a gateway goes out of the interface whose subnet holds it: guard that one."""
        if self._free(ns):
            return
        addr = ipaddress.ip_address(gw)
        for link in inventory.links(self.lab.nss.get(ns)):
            if any(addr in ipaddress.ip_interface(cidr).network for cidr in link.addrs):
                self.interface(ns, link.name, f"route to {gw} through")

    def interface(self, ns: str, name: str, action: str) -> None:
        if self._free(ns):
            return
        link = inventory.find(self.lab.nss, ns, name, with_addrs=False)
        if link is None:
            raise NoInterfaceError(f"no interface {ep(ns, name)}", ns, name)
        self._refresh()
        if (self._inode(ns), link.index) in self._ifaces:
            return
        if ns == HOST and self.lab.host_mode and link.alias == self.lab.kernel.tag:
            return  # tagged by an nslab whose journal recorded no ifindex; only root can set an alias here
        raise CommandError(f"{ep(ns, name)} was not made by this lab; nslab will not {action} it ({WAY_OUT})")

    def ovs_bridge(self, name: str) -> None:
        """Adding a port to an existing Open vSwitch bridge: only one this lab made."""
        if self._free(HOST):
            return
        self._refresh()
        if name not in self._ovs:
            raise CommandError(f"Open vSwitch bridge {name} was not made by this lab; nslab will not add ports to it ({WAY_OUT})")

    def container(self, who: str, pid: int) -> None:
        """pipework into a container: refused when its namespace is the machine's (or the lab's host)."""
        if self.lab.allow_host_changes:
            return
        try:
            ino = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError as e:
            raise CommandError(f"cannot read the namespace of {who}: {e.strerror}") from None
        mine = {self.lab.nss.host.ino} if self.lab.host_mode else set()
        if ino in self._machine | mine:
            raise CommandError(f"{who} shares this machine's own network namespace (--network host): pipework would "
                               f"change the machine's interfaces and routes ({WAY_OUT})")

    def outside(self, ns: str, addr: str, iface: str | None = None) -> str | None:
        """Why a probe from ns to addr would leave the lab (nslab/engine/egress.py), or None."""
        return egress.outside(self.lab, ns, addr, iface)


class ModelGuard:
    """The dry run's guard: an isolated lab, where everything but a container's own interfaces is
    the lab's; the model holds nothing of a container's, so there is nothing to refuse."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kw: None

    def made_namespaces(self) -> set[str]:
        return set()
