"""Handlers that change the lab: namespaces, veths, links, addresses, routes, bridges."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..base.errors import CommandError, NoInterfaceError
from ..base.results import Message
from ..engine.context import Ctx
from ..kernel import inventory
from ..kernel.netns import HOST
from ..lang.kinds import Endpoint
from ..ops.apply import ep as show_ep


def where(ctx: Ctx, e: Endpoint) -> tuple[str, str]:
    """(namespace, ifname) of an endpoint, checking that the namespace exists."""
    ns = ctx.resolve(e.ns)
    ctx.view.require(ns)
    return ns, e.ifname


def existing(ctx: Ctx, e: Endpoint) -> tuple[str, str]:
    ns, name = where(ctx, e)
    if not ctx.view.has(ns, name):
        raise NoInterfaceError(f"no interface {show_ep(ns, name)}", ns, name)
    return ns, name


def found(ctx: Ctx, e: Endpoint) -> tuple[str, inventory.Link]:
    """An endpoint's interface with its addresses and master, read once; "no interface" when missing."""
    ns, name = where(ctx, e)
    link = ctx.view.link(ns, name)
    if link is None:
        raise NoInterfaceError(f"no interface {show_ep(ns, name)}", ns, name)
    return ns, link


def _guard_ns_name(ctx: Ctx, name: str) -> None:
    from ..lang.commands import WORDS

    if name in WORDS:
        raise CommandError(f"{name!r} is a command word and cannot name a namespace")


def ns_add(ctx: Ctx, name: list[str]) -> Message:
    for n in dict.fromkeys(name):
        _guard_ns_name(ctx, n)
        if ctx.view.exists(n):
            raise CommandError(f"namespace {n!r} exists already")
        ctx.apply({"op": "ns_add", "ns": n})
    return Message(f"added {', '.join(dict.fromkeys(name))}", "ok")


def ns_del(ctx: Ctx, name: list[str]) -> Message:
    for n in dict.fromkeys(name):
        if n == HOST:
            raise CommandError("the host namespace cannot be deleted")
        ctx.guard.namespace(n)
        if ctx.view.is_link(n):
            # only the name goes (the namespace stays with its process), also once that process has stopped
            ctx.apply({"op": "ns_unlink", "ns": n})
            continue
        ctx.view.require(n)
        _refuse_if_a_container_runs_in(ctx, n)
        ctx.apply({"op": "ns_del", "ns": n})
        # (the session moves the context to host when its namespace goes)
    return Message(f"deleted {', '.join(name)}", "ok")


def _refuse_if_a_container_runs_in(ctx: Ctx, ns: str) -> None:
    """Deleting the name of a namespace a container runs in (`container run NS --network lab`) would
    leave the namespace alive in the container, with its interfaces: refused.  The engine is asked
    only when the journal ever started one there."""
    if ctx.dry or ctx.lab is None or not any(
            op["op"] == "ctr_run_lab" and op["ns"] == ns for step in ctx.lab.journal.steps for op in step.ops):
        return
    from ..ops.container_run import lab_container_in

    held = lab_container_in(ctx.lab, ns)
    if held is not None:
        raise CommandError(f"container {held} runs in namespace {ns} (container run --network lab): `container rm "
                           f"{held}` first; without its name the namespace would live on in the container, with "
                           "its interfaces")


def free_eth(ctx: Ctx, ns: str, taken: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    used = {link.name for link in ctx.view.links(ns, with_addrs=False)} | taken
    n = 0
    while f"eth{n}" in used:
        n += 1
    return f"eth{n}"


def veth(ctx: Ctx, a: Endpoint, b: Endpoint) -> Message:
    ends: list[tuple[str, str]] = []
    for e in (a, b):
        if e.bare and ctx.view.exists(e.ifname) and e.ifname != HOST:
            ns = e.ifname
            ends.append((ns, free_eth(ctx, ns, {n for s, n in ends if s == ns})))
        elif e.bare and e.ifname == HOST:
            ends.append((HOST, free_eth(ctx, HOST, {n for s, n in ends if s == HOST})))
        else:
            ends.append(where(ctx, e))
    (ans, aname), (bns, bname) = ends
    if (ans, aname) == (bns, bname):
        raise CommandError(f"both ends are {show_ep(ans, aname)}")
    try:
        ctx.apply({"op": "veth", "ns": ans, "name": aname, "peer_ns": bns, "peer": bname})
    except CommandError:
        # the kernel says only "File exists": name the end that does (no lookups before, on the fast path)
        for ns, name in ends:
            if ctx.view.has(ns, name):
                raise CommandError(f"{show_ep(ns, name)} exists already") from None
        raise
    return Message(f"veth {show_ep(ans, aname)} <-> {show_ep(bns, bname)}", "ok")


def _set(ctx: Ctx, e: Endpoint, **change: Any) -> tuple[str, str]:
    ns, name = where(ctx, e)  # the op itself says "no interface" when it is missing
    ctx.guard.interface(ns, name, "change")
    ctx.apply({"op": "link_set", "ns": ns, "name": name, **change})
    return ns, name


def link_up(ctx: Ctx, ep: Endpoint) -> Message:
    ns, name = _set(ctx, ep, up=True)
    return Message(f"{show_ep(ns, name)} up", "ok")


def link_down(ctx: Ctx, ep: Endpoint) -> Message:
    ns, name = _set(ctx, ep, up=False)
    return Message(f"{show_ep(ns, name)} down", "ok")


def link_name(ctx: Ctx, ep: Endpoint, new: str) -> Message:
    ns, name = existing(ctx, ep)
    if ctx.view.has(ns, new):
        raise CommandError(f"{show_ep(ns, new)} exists already")
    _set(ctx, ep, rename=new)
    return Message(f"{show_ep(ns, name)} is now {new}", "ok")


def link_netns(ctx: Ctx, ep: Endpoint, ns: str) -> Message:
    src, name = existing(ctx, ep)
    if ns.isdigit() and not ctx.view.exists(ns):  # `ip link set IF netns PID`: nslab names the namespace first
        raise CommandError(f"no namespace {ns!r}; for process {ns}'s namespace, name it first: "
                           f"`ns link {ns} NAME`, then `link {ep} netns NAME`")
    ctx.view.require(ns)
    ctx.guard.namespace(ns, for_moving=True)
    _set(ctx, ep, netns=ns)
    return Message(f"{show_ep(src, name)} moved to {ns} (addresses and state are reset, as the kernel does)", "ok")


def link_mtu(ctx: Ctx, ep: Endpoint, n: int) -> Message:
    ns, name = _set(ctx, ep, mtu=n)
    return Message(f"{show_ep(ns, name)} mtu {n}", "ok")


def link_mac(ctx: Ctx, ep: Endpoint, mac: str) -> Message:
    ns, name = _set(ctx, ep, mac=mac)
    return Message(f"{show_ep(ns, name)} address {mac}", "ok")


def link_del(ctx: Ctx, ep: Endpoint) -> Message:
    ns, name = existing(ctx, ep)
    if name == "lo":
        raise CommandError("lo cannot be deleted")
    ctx.guard.interface(ns, name, "delete")
    ctx.apply({"op": "link_del", "ns": ns, "name": name})
    return Message(f"deleted {show_ep(ns, name)}", "ok")


def port_warning(port: str, addrs: list[str], bridge: str) -> Message:
    """The tutorial's trap, in one set of words for both ways into it: an address on a bridge port."""
    return Message(f"{port} holds {', '.join(addrs)}: a bridge port answers on no address, so this takes the address "
                   f"off it in effect (an uplink cuts this machine off its network); move the address to {bridge}", "warn")


def addr_add(ctx: Ctx, ep: Endpoint, cidr: Any) -> list[Message]:
    # one RTM_GETLINK, no dump of the addresses: the kernel's EEXIST is the duplicate check
    # (reading them every step made 4,000 addresses on one interface quadratic)
    ns, name = existing(ctx, ep)
    master = ctx.view.master(ns, name)  # a bridge port: the tutorial's trap (a request only when it is one)
    ctx.guard.interface(ns, name, "address")
    try:
        ctx.apply({"op": "addr_add", "ns": ns, "name": name, "cidr": str(cidr)})
    except CommandError as e:
        if e.message.endswith(": File exists"):
            raise CommandError(f"{show_ep(ns, name)} has {cidr} already") from None
        raise
    warn = [port_warning(name, [str(cidr)], master)] if master else []
    return [*warn, Message(f"{cidr} on {show_ep(ns, name)}", "ok")]


def addr_del(ctx: Ctx, ep: Endpoint, cidr: Any) -> Message:
    ns, link = found(ctx, ep)
    name = link.name
    ctx.guard.interface(ns, name, "address")
    if str(cidr) not in link.addrs:
        raise CommandError(f"{show_ep(ns, name)} has no address {cidr}")
    ctx.apply({"op": "addr_del", "ns": ns, "name": name, "cidr": str(cidr)})
    return Message(f"removed {cidr} from {show_ep(ns, name)}", "ok")


def route_add(ctx: Ctx, dest: str, gw: Any = None, dev: str | None = None) -> Message:
    ns = ctx.ns
    if dev is not None:
        existing(ctx, Endpoint(None, dev))
        ctx.guard.interface(ns, dev, "route through")
    if gw is not None and dest != "default":
        if ipaddress.ip_network(dest).version != gw.version:
            raise CommandError(f"{dest} and gateway {gw} are of different IP versions")
    if gw is not None and dev is None and gw.is_link_local:
        # the kernel says only "Invalid argument": a link-local address means something on every link
        raise CommandError(f"a link-local gateway needs its interface: route add {dest} via {gw} dev IF")
    if gw is not None:
        ctx.guard.gateway(ns, str(gw))
    ctx.apply({"op": "route_add", "ns": ns, "dst": dest, "gw": str(gw) if gw else None, "dev": dev})
    via = f" via {gw}" if gw else ""
    return Message(f"route {dest}{via}{' dev ' + dev if dev else ''} in {ns}", "ok")


def route_del(ctx: Ctx, dest: str) -> Message:
    ctx.guard.route(ctx.ns, dest)
    ctx.apply({"op": "route_del", "ns": ctx.ns, "dst": dest})
    return Message(f"removed route {dest} in {ctx.ns}", "ok")


def bridge_add(ctx: Ctx, name: str) -> Message:
    if ctx.view.has(ctx.ns, name):
        raise CommandError(f"{show_ep(ctx.ns, name)} exists already")
    ctx.apply({"op": "bridge", "ns": ctx.ns, "name": name})
    return Message(f"bridge {show_ep(ctx.ns, name)} (up)", "ok")


def _bridge_exists(ctx: Ctx, name: str) -> bool:
    link = ctx.view.link(ctx.ns, name, with_addrs=False)
    if link is None:
        return False
    if link.kind != "bridge":
        raise CommandError(f"{show_ep(ctx.ns, name)} is a {link.kind}, not a bridge")
    return True


def bridge_del(ctx: Ctx, name: str) -> Message:
    if not _bridge_exists(ctx, name):
        raise CommandError(f"no bridge {show_ep(ctx.ns, name)}")
    ctx.guard.interface(ctx.ns, name, "delete")
    ctx.apply({"op": "link_del", "ns": ctx.ns, "name": name})
    return Message(f"deleted bridge {show_ep(ctx.ns, name)}", "ok")


def bridge_port_add(ctx: Ctx, name: str, ep: list[Endpoint]) -> list[Message]:
    out = []
    ports: list[inventory.Link] = []
    for e in ep:
        ns, link = found(ctx, e)
        port = link.name
        if ns != ctx.ns:
            raise CommandError(f"{show_ep(ns, port)} is in {ns}; bridge {name} is in {ctx.ns} (move it first: link {e} netns {ctx.ns})")
        if port == name:
            raise CommandError(f"a bridge cannot be its own port ({name})")
        ports.append(link)
    if _bridge_exists(ctx, name):
        ctx.guard.interface(ctx.ns, name, "add ports to")
    else:
        ctx.apply({"op": "bridge", "ns": ctx.ns, "name": name})
        out.append(Message(f"bridge {show_ep(ctx.ns, name)} created (up)", "ok"))
    for link in ports:
        ctx.guard.interface(ctx.ns, link.name, "enslave")
        if link.addrs:
            out.append(port_warning(link.name, link.addrs, name))
        change: dict[str, Any] = {}
        if link.master and link.master != name:
            out.append(Message(f"{link.name} leaves bridge {link.master} for {name}", "warn"))
        if link.master != name:
            change["master"] = name
        if not link.up:
            change["up"] = True
        if change:  # one request sets both, as `ip link set IF master BR up` does
            ctx.apply({"op": "link_set", "ns": ctx.ns, "name": link.name, **change})
    out.append(Message(f"{', '.join(link.name for link in ports)} on {name}", "ok"))
    return out


def bridge_port_del(ctx: Ctx, name: str, ep: list[Endpoint]) -> Message:
    ports = []
    for e in ep:
        ns, link = found(ctx, e)
        port = link.name
        if link.master != name or ns != ctx.ns:
            raise CommandError(f"{show_ep(ns, port)} is not a port of {name}")
        ctx.guard.interface(ns, port, "release")
        ports.append(port)
    for port in ports:
        ctx.apply({"op": "link_set", "ns": ctx.ns, "name": port, "master": ""})
    return Message(f"released {', '.join(ports)} from {name}", "ok")


SYSCTL_RE = re.compile(r"net\.[A-Za-z0-9_.-]+\Z")


def sysctl(ctx: Ctx, key: str, value: str) -> Message:
    if not SYSCTL_RE.match(key) or ".." in key:
        raise CommandError(f"only net.* sysctls can be set in a lab, got {key!r}")
    ctx.guard.inside(ctx.ns, "set sysctls in")
    ctx.apply({"op": "sysctl", "ns": ctx.ns, "key": key, "value": value})
    return Message(f"{key} = {value} in {ctx.ns}", "ok")
