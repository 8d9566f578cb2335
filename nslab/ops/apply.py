"""The kernel backend of the ops: `Kernel.apply` performs an op over netlink and returns the
ops that undo it.  Every change nslab makes is an op (a JSON object: nslab/ops/opkinds.py
declares each kind once, with its fields, its iproute2 lines, its words, its effect on the
lab model and its flags).  The journal stores ops and their inverses, so undo, atomic
rollback, `export sh` and host-mode cleanup all share that one registry."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError, InterfaceGoneError, kernel_words
from ..kernel import inventory, sysns
from ..kernel.netns import HOST
from . import identity, opkinds
from .op_text import ep
from .opkinds import describe, ip_lines  # noqa: F401  (importers find an op's words and lines here)

if TYPE_CHECKING:
    from ..kernel.netns import Namespaces

Op = dict[str, Any]


def apply_error(op: Op, e: OSError) -> CommandError:
    """The kernel's (or the OS's) refusal of an op, in its words: the model's refusals read alike."""
    return CommandError(f"{describe(op).lstrip('+-~ ')}: {kernel_words(e)}")


class Kernel:
    """Applies ops through the lab's namespaces and says how to undo them."""

    def __init__(self, nss: "Namespaces", tag: str | None = None) -> None:
        self.nss = nss
        self.tag = tag  # host mode: an alias put on every interface nslab creates
        self.gone: list[tuple[str, str]] = []  # veth ends whose deletion the kernel does later
        self.raised: list[tuple[str, str]] = []  # links this step brought up: wait for their carrier
        self.pairs: dict[tuple[str, str], tuple[str, str]] = {}  # veth ends nslab made, both ways (a hint)
        self.on_close: list[Callable[[], None]] = []  # e.g. stop the lab's private Open vSwitch
        self.seen: dict[tuple[str, str], int] = {}  # interface indexes the op being applied looked up
        self.remade: list[tuple[str, str | None, int]] = []  # what undo made again, with its new identity
        # names this lab put in /run/netns, by the inode they held: isolated labs of one process share
        # that directory, and closing one must leave the others' names (and a name made again) alone
        self.own_names: dict[str, int] = {}

    # -- lookups ---------------------------------------------------------
    def index(self, ns: str, name: str) -> int:
        found = self.nss.get(ns).nl.index(name)
        if found is None:
            raise InterfaceGoneError(f"no interface {ep(ns, name)}", ns, name)
        self.seen[(ns, name)] = found
        return found

    def has(self, ns: str, name: str) -> bool:
        return self.nss.get(ns).nl.index(name) is not None

    # -- apply -----------------------------------------------------------
    def apply(self, op: Op, inverse: bool = True) -> list[Op]:
        kind = opkinds.kind(op)
        self.seen = {}
        # the step's cached lookups (rtnl.Shared): an op of a program (ovs-vsctl, docker) changes
        # the lab behind the sockets' back, so it reads uncached; any op may change what was read
        # (a kernel inside a container, over container_ops._OneNs, has uncached sockets of its own)
        shared, by_program = getattr(self.nss, "shared", None), not hasattr(self, "_" + op["op"])
        caching = shared is not None and shared.caching
        if shared is not None and by_program:
            shared.caching = False
        try:
            identity.verify(self, op)  # an undo op acts only on the object the lab made
            undo = kind.apply(self, op, inverse)
        except OSError as e:  # the kernel's or the OS's refusal (NetlinkError is one), in its words;
            # anything else is a bug, and the session reports it as one
            raise apply_error(op, e) from None
        finally:
            if shared is not None:
                shared.caching = caching
                if by_program or op["op"] == "sysctl":  # not through the sockets (which forget by themselves)
                    shared.writes += 1  # e.g. disable_ipv6 takes addresses away
        self._note_name(op, kind.names)
        if self.tag:  # host mode: objects outlive the process, so they are known by identity
            if inverse:
                identity.stamp(self, op, undo)
            elif kind.creates:
                self.remade += identity.remade(self, op)
        return undo

    def _note_name(self, op: Op, names: str) -> None:
        if names == "made":
            self.own_names[op["ns"]] = os.stat(self.nss.path(op["ns"])).st_ino
        elif names == "removed":
            self.own_names.pop(op["ns"], None)

    def own_namespaces(self) -> list[str]:
        """The names this lab made that still name the namespace it made (what `close` may remove)."""
        out = []
        for name, ino in self.own_names.items():
            try:
                if os.stat(self.nss.path(name)).st_ino == ino:
                    out.append(name)
            except FileNotFoundError:
                pass
        return out

    def _ns_add(self, op: Op, inverse: bool) -> list[Op]:
        ns = self.nss.create(op["ns"])
        alias = op.get("alias", self.tag)  # undoing the deletion of somebody else's: the alias it had
        if self.tag and alias:
            # host mode: a namespace has no alias of its own; its lo carries the lab's tag
            # so `clean` can tell it from a namespace somebody else made
            try:
                ns.nl.set_link(1, alias=alias)
            except Exception:
                self.nss.delete(op["ns"])
                raise
        if self.tag:
            op["ino"] = ns.ino
        return [{"op": "ns_del", "ns": op["ns"]}]

    def _ns_del(self, op: Op, inverse: bool) -> list[Op]:
        from .snapshot import restore_ops, take

        ns = op["ns"]
        if ns == HOST:
            raise CommandError("the host namespace cannot be deleted")
        undo: list[Op] = []
        if inverse:
            snap = take(self.nss, whole_ns=[ns])
            undo = restore_ops(snap)
            self.gone.extend((link.ns, link.name) for link in snap.links if link.ns != ns)
        self.nss.delete(ns)
        return undo

    def _tag(self, ns: str, name: str, alias: str | None = None) -> int | None:
        """Host mode: put the lab's alias on an interface it made (or, undoing the deletion of
        somebody else's, the alias it had); its index when it is the lab's, else None."""
        if not self.tag:
            return None
        want = self.tag if alias is None else alias
        index = self.index(ns, name)
        if want:
            self.nss.get(ns).nl.set_link(index, alias=want)
        return index if want == self.tag else None

    def made(self, ns: str, name: str, index: int | None) -> list[list[Any]]:
        """The identity of an interface the lab just made, for the op's `ids`: host mode, and
        ends in a namespace the lab only links to (the guard lets it change only those there)."""
        if index is None:
            if ns not in self.nss.checks:
                return []
            index = self.index(ns, name)
        return [[ns, self.nss.get(ns).ino, index, name]]

    def _veth(self, op: Op, inverse: bool) -> list[Op]:
        ns, pns = op["ns"], op["peer_ns"]
        master = self.index(ns, op["master"]) if op.get("master") else None
        self.nss.get(ns).nl.add_veth(
            op["name"], op["peer"], peer_fd=self.nss.get(pns).fd if pns != ns else None,
            mac=op.get("mac"), peer_mac=op.get("peer_mac"), mtu=op.get("mtu"), master=master, up=bool(op.get("up")),
        )
        self.pairs[(ns, op["name"])] = (pns, op["peer"])
        self.pairs[(pns, op["peer"])] = (ns, op["name"])
        if op.get("up"):
            self.raised.append((ns, op["name"]))
        try:
            ids = (self.made(ns, op["name"], self._tag(ns, op["name"], op.get("alias")))
                   + self.made(pns, op["peer"], self._tag(pns, op["peer"], op.get("peer_alias"))))
            if ids:
                op["ids"] = ids
        except Exception:
            self._link_del({"op": "link_del", "ns": ns, "name": op["name"]}, False)
            raise
        return [{"op": "link_del", "ns": ns, "name": op["name"], "peer_ns": pns, "peer": op["peer"]}]

    def _bridge(self, op: Op, inverse: bool) -> list[Op]:
        from ..kernel.rtnl import IFLA_ADDRESS, IFLA_MTU, attr_mac, attr_u32

        extra = (attr_mac(IFLA_ADDRESS, op["mac"]) if op.get("mac") else b"") + (
            attr_u32(IFLA_MTU, op["mtu"]) if op.get("mtu") else b"")
        self.nss.get(op["ns"]).nl.add_link(op["name"], "bridge", up=op.get("up", True), extra=extra)
        ids = self.made(op["ns"], op["name"], self._tag(op["ns"], op["name"], op.get("alias")))
        if ids:
            op["ids"] = ids
        return [{"op": "link_del", "ns": op["ns"], "name": op["name"]}]

    def _link_del(self, op: Op, inverse: bool) -> list[Op]:
        from .snapshot import restore_ops, take

        ns, name = op["ns"], op["name"]
        undo: list[Op] = []
        if inverse:
            snap = take(self.nss, ifaces=[(ns, name)])
            undo = restore_ops(snap)
            self.gone.extend((link.ns, link.name) for link in snap.links if (link.ns, link.name) != (ns, name))
        self.nss.get(ns).nl.del_link(self.index(ns, name))
        return undo

    def _link_set(self, op: Op, inverse: bool) -> list[Op]:
        ns, name = op["ns"], op["name"]
        nl = self.nss.get(ns).nl
        # addresses are read only when needed now: a move, an undone `up` (keep_inet6 below)
        before = inventory.find(self.nss, ns, name, with_addrs="netns" in op or bool(op.get("keep_inet6")))
        if before is None:
            raise InterfaceGoneError(f"no interface {ep(ns, name)}", ns, name)
        self.seen[(ns, name)] = before.index
        if "netns" in op:
            return self._move(op, before, inverse)
        kw: dict[str, Any] = {}
        after: str = op["rename"] if "rename" in op else name  # its name once the op is done
        back: Op = {"op": "link_set", "ns": ns, "name": after}
        if "master" in op:
            kw["master"] = self.index(ns, op["master"]) if op["master"] else 0
            back["master"] = before.master or ""
        if "mtu" in op:
            kw["mtu"] = op["mtu"]
            back["mtu"] = before.mtu
        if "mac" in op:
            kw["mac"] = op["mac"]
            back["mac"] = before.mac
        if "rename" in op:
            kw["name"] = op["rename"]
            back["rename"] = name
        if "up" in op:
            kw["up"] = bool(op["up"])
            back["up"] = before.up
            if op["up"]:
                self.raised.append((ns, after))
                if not before.up and before.kind != "loopback":  # its undo takes it down: the kernel
                    back["keep_inet6"] = True  # drops the IPv6 it had down (lo: its own, lo_first_up)
        if "rename" in op and before.up and not _live_rename(nl, before.index, op["rename"]):
            # older kernels rename only a link that is down
            nl.set_link(before.index, up=False)
            kw.setdefault("up", True)
        # lo gets 127.0.0.1/8 when it first comes up and keeps it when it goes down: undo takes it back
        lo_first_up = inverse and op.get("up") and not before.up and before.kind == "loopback" and \
            "127.0.0.1/8" not in before.addrs
        # taking a link down (or its MTU below IPv6's) makes the kernel drop routes and IPv6 addresses
        kept = self._held(ns, name) if inverse and (kw.get("up") is False or "mtu" in op) else None
        # a bridge takes a MAC from its ports when one joins or leaves: undo puts the old one back
        bridge = (op.get("master") or before.master) if "master" in op and inverse else None
        bmac = nl.link(bridge) if bridge else None
        if bmac is not None and _keeps_mac(bmac, before, op):
            bmac = None  # provably the same MAC after: no read afterwards
        try:
            nl.set_link(before.index, **kw)
        except OSError:  # the kernel sets flags before a master: a refused `master X up` left it up
            with contextlib.suppress(OSError):
                if "up" in kw and kw["up"] != before.up:
                    nl.set_link(before.index, up=before.up)
                    if lo_first_up:  # and the 127.0.0.1/8 lo got coming up
                        self._addr({"ns": ns, "name": name, "cidr": "127.0.0.1/8"}, False)
            raise
        if op.get("keep_inet6") and kw.get("up") is False:  # undoing `up`: what it had while down, back
            for a in before.addrs:
                if ":" in a and not a.startswith("fe80:"):
                    self._addr({"ns": ns, "name": after, "cidr": a}, True)
        if not inverse:
            return []
        undo: list[Op] = [back]
        if lo_first_up:
            undo.append({"op": "addr_del", "ns": ns, "name": name, "cidr": "127.0.0.1/8"})
        elif kept:
            undo += self._lost(ns, after, kept)
        if bmac is not None:  # the kernel's choice of MAC is subtle (the first port, the lowest): compare
            now = nl.latest(bmac.name)  # a bridge's new MAC is announced before the request is answered
            if now is not None and now.mac != bmac.mac:
                undo.append({"op": "link_set", "ns": ns, "name": bridge, "mac": bmac.mac})
        return undo

    def _held(self, ns: str, name: str) -> tuple[list[str], list[inventory.Route]]:
        """A link's addresses and its namespace's static routes, to see later what a change took along."""
        link = inventory.find(self.nss, ns, name)
        static = [r for r in inventory.routes(self.nss.get(ns)) if not r.kernel_made]
        return (link.addrs if link else []), static

    def _lost(self, ns: str, name: str, held: tuple[list[str], list[inventory.Route]], skip: str = "") -> list[Op]:
        """Ops that put back what the kernel removed along with a change: addresses first, then routes."""
        addrs, static = held
        now_addrs, now_static = self._held(ns, name)
        ops: list[Op] = [{"op": "addr_add", "ns": ns, "name": name, "cidr": a} for a in addrs
                         if a not in now_addrs and a != skip and a != "::1/128" and not a.startswith("fe80:")]  # the kernel re-adds these
        ops += [{"op": "route_add", "ns": ns, "dst": r.dst, "gw": r.gw, "dev": r.dev} for r in static if r not in now_static]
        return ops

    def _move(self, op: Op, before: inventory.Link, inverse: bool) -> list[Op]:
        from .snapshot import Snapshot, restore_ops

        ns, name, target = op["ns"], op["name"], op["netns"]
        if target == ns:
            raise CommandError(f"{ep(ns, name)} is already in {ns}")
        tns = self.nss.get(target)
        if tns.nl.index(name) is not None:
            raise CommandError(f"{ep(target, name)} exists already")
        routes = [r for r in inventory.routes(self.nss.get(ns)) if r.dev == name and not r.kernel_made] if inverse else []
        self.nss.get(ns).nl.set_link(before.index, netns_fd=tns.fd)
        if not inverse:
            return []
        back: list[Op] = [{"op": "link_set", "ns": target, "name": name, "netns": ns}]
        return back + restore_ops(Snapshot(links=[before], routes=routes), create=False)

    def _addr(self, op: Op, add: bool) -> None:
        iface = ipaddress.ip_interface(op["cidr"])
        net = iface.network
        bcast = str(net.broadcast_address) if add and iface.version == 4 and net.prefixlen < 31 else None
        self.nss.get(op["ns"]).nl.addr(add, self.index(op["ns"], op["name"]), str(iface.ip), net.prefixlen, bcast)

    def _addr_add(self, op: Op, inverse: bool) -> list[Op]:
        self._addr(op, True)
        return [{"op": "addr_del", "ns": op["ns"], "name": op["name"], "cidr": op["cidr"]}]

    def _addr_del(self, op: Op, inverse: bool) -> list[Op]:
        # the kernel may take routes (and secondary addresses) along: undo puts back exactly what went
        held = self._held(op["ns"], op["name"]) if inverse else None
        self._addr(op, False)
        if held is None:
            return []
        undo: list[Op] = [{"op": "addr_add", "ns": op["ns"], "name": op["name"], "cidr": op["cidr"]}]
        return undo + self._lost(op["ns"], op["name"], held, skip=op["cidr"])

    def _route(self, op: Op, add: bool) -> None:
        dst, gw = op["dst"], op.get("gw")
        if dst == "default":
            six = bool(gw and ":" in gw)
            net = ipaddress.ip_network("::/0" if six else "0.0.0.0/0")
        else:
            net = ipaddress.ip_network(dst, strict=False)
        family = 10 if net.version == 6 else 2
        oif = self.index(op["ns"], op["dev"]) if op.get("dev") else None
        self.nss.get(op["ns"]).nl.route(add, str(net.network_address), net.prefixlen, family, gw, oif)

    def _route_add(self, op: Op, inverse: bool) -> list[Op]:
        self._route(op, True)
        return [{"op": "route_del", "ns": op["ns"], "dst": op["dst"], "gw": op.get("gw"), "dev": op.get("dev")}]

    def _route_del(self, op: Op, inverse: bool) -> list[Op]:
        found = [r for r in inventory.routes(self.nss.get(op["ns"]))
                 if inventory.same_dest(r, op["dst"], op.get("gw")) and not r.kernel_made]
        if op.get("gw"):
            found = [r for r in found if r.gw == op["gw"]] or found
        if not found:
            raise CommandError(f"no route to {op['dst']} in {op['ns']}")
        r = found[0]
        # an IPv6 default without a gateway is written ::/0, or the family it is re-made in is lost
        dst = "::/0" if r.dst == "default" and r.family == 10 and not r.gw else r.dst
        full = {"op": "route_add", "ns": op["ns"], "dst": dst, "gw": r.gw, "dev": r.dev}
        self._route(full, False)
        return [full]

    def _sysctl(self, op: Op, inverse: bool) -> list[Op]:
        key = op["key"]
        path = "/proc/sys/" + key.replace(".", "/")
        fd = self.nss.get(op["ns"]).fd
        with sysns.entered(fd):
            try:
                with open(path) as f:
                    old = f.read().strip()
                with open(path, "w") as f:
                    f.write(str(op["value"]))
            except FileNotFoundError:
                raise CommandError(f"no sysctl {key}") from None
            except OSError as e:
                raise CommandError(f"sysctl {key}: {e.strerror}") from None
        return [{"op": "sysctl", "ns": op["ns"], "key": key, "value": old}]

    # -- after a step ----------------------------------------------------
    def settle(self, timeout: float = 2.0) -> None:
        """Wait for what the kernel finishes after a request returns (nslab/ops/settle.py)."""
        from .settle import settle

        self.nss.end_step()  # the step's writes are done; settle polls the kernel itself
        try:
            settle(self, timeout)
        finally:
            # the next step starts with nothing cached (the session may also say so: new_step)
            self.nss.new_step()


def _keeps_mac(bridge: Any, port: inventory.Link, op: Op) -> bool:
    """A port joining this Linux bridge leaves the bridge's MAC as it is: a bridge that follows
    its ports has the lowest of their MACs (br_stp_recalculate_bridge_id), so one not lower
    changes nothing, and one given a MAC keeps it; but the first port gives its own.  A
    bridge has carrier only while it has a live port (br_port_state_selection)."""
    from ..kernel.rtnl import IFF_LOWER_UP

    return (bool(op.get("master")) and op["master"] == bridge.name and "mac" not in op and bridge.kind == "bridge"
            and bool(bridge.flags & IFF_LOWER_UP) and port.mac >= bridge.mac)


def _live_rename(nl: Any, index: int, name: str) -> bool:
    """Rename an up link in place (kernels since 6.x); False when the kernel wants it down first."""
    try:
        nl.set_link(index, name=name)
        return True
    except OSError as e:  # NetlinkError is one
        if e.errno == errno.EBUSY or getattr(e, "code", None) == errno.EBUSY:
            return False
        raise
