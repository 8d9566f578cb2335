"""`nslab run --dry-run`: every line parsed and resolved against a model of the lab,
without touching the kernel and without privileges.

The model is small: namespaces -> interfaces -> (kind, state, master, addresses,
veth peer), plus static routes.  Each command's effect is simulated with the
same preconditions the real handlers check (nslab/handlers/build.py), so the
messages read alike: a missing namespace or endpoint, a name that exists, an
address already there, a gateway not on any connected subnet...
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import CommandError
from .kinds import Endpoint
from .netns import HOST
from .ops import ep as show_ep

SYSCTL_RE = re.compile(r"net\.[A-Za-z0-9_.-]+\Z")


@dataclass
class Iface:
    name: str
    kind: str
    up: bool = False
    master: str | None = None
    addrs: list[str] = field(default_factory=list)
    peer: tuple[str, str] | None = None


@dataclass
class Problem:
    where: str  # FILE:LINE
    line: str
    message: str
    note: bool = False  # a line the model cannot judge (containers): said, not counted as a problem


class Model:
    """What the lab would hold after the lines so far."""

    def __init__(self) -> None:
        self.nss: dict[str, dict[str, Iface]] = {}
        self.routes: dict[str, list[tuple[str, str | None, str | None]]] = {}
        self.context = HOST
        self.opaque: set[str] = set()  # a container's namespace: what it holds is not known here
        self._add_ns(HOST, lo_up=True)  # the isolated lab's host: only lo, up

    # -- helpers ---------------------------------------------------------
    def _add_ns(self, ns: str, lo_up: bool = False) -> None:
        self.nss[ns] = {"lo": Iface("lo", "loopback", up=lo_up, addrs=["127.0.0.1/8"] if lo_up else [])}
        self.routes[ns] = []

    def ns(self, name: str) -> dict[str, Iface]:
        if name not in self.nss:
            raise CommandError(f"no namespace {name!r}")
        return self.nss[name]

    def where(self, ctx: str, e: Endpoint) -> tuple[str, str]:
        ns = e.ns or ctx
        self.ns(ns)
        return ns, e.ifname

    def existing(self, ctx: str, e: Endpoint) -> tuple[str, Iface]:
        ns, name = self.where(ctx, e)
        link = self.nss[ns].get(name)
        if link is None and ns in self.opaque:
            link = self.nss[ns][name] = Iface(name, "device")
        if link is None:
            raise CommandError(f"no interface {show_ep(ns, name)}")
        return ns, link

    def free_eth(self, ns: str, taken: set[str]) -> str:
        n = 0
        while f"eth{n}" in self.nss[ns] or f"eth{n}" in taken:
            n += 1
        return f"eth{n}"

    def _drop(self, ns: str, name: str) -> None:
        """An interface goes: its peer too, its ports lose their master, its routes go."""
        link = self.nss[ns].pop(name, None)
        if link is None:
            return
        for other in self.nss[ns].values():
            if other.master == name:
                other.master = None
        self.routes[ns] = [r for r in self.routes[ns] if r[2] != name and self._gw_ok(ns, r[1])]
        if link.peer and link.peer[0] in self.nss:
            self._drop(*link.peer)

    def _gw_ok(self, ns: str, gw: str | None) -> bool:
        if gw is None:
            return True
        addr = ipaddress.ip_address(gw)
        for link in self.nss[ns].values():
            if not link.up:
                continue
            for cidr in link.addrs:
                if addr in ipaddress.ip_interface(cidr).network:
                    return True
        return False

    # -- commands --------------------------------------------------------
    def ns_add(self, ctx: str, name: list[str]) -> None:
        from .commands import WORDS

        for n in dict.fromkeys(name):
            if n in WORDS:
                raise CommandError(f"{n!r} is a command word and cannot name a namespace")
            if n in self.nss:
                raise CommandError(f"namespace {n!r} exists: File exists")
            self._add_ns(n)

    def ns_del(self, ctx: str, name: list[str]) -> None:
        for n in dict.fromkeys(name):
            if n == HOST:
                raise CommandError("the host namespace cannot be deleted")
            for ifname in list(self.ns(n)):
                self._drop(n, ifname)
            del self.nss[n]
            del self.routes[n]
            if self.context == n:
                self.context = HOST

    def ns_link(self, ctx: str, target: str, name: str | None = None) -> None:
        n = name or target
        if n in self.nss:
            raise CommandError(f"namespace {n!r} exists: File exists")
        self._add_ns(n)
        self.opaque.add(n)

    def pipework(self, ctx: str, bridge: str, **_: Any) -> None:
        # the container's side is docker's; the bridge is made when missing, as pipework does
        self.nss[ctx].setdefault(bridge, Iface(bridge, "bridge", up=True))

    def veth(self, ctx: str, a: Endpoint, b: Endpoint) -> None:
        ends: list[tuple[str, str]] = []
        for e in (a, b):
            if e.bare and e.ifname in self.nss:
                ends.append((e.ifname, self.free_eth(e.ifname, {n for s, n in ends if s == e.ifname})))
            else:
                ends.append(self.where(ctx, e))
        (ans, aname), (bns, bname) = ends
        if (ans, aname) == (bns, bname):
            raise CommandError(f"both ends are {show_ep(ans, aname)}")
        for ns, name in ends:
            if name in self.nss[ns]:
                raise CommandError(f"{show_ep(ns, name)} exists: File exists")
        self.nss[ans][aname] = Iface(aname, "veth", peer=(bns, bname))
        self.nss[bns][bname] = Iface(bname, "veth", peer=(ans, aname))

    def _set(self, ctx: str, e: Endpoint) -> tuple[str, Iface]:
        return self.existing(ctx, e)

    def link_up(self, ctx: str, ep: Endpoint) -> None:
        ns, link = self._set(ctx, ep)
        if link.kind == "loopback" and "127.0.0.1/8" not in link.addrs:
            link.addrs.append("127.0.0.1/8")
        link.up = True

    def link_down(self, ctx: str, ep: Endpoint) -> None:
        ns, link = self._set(ctx, ep)
        link.up = False
        link.addrs = [a for a in link.addrs if ":" not in a]  # the kernel drops IPv6 addresses
        self.routes[ns] = [r for r in self.routes[ns] if r[2] != link.name and self._gw_ok(ns, r[1])]

    def link_name(self, ctx: str, ep: Endpoint, new: str) -> None:
        ns, link = self.existing(ctx, ep)
        if new in self.nss[ns]:
            raise CommandError(f"{show_ep(ns, new)} exists: File exists")
        old = link.name
        del self.nss[ns][old]
        link.name = new
        self.nss[ns][new] = link
        for other in self.nss[ns].values():
            if other.master == old:
                other.master = new
        if link.peer and link.peer[0] in self.nss and link.peer[1] in self.nss[link.peer[0]]:
            self.nss[link.peer[0]][link.peer[1]].peer = (ns, new)
        self.routes[ns] = [(d, g, new if dev == old else dev) for d, g, dev in self.routes[ns]]

    def link_netns(self, ctx: str, ep: Endpoint, ns: str) -> None:
        src, link = self.existing(ctx, ep)
        self.ns(ns)
        if ns == src:
            raise CommandError(f"{show_ep(src, link.name)} is already in {ns}")
        if link.name in self.nss[ns]:
            raise CommandError(f"{show_ep(ns, link.name)} exists: File exists")
        del self.nss[src][link.name]
        for other in self.nss[src].values():
            if other.master == link.name:
                other.master = None
        self.routes[src] = [r for r in self.routes[src] if r[2] != link.name]
        link.up, link.master, link.addrs = False, None, []  # the kernel resets them on a move
        self.nss[ns][link.name] = link
        if link.peer and link.peer[0] in self.nss and link.peer[1] in self.nss[link.peer[0]]:
            self.nss[link.peer[0]][link.peer[1]].peer = (ns, link.name)

    def link_mtu(self, ctx: str, ep: Endpoint, n: int) -> None:
        self._set(ctx, ep)

    def link_mac(self, ctx: str, ep: Endpoint, mac: str) -> None:
        self._set(ctx, ep)

    def link_del(self, ctx: str, ep: Endpoint) -> None:
        ns, link = self.existing(ctx, ep)
        if link.name == "lo":
            raise CommandError("lo cannot be deleted")
        self._drop(ns, link.name)

    def addr_add(self, ctx: str, ep: Endpoint, cidr: Any) -> None:
        ns, link = self.existing(ctx, ep)
        if str(cidr) in link.addrs:
            raise CommandError(f"{show_ep(ns, link.name)} has {cidr} already: File exists")
        link.addrs.append(str(cidr))

    def addr_del(self, ctx: str, ep: Endpoint, cidr: Any) -> None:
        ns, link = self.existing(ctx, ep)
        if str(cidr) not in link.addrs:
            raise CommandError(f"{show_ep(ns, link.name)} has no address {cidr}")
        link.addrs.remove(str(cidr))
        self.routes[ns] = [r for r in self.routes[ns] if self._gw_ok(ns, r[1])]

    def route_add(self, ctx: str, dest: str, gw: Any = None, dev: str | None = None) -> None:
        self.ns(ctx)
        if dev is not None:
            self.existing(ctx, Endpoint(None, dev))
        if gw is not None and dest != "default" and ipaddress.ip_network(dest).version != gw.version:
            raise CommandError(f"{dest} and gateway {gw} are of different IP versions")
        if gw is not None and not self._gw_ok(ctx, str(gw)):
            raise CommandError(f"route {dest} in {ctx}: Network is unreachable (no up interface on a subnet with {gw})")
        if dev is not None and gw is None and not self.nss[ctx][dev].up:
            raise CommandError(f"route {dest} in {ctx}: Network is down ({dev} is down)")
        six = (":" in str(gw)) if dest == "default" and gw is not None else ":" in dest
        if any(r[0] == dest and _family6(r) == six for r in self.routes[ctx]):  # an IPv4 and an IPv6 default coexist
            raise CommandError(f"route {dest} in {ctx}: File exists")
        self.routes[ctx].append((dest, str(gw) if gw else None, dev))

    def route_del(self, ctx: str, dest: str) -> None:
        self.ns(ctx)
        if not any(r[0] == dest for r in self.routes[ctx]):
            raise CommandError(f"no route to {dest} in {ctx}")
        self.routes[ctx] = [r for r in self.routes[ctx] if r[0] != dest]

    def _bridge(self, ctx: str, name: str) -> Iface | None:
        link = self.ns(ctx).get(name)
        if link is not None and link.kind != "bridge":
            raise CommandError(f"{show_ep(ctx, name)} is a {link.kind}, not a bridge")
        return link

    def bridge_add(self, ctx: str, name: str) -> None:
        if name in self.ns(ctx):
            raise CommandError(f"{show_ep(ctx, name)} exists: File exists")
        self.nss[ctx][name] = Iface(name, "bridge", up=True)

    def bridge_del(self, ctx: str, name: str) -> None:
        if self._bridge(ctx, name) is None:
            raise CommandError(f"no bridge {show_ep(ctx, name)}")
        self._drop(ctx, name)

    def bridge_port_add(self, ctx: str, name: str, ep: list[Endpoint]) -> None:
        ports = []
        for e in ep:
            ns, link = self.existing(ctx, e)
            if ns != ctx:
                raise CommandError(f"{show_ep(ns, link.name)} is in {ns}; bridge {name} is in {ctx} "
                                   f"(move it first: link {e} netns {ctx})")
            if link.name == name:
                raise CommandError(f"a bridge cannot be its own port ({name})")
            ports.append(link)
        if self._bridge(ctx, name) is None:
            self.nss[ctx][name] = Iface(name, "bridge", up=True)
        for link in ports:
            link.master, link.up = name, True

    def bridge_port_del(self, ctx: str, name: str, ep: list[Endpoint]) -> None:
        for e in ep:
            ns, link = self.existing(ctx, e)
            if link.master != name or ns != ctx:
                raise CommandError(f"{show_ep(ns, link.name)} is not a port of {name}")
        for e in ep:
            self.existing(ctx, e)[1].master = None

    def sysctl(self, ctx: str, key: str, value: str) -> None:
        self.ns(ctx)
        if not SYSCTL_RE.match(key) or ".." in key:
            raise CommandError(f"only net.* sysctls can be set in a lab, got {key!r}")

    def enter(self, ctx: str, ns: str) -> None:
        self.ns(ns)
        self.context = ns

    def leave(self, ctx: str) -> None:
        self.context = HOST

    def ping(self, ctx: str, target: str, I: str | None = None, **_: Any) -> None:  # noqa: E741,N803
        self.ns(ctx)
        if I is not None and I not in self.nss[ctx]:
            raise CommandError(f"ping -I: no interface {I} in {ctx}")
        self._target(target)

    def _target(self, target: str) -> None:
        try:
            ipaddress.ip_address(target)
            return
        except ValueError:
            pass
        links = self.ns(target).values()
        if not any(":" not in a for link in links if link.kind != "loopback" for a in link.addrs):
            raise CommandError(f"namespace {target!r} has no IPv4 address to ping")

    def look(self, ctx: str, ns: str | None = None, **_: Any) -> None:
        self.ns(ctx)
        if ns is not None:
            self.ns(ns)

    def exec(self, ctx: str, argv: list[str]) -> None:  # noqa: A003 - the command's name
        self.ns(ctx)
        if not argv:
            raise CommandError("exec needs a program to run")


LOOKS = {"ns_ls", "link_ls", "addr_ls", "route_ls", "bridge_ls", "show", "shell"}
NOTHING = {"history", "save", "export_sh", "undo", "reset", "help", "check", "source"}


def _handler(model: Model, name: str) -> Callable[..., None] | None:
    if name in LOOKS:
        return model.look
    if name in NOTHING or name.startswith("expect"):
        return None  # goals and journal commands: nothing to resolve against the model
    return getattr(model, name, None)


def dry_run(commands: Iterable[Any]) -> tuple[list[Problem], int]:
    """Simulate every command; (problems found, commands looked at).  Nothing touches the kernel."""
    model = Model()
    problems: list[Problem] = []
    n = 0
    for cmd in commands:
        n += 1
        ctx = cmd.prefix or model.context
        where = f"{cmd.loc.source}:{cmd.loc.line}"
        fn = _handler(model, cmd.form.handler)
        try:
            if ctx not in model.nss and cmd.name != "expect":
                raise CommandError(f"no namespace {ctx!r}")
            if fn is None and cmd.name not in ("expect", *NOTHING):
                problems.append(Problem(where, cmd.text.strip(), f"{cmd.name}: not checked by a dry run", note=True))
                continue
            if fn is not None:
                values = dict(cmd.values)
                if fn == model.exec and cmd.prefix is None and len(values["argv"]) > 1 and values["argv"][0] in model.nss:
                    ctx, values["argv"] = values["argv"][0], values["argv"][1:]
                fn(ctx, **values)
        except CommandError as e:
            problems.append(Problem(where, cmd.text.strip(), e.message))
    return problems, n


def report(commands: list[Any], out: Callable[[Any], None]) -> int:
    """`nslab run --dry-run`: each problem as FILE:LINE with its line; exit 1 when a real run would trip."""
    from .results import Failure, Message

    problems, n = dry_run(commands)
    real = [p for p in problems if not p.note]
    for p in problems:
        if p.note:
            out(Message(f"{p.where}: {p.message}", "dim"))
        else:
            out(Failure(p.message, p.where, p.line))
    verdict = "a real run would stop at the first of them" if real else "a real run should get through"
    out(Message(f"dry run: {n} lines resolved, {len(real)} problem(s); {verdict}", "error" if real else "ok"))
    return 1 if real else 0


def _family6(route: tuple[str, str | None, str | None]) -> bool:
    dest, gw, _ = route
    return ":" in (gw or "") if dest == "default" else ":" in dest
