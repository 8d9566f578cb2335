"""Lab traffic stays in the lab, and the host's traffic stays the host's.

Both checks ask the kernel (RTM_GETROUTE), never guess from address ranges:

- probes (`ping`, `expect reach/noreach`): in host mode, or from a namespace the lab did not
  make (`ns link PID`), the route from the context to the target must leave through an
  interface the lab made, or be local delivery.  Otherwise nothing is sent (--allow-outside).
- host routes (`route add`, `addr add` in host mode, in a namespace the lab did not make): a
  change that would move where traffic to a non-lab destination goes is refused before it is
  made, and undone when a lookup afterwards shows it moved anything (--allow-host-changes).
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError
from ..kernel.netns import HOST
from ..kernel.nlmsg import (
    IFLA_MASTER,
    RTA_GATEWAY,
    RTA_MULTIPATH,
    RTA_PREFSRC,
    RTA_PRIORITY,
    RTM_GETLINK,
    RTM_GETROUTE,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTMSG,
    RTN_UNICAST,
    LinkMsg,
    RouteMsg,
    attr_u32,
    attrs,
    decode_link,
    decode_route,
    ifinfo,
)
from ..kernel.rtnl import Rtnl

if TYPE_CHECKING:
    from .session import Session as Lab

RTN_LOCAL = 2
RT_TABLE_LOCAL = 255
RTNH = 8  # struct rtnexthop: len, flags, hops, ifindex
OUTSIDE_WAY_OUT = "nothing was sent (run with --allow-outside to send it anyway)"
HOST_WAY_OUT = "run with --allow-host-changes to do it anyway"
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


# -- whose is it --------------------------------------------------------------
def lab_made(lab: "Lab", ns: str) -> bool:
    """A namespace the lab made: the guard decides, by identity (nslab/engine/guard.py)."""
    return lab.guard.is_made(ns)


def _tagged(lab: "Lab", link: LinkMsg) -> bool:
    return lab.kernel.tag is not None and link.alias == lab.kernel.tag


def is_lab_link(lab: "Lab", ns: str, link: LinkMsg) -> bool:
    """The lab made this interface.  Host mode: it carries the lab's tag (a real interface can
    be moved into a lab namespace).  Either mode: a veth whose other end is the lab's (the
    container end of a pipework pair): what it sends lands in the lab."""
    if _tagged(lab, link) or (lab.kernel.tag is None and lab_made(lab, ns)):
        return True
    if link.kind != "veth" or not link.link:
        return False
    here = lab.nss.get(ns)
    if link.link_nsid is None:
        peer = here.nl.link(index=link.link)
        return peer is not None and (_tagged(lab, peer) or (lab.kernel.tag is None and lab_made(lab, ns)))
    for name in [HOST, *lab.nss.names()]:
        if name == ns or (lab.kernel.tag is None and not lab_made(lab, name)):
            continue  # isolated: only the lab's own namespaces; host mode: the peer's tag decides
        other = lab.nss.get(name)
        if here.nl.nsid(other.fd) == link.link_nsid:
            peer = other.nl.link(index=link.link)
            return peer is not None and (lab.kernel.tag is None or _tagged(lab, peer))
    return False


def _ports(nl: Rtnl, bridge: int) -> list[LinkMsg]:
    """A bridge's ports: a dump the kernel filters by master (strict checking)."""
    found = [decode_link(p) for k, p in nl.dump(RTM_GETLINK, ifinfo() + attr_u32(IFLA_MASTER, bridge)) if k == RTM_NEWLINK]
    return [x for x in found if x.master == bridge]


def _out_of(lab: "Lab", ns: str, oif: int | None) -> LinkMsg | None:
    return lab.nss.get(ns).nl.link(index=oif) if oif else None


def _not_the_labs(lab: "Lab", ns: str, link: LinkMsg | None) -> str | None:
    """Why traffic out of this interface leaves the lab, in words; None when it stays in."""
    nl = lab.nss.get(ns).nl
    if link is None:
        return "an interface the kernel did not name (not made by this lab)"
    if not is_lab_link(lab, ns, link):
        return f"{link.name} (not made by this lab)"
    if link.kind == "bridge":
        for port in _ports(nl, link.index):
            if not is_lab_link(lab, ns, port):
                return f"{link.name} (made by this lab, but its port {port.name} was not)"
    return None


# -- probes -------------------------------------------------------------------
def outside(lab: "Lab", ns: str, addr: str, iface: str | None = None) -> str | None:
    """Why a probe from namespace ns to addr would leave the lab, or None when it may go.
    One route lookup and one link lookup: a few tens of microseconds per probe."""
    if lab.allow_outside or (not lab.host_mode and lab_made(lab, ns)):
        return None
    nl = lab.nss.get(ns).nl
    dst, _, scope = addr.partition("%")
    device = iface or scope or None
    oif = nl.index(device) if device else None
    route = nl.route_get(dst, oif)
    if route is None or route.type == RTN_LOCAL:
        return None  # nowhere to go (the probe gets the kernel's own error), or delivered here
    link = _out_of(lab, ns, route.oif)
    why = _not_the_labs(lab, ns, link)
    if why is None and link is not None and lab.host_mode and ns != HOST:
        why = _forwarded_by_host(lab, ns, route, link, dst)
    if why is None:
        return None
    return f"{addr} is not in this lab: from {ns} it would leave through {why}; {OUTSIDE_WAY_OUT}"


def _forwarded_by_host(lab: "Lab", ns: str, route: RouteMsg, link: LinkMsg, dst: str) -> str | None:
    """A lab namespace's packet that lands in the machine's own namespace (a veth to it) and
    that the host would forward out of an interface the lab did not make: the host's own
    lookup for a packet from that source coming in on that veth (its forwarding, rp_filter)."""
    here = lab.nss.get(ns).nl
    src = route.extra.get(RTA_PREFSRC)
    if link.kind != "veth" or link.link_nsid is None or not link.link or not src:
        return None
    host = lab.nss.host
    if here.nsid(host.fd) != link.link_nsid:
        return None  # the next hop is a lab namespace, not the machine
    onward = host.nl.route_get(dst, src=str(ipaddress.ip_address(src)), iif=link.link)
    if onward is None or onward.type == RTN_LOCAL:
        return None
    why = _not_the_labs(lab, HOST, _out_of(lab, HOST, onward.oif))
    return None if why is None else f"{why} of the host, which forwards it"


# -- host routes --------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """A FIB entry a route or address op adds: where traffic for `net` would go."""

    net: IPNet
    metric: int
    oif: int | None
    gateway: str | None
    local: bool  # an address of this host: the local table wins over every route
    words: str


@dataclass(frozen=True)
class Guarded:
    """A destination that now leaves through a non-lab interface, and what it is to the host."""

    point: IPAddr
    role: str
    whole: bool = True  # False for the default route: a lab may take a part, not half or more
    shown: str = ""  # the destination in words, when it is a range and not the point

    @property
    def words(self) -> str:
        return self.shown or str(self.point)


def _path(route: RouteMsg | None) -> tuple[int | None, int | None, str | None]:
    """Where a packet goes: (route type, output interface, gateway)."""
    return (None, None, None) if route is None else (route.type, route.oif, route.gateway)


def _inside(net: IPNet) -> IPAddr:
    """One address well inside a prefix (not its network or broadcast address)."""
    host_bits = net.max_prefixlen - net.prefixlen
    step = 0 if host_bits == 0 else 1 if host_bits == 1 else (1 << (host_bits - 1)) + 1
    return net.network_address + step


def _net_words(net: IPNet) -> str:
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def _gateways(route: RouteMsg) -> list[str]:
    if route.gateway:
        return [route.gateway]
    out, blob, offset = [], route.extra.get(RTA_MULTIPATH, b""), 0
    while offset + RTNH <= len(blob):
        size = int.from_bytes(blob[offset:offset + 2], sys.byteorder)
        if size < RTNH:
            break
        gw = attrs(blob[offset + RTNH:offset + size]).get(RTA_GATEWAY)
        if gw:
            out.append(str(ipaddress.ip_address(gw)))
        offset += (size + 3) & ~3
    return out


class HostRoutes:
    """What a namespace the lab did not make routes through interfaces the lab did not make."""

    def __init__(self, lab: "Lab", ns: str) -> None:
        self.lab, self.ns = lab, ns
        self.nl = lab.nss.get(ns).nl
        links = self.nl.links()
        self.names = {x.index: x.name for x in links}
        self.lab_links = {x.index for x in links if _tagged(lab, x)}
        self.routes: list[RouteMsg] = []
        for kind, payload in self.nl.dump(RTM_GETROUTE, RTMSG.pack(0, 0, 0, 0, 0, 0, 0, 0, 0)):
            msg = decode_route(payload)
            msg.extra = attrs(payload, RTMSG.size)
            if kind == RTM_NEWROUTE and msg.type == RTN_UNICAST and msg.table != RT_TABLE_LOCAL and msg.oif not in self.lab_links:
                self.routes.append(msg)
        self.addrs = [a for a in self.nl.addrs() if a.index not in self.lab_links
                      and not ipaddress.ip_address(a.address).is_link_local]

    def dev(self, oif: int | None) -> str:
        return self.names.get(oif, "several interfaces") if oif else "several interfaces"

    def watched(self) -> list[Guarded]:
        """The host's own destinations: every gateway of a non-lab route, every non-lab address."""
        out = []
        for r in self.routes:
            what = "the default route" if not r.dst_len else f"the route to {r.dst}/{r.dst_len}"
            out += [Guarded(ipaddress.ip_address(gw), f"the gateway of {what}") for gw in _gateways(r)]
        out += [Guarded(ipaddress.ip_address(a.address), f"an address of {self.dev(a.index)}") for a in self.addrs]
        return out

    def guarded_in(self, change: Change) -> tuple[list[Guarded], list[Guarded]]:
        """What of the host's the change could take: (to check now, to watch after).  Checked:
        its gateways and addresses inside it, and one address inside it for each non-lab route
        it is more specific than.  Watched too: one address of each non-lab route inside it
        (a more specific route wins in one table, not across policy rules)."""
        check = [g for g in self.watched() if g.point.version == change.net.version and g.point in change.net]
        watch: list[Guarded] = []
        for r in self.routes:
            net = ipaddress.ip_network(f"{r.dst or ('::' if r.family == 10 else '0.0.0.0')}/{r.dst_len}")
            if net.version != change.net.version:
                continue
            dev = self.dev(r.oif)
            if change.net.subnet_of(net):  # type: ignore[arg-type]
                role = f"part of {net}, routed through {dev}" if r.dst_len else \
                    f"half or more of what the default route through {dev} carries"
                check.append(Guarded(_inside(change.net), role, whole=bool(r.dst_len), shown=_net_words(change.net)))
            elif net.subnet_of(change.net):  # type: ignore[arg-type]
                watch.append(Guarded(_inside(net), f"routed by {net} through {dev}"))
        return check, watch

    def conflict(self, change: Change, g: Guarded) -> str | None:
        """Would the change win the kernel's lookup for g, sending it elsewhere?  It wins with a
        longer prefix, or an equal one and a lower metric: on a tie the entry there stays first
        (the kernel appends an address's prefix route; `route add` gets EEXIST).  The FIB entry
        matching g now comes from the kernel (RTM_F_FIB_MATCH)."""
        now = self.nl.route_get(str(g.point), fib_match=True)
        if now is None or now.type != RTN_UNICAST or now.oif in self.lab_links:
            return None  # unreachable, delivered here already, or the lab's already
        raw = now.extra.get(RTA_PRIORITY)
        prio = int.from_bytes(raw[:4], sys.byteorder) if raw else 0
        length = change.net.prefixlen
        if not g.whole:  # under a default route a lab may take a part of it, not half
            wins = length <= 1 and (length > 0 or change.metric < prio)
        else:
            wins = change.local or length > now.dst_len or (length == now.dst_len and change.metric < prio)
        if not wins or (not change.local and (change.oif, change.gateway) == (now.oif, now.gateway)):
            return None
        what = f"traffic for {g.words}"
        to = f"this host itself (an address of {self.dev(change.oif)})" if change.local else self.dev(change.oif)
        return (f"{change.words} would move {what} ({g.role}) from {self.dev(now.oif)} to {to}; "
                f"nslab --host does not take the host's traffic ({HOST_WAY_OUT})")


def _changes(lab: "Lab", op: dict[str, Any]) -> list[Change]:
    """The FIB entries an op adds, as the kernel will make them (IPv6 metrics: 1024 for a route,
    256 for an address's prefix; IPv4: 0)."""
    nl = lab.nss.get(op["ns"]).nl
    if op["op"] == "addr_add":
        iface = ipaddress.ip_interface(op["cidr"])
        oif = nl.index(op["name"])
        words = f"address {op['cidr']} on {op['name']}"
        out = [Change(ipaddress.ip_network(f"{iface.ip}/{iface.max_prefixlen}"), 0, oif, None, True, words)]
        if iface.network.prefixlen < iface.max_prefixlen:
            out.append(Change(iface.network, 256 if iface.version == 6 else 0, oif, None, False, words))
        return out
    gw = op.get("gw")
    if op["dst"] == "default":
        net = ipaddress.ip_network("::/0" if gw and ":" in gw else "0.0.0.0/0")
    else:
        net = ipaddress.ip_network(op["dst"], strict=False)
    oif = nl.index(op["dev"]) if op.get("dev") else None
    if oif is None and gw:
        via = nl.route_get(gw)
        oif = via.oif if via is not None else None
    words = f"route {op['dst']}" + (f" via {gw}" if gw else "") + (f" dev {op['dev']}" if op.get("dev") else "")
    return [Change(net, 1024 if net.version == 6 else 0, oif, gw, False, words)]


def apply_route_change(lab: "Lab", op: dict[str, Any], apply: Callable[[dict[str, Any]], None]) -> None:
    """Apply a route_add or addr_add op.  In host mode, in a namespace the lab did not make, it
    is refused when it would move where traffic to a non-lab destination goes; and when a lookup
    after it shows a guarded destination leaving another way, it raises: the step rolls it back."""
    if not lab.host_mode or lab.allow_host_changes or lab_made(lab, op["ns"]):
        apply(op)
        return
    host = HostRoutes(lab, op["ns"])
    changes = _changes(lab, op)
    watch = {g.point: g for g in host.watched()}
    for change in changes:
        check, after = host.guarded_in(change)
        for g in check:
            why = host.conflict(change, g)
            if why:
                raise CommandError(why)
        for g in check + after:
            if g.whole:  # the part of a default route a lab may take is not watched
                watch.setdefault(g.point, g)
    before = {p: _path(host.nl.route_get(str(p))) for p in watch}
    apply(op)
    for point, was in before.items():
        now = host.nl.route_get(str(point))
        if _path(now) != was:
            g = watch[point]
            to = host.dev(now.oif) if now is not None else "nowhere"
            raise CommandError(f"{changes[0].words} moved traffic for {point} ({g.role}) from {host.dev(was[1])} to "
                               f"{to}; undone: nslab --host does not take the host's traffic ({HOST_WAY_OUT})")
