"""Host mode's guard: nslab changes only what this lab made, unless told otherwise."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from . import inventory
from .errors import CommandError
from .netns import HOST
from .ops import ep

if TYPE_CHECKING:
    from .session import Lab

WAY_OUT = "run with --allow-host-changes to do it anyway"


class Guard:
    def __init__(self, lab: "Lab") -> None:
        self.lab = lab
        # namespaces made so far, kept up to date step by step: reading the whole journal
        # at every check made a 1000-namespace host replay quadratic
        self._made: set[str] = set()
        self._upto = 0
        self._epoch = -1

    @property
    def active(self) -> bool:
        return self.lab.host_mode and not self.lab.allow_host_changes

    def made_namespaces(self) -> set[str]:
        steps = self.lab.journal.steps
        if self._epoch != self.lab.undo_epoch or self._upto > len(steps):
            self._made, self._upto, self._epoch = set(), 0, self.lab.undo_epoch
        while self._upto < len(steps) and steps[self._upto].outcome != "running":
            step = steps[self._upto]
            if step.undoable:
                for op in step.ops:
                    if op["op"] in ("ns_add", "ns_link"):
                        self._made.add(op["ns"])
                    elif op["op"] in ("ns_del", "ns_unlink"):
                        self._made.discard(op["ns"])
            self._upto += 1
        return self._made

    def namespace(self, ns: str, for_moving: bool = False) -> None:
        if not self.active or ns == HOST or ns in self.made_namespaces():
            return
        if for_moving:
            return  # moving our own interface into it changes nothing of theirs
        raise CommandError(f"namespace {ns!r} was not made by this lab; nslab --host will not delete it ({WAY_OUT})")

    def inside(self, ns: str, action: str) -> None:
        """A change to a namespace itself (a sysctl): only in namespaces this lab made.
        The host's own namespace is the machine's: its forwarding is not the lab's to flip."""
        if not self.active or (ns != HOST and ns in self.made_namespaces()):
            return
        what = "the machine's own namespace" if ns == HOST else f"namespace {ns!r}"
        raise CommandError(f"{what} was not made by this lab; nslab --host will not {action} it ({WAY_OUT})")

    def route(self, ns: str, dest: str) -> None:
        """Removing a route: allowed only when it goes out of an interface this lab made."""
        if not self.active or (ns != HOST and ns in self.made_namespaces()):
            return
        for r in inventory.routes(self.lab.nss.get(ns)):
            if r.dst == dest and not r.kernel_made:
                if r.dev:
                    self.interface(ns, r.dev, f"remove route {dest} through")
                elif r.gw:
                    self.gateway(ns, r.gw)

    def gateway(self, ns: str, gw: str) -> None:
        """A route via a gateway goes out of the interface whose subnet holds it: guard that one."""
        if not self.active:
            return
        addr = ipaddress.ip_address(gw)
        for link in inventory.links(self.lab.nss.get(ns)):
            if any(addr in ipaddress.ip_interface(cidr).network for cidr in link.addrs):
                self.interface(ns, link.name, f"route to {gw} through")

    def interface(self, ns: str, name: str, action: str) -> None:
        if not self.active:
            return
        if ns != HOST and ns in self.made_namespaces():
            return
        link = inventory.find(self.lab.nss, ns, name, with_addrs=False)
        if link is None:
            raise CommandError(f"no interface {ep(ns, name)}")
        if link.alias == self.lab.kernel.tag:
            return
        raise CommandError(f"{ep(ns, name)} was not made by this lab; nslab --host will not {action} it ({WAY_OUT})")
