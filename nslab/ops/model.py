"""Each op kind's effect on the lab state (nslab/kernel/labstate.py): what the kernel does, side
effects included, and what it refuses, with the kernel's own errno.

The dry run applies these instead of netlink, so its messages are the real run's: an
errno raised here is worded by the same code that words the kernel's (`ops.apply_error`).
The side effects are the measured ones (tests/test_model_contract.py compares the state
after every step with `ip -j`): a link taken down or set below IPv6's minimum MTU loses its
IPv6 addresses and the routes through it; lo gets 127.0.0.1/8 and ::1 when it first comes
up; a deleted veth takes its other end along; a moved link arrives down and bare.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from typing import Any

from ..base.errors import CommandError, InterfaceGoneError
from ..kernel.inventory import Link, Route, route_family, same_dest
from ..kernel.labstate import ETH_MTU, LabState, NsState
from ..kernel.netns import HOST
from .op_text import ep

Op = dict[str, Any]
IPV6_MIN_MTU = 1280
ETH_MIN_MTU, ETH_MAX_MTU = 68, 65535
RTPROT_BOOT = 3
STACKED = ("macvlan", "vxlan")  # kinds the kernel deletes with their lower interface


def refuse(code: int) -> OSError:
    return OSError(code, os.strerror(code))


# -- lookups, as the Kernel's ------------------------------------------------------
def ns_of(state: LabState, ns: str) -> NsState:
    found = state.nss.get(ns)
    if found is None:
        raise CommandError(f"no namespace {ns!r}")
    return found


def link_of(state: LabState, ns: str, name: str) -> Link:
    where = ns_of(state, ns)
    link = where.links.get(name)
    if link is None and where.opaque:  # inside a container: whatever it holds is taken on trust
        link = state.new_link(ns, name, "device")
    if link is None:
        raise InterfaceGoneError(f"no interface {ep(ns, name)}", ns, name)
    return link


def _free(state: LabState, ns: str, name: str) -> None:
    if name in ns_of(state, ns).links:
        raise refuse(errno.EEXIST)


def _gw_dev(where: NsState, gw: str, dev: str | None = None) -> str | None:
    """The up link (dev, when given) with an address on the gateway's subnet: where the kernel
    sends a route through that gateway; None when there is none."""
    addr = ipaddress.ip_address(gw)
    for link in where.links.values():
        if not link.up or (dev is not None and link.name != dev):
            continue
        if any(addr in ipaddress.ip_interface(c).network for c in link.addrs):
            return link.name
    for r in where.routes:  # a gateway on a static route out of an up link (10.0.0.2/32 dev eth0)
        out = where.links.get(r.dev) if r.dev else None
        if (out is not None and out.up and r.gw is None and (dev is None or out.name == dev)
                and r.dst != "default" and addr in ipaddress.ip_network(r.dst)):
            return out.name
    up = dev is not None and dev in where.links and where.links[dev].up
    return dev if addr.is_link_local and up else None  # fe80:: via a named link that is up: on-link


def _prune_routes(where: NsState, lost_ipv4: str | None = None) -> None:
    """Routes out of a link that went or went down go, as do IPv6 routes out of a link that cannot
    carry IPv6; a link's last IPv4 address takes its IPv4 routes along (measured: the kernel keeps
    a route whose gateway left the subnet while the link still has IPv4, and IPv6 routes stay)."""
    def keeps(r: Route) -> bool:
        dev = where.links.get(r.dev) if r.dev else None
        if r.dev and (dev is None or not dev.up):
            return False
        if r.family == 10 and dev is not None and dev.mtu < IPV6_MIN_MTU:
            return False
        return not (r.family == 2 and lost_ipv4 is not None and r.dev == lost_ipv4)
    where.routes = [r for r in where.routes if keeps(r)]


def _drop_ipv6(link: Link, keep_global: bool = False) -> None:
    link.addrs = [a for a in link.addrs if ":" not in a or (keep_global and not a.startswith("fe80:"))]


def _drop(state: LabState, ns: str, name: str) -> None:
    """An interface goes: a veth's other end too, ports lose their master, routes through it go."""
    where = state.nss.get(ns)
    link = where.links.pop(name, None) if where is not None else None
    if where is None or link is None:
        return
    where.shaping.pop(name, None)
    where.flaps.discard(name)
    for other in where.links.values():
        if other.master == name:
            other.master = None
    for other in [x for x in where.links.values() if x.kind in STACKED and x.link_index == link.index]:
        _drop(state, ns, other.name)  # a macvlan or vxlan goes with the interface it is on
    _prune_routes(where)
    if link.peer is not None:
        _drop(state, *link.peer)


# -- the effects ---------------------------------------------------------------------
def ns_add(state: LabState, op: Op) -> None:
    if op["ns"] in state.nss:
        raise CommandError(f"namespace {op['ns']!r} exists already")
    state.add_ns(op["ns"])


def ns_del(state: LabState, op: Op) -> None:
    if op["ns"] == HOST:
        raise CommandError("the host namespace cannot be deleted")
    where = ns_of(state, op["ns"])
    for name in list(where.links):
        _drop(state, op["ns"], name)
    del state.nss[op["ns"]]


def ns_link(state: LabState, op: Op) -> None:
    if op["ns"] in state.nss:
        raise CommandError(f"namespace {op['ns']!r} exists already")
    state.add_ns(op["ns"], opaque=True)


def prog_start(state: LabState, op: Op) -> None:
    ns_of(state, op["ns"])  # a program runs in a namespace the lab has


def in_lab_ns(state: LabState, op: Op) -> None:
    ns_of(state, op["ns"])  # a container started inside a namespace the lab has (`--network lab`)


def outside_model(state: LabState, op: Op) -> None:
    pass  # a container in a namespace of the lab's goes: the model's network keeps the namespace


def prog_stop(state: LabState, op: Op) -> None:
    pass  # a program is no part of the model's network


def ctr_rm(state: LabState, op: Op) -> None:
    state.nss.pop(op["ns"], None)  # the name may have gone before (`ns del`): the container goes all the same


def ns_unlink(state: LabState, op: Op) -> None:
    ns_of(state, op["ns"])
    del state.nss[op["ns"]]


def veth(state: LabState, op: Op) -> None:
    ns, pns = op["ns"], op["peer_ns"]
    ns_of(state, ns), ns_of(state, pns)
    master = link_of(state, ns, op["master"]).name if op.get("master") else None
    _free(state, ns, op["name"])
    _free(state, pns, op["peer"])
    mtu = op.get("mtu") or ETH_MTU
    a = state.new_link(ns, op["name"], "veth", mtu, op.get("mac") or "")
    b = state.new_link(pns, op["peer"], "veth", mtu, op.get("peer_mac") or "")
    a.peer, b.peer, a.master = (pns, b.name), (ns, a.name), master
    a.up = bool(op.get("up"))


def bridge(state: LabState, op: Op) -> None:
    _free(state, op["ns"], op["name"])
    link = state.new_link(op["ns"], op["name"], "bridge", op.get("mtu") or ETH_MTU, op.get("mac") or "")
    link.up = bool(op.get("up", True))


def link_del(state: LabState, op: Op) -> None:
    link = link_of(state, op["ns"], op["name"])
    _drop(state, op["ns"], link.name)


def link_set(state: LabState, op: Op) -> None:
    ns = op["ns"]
    link = link_of(state, ns, op["name"])
    where = state.nss[ns]
    if "netns" in op:
        return _move(state, op, link)
    if "master" in op and op["master"]:
        master = link_of(state, ns, op["master"])
        if link.kind == "bridge" and master.kind == "bridge":
            raise refuse(errno.ELOOP)  # a bridge cannot be another's port
        if link.kind == "loopback":
            raise refuse(errno.EINVAL)
        link.master = master.name
    elif "master" in op:
        link.master = None
    if "mtu" in op:
        if not ETH_MIN_MTU <= op["mtu"] <= ETH_MAX_MTU:
            raise refuse(errno.EINVAL)
        link.mtu = op["mtu"]
        if link.mtu < IPV6_MIN_MTU:  # the kernel takes IPv6 off a link that cannot carry it
            _drop_ipv6(link)
    if "mac" in op:
        first = int(op["mac"].split(":")[0], 16)
        if first & 1 or op["mac"].replace(":", "").strip("0") == "":  # multicast or all zeros
            raise refuse(errno.EADDRNOTAVAIL)
        link.mac = op["mac"]
    if "rename" in op:
        _rename(state, ns, link, op["rename"])
    if "up" in op:
        if op["up"] and not link.up and link.kind == "loopback":
            link.addrs += [a for a in ("127.0.0.1/8", "::1/128") if a not in link.addrs]
        if not op["up"] and link.up:  # a link already down loses nothing
            _drop_ipv6(link, keep_global=bool(op.get("keep_inet6")))  # undoing `up` puts them back
        link.up = bool(op["up"])
    _prune_routes(where)


def _rename(state: LabState, ns: str, link: Link, new: str) -> None:
    where = state.nss[ns]
    _free(state, ns, new)
    old = link.name
    del where.links[old]
    link.name = new
    where.links[new] = link
    if old in where.shaping:  # a qdisc stays with its interface
        where.shaping[new] = where.shaping.pop(old)
    for other in where.links.values():
        if other.master == old:
            other.master = new
    for r in where.routes:
        if r.dev == old:
            r.dev = new
    _repoint_peer(state, link, (ns, old), (ns, new))


def _repoint_peer(state: LabState, link: Link, was: tuple[str, str], now: tuple[str, str]) -> None:
    if link.peer is None:
        return
    other = state.nss.get(link.peer[0])
    peer = other.links.get(link.peer[1]) if other is not None else None
    if peer is not None and peer.peer == was:
        peer.peer = now


def _move(state: LabState, op: Op, link: Link) -> None:
    src, target = op["ns"], op["netns"]
    if target == src:
        raise CommandError(f"{ep(src, link.name)} is already in {src}")
    there = ns_of(state, target)
    if link.name in there.links:
        raise CommandError(f"{ep(target, link.name)} exists already")
    if link.kind in ("bridge", "loopback"):  # NETIF_F_NETNS_LOCAL
        raise refuse(errno.EINVAL)
    where = state.nss[src]
    del where.links[link.name]
    where.shaping.pop(link.name, None)  # measured: a moved link arrives with the kernel's default qdisc
    for other in where.links.values():
        if other.master == link.name:
            other.master = None
    _prune_routes(where)
    link.ns, link.up, link.master, link.addrs = target, False, None, []  # the kernel resets them
    there.links[link.name] = link
    _repoint_peer(state, link, (src, link.name), (target, link.name))


def addr_add(state: LabState, op: Op) -> None:
    link = link_of(state, op["ns"], op["name"])
    if state.nss[op["ns"]].opaque:
        return
    iface = ipaddress.ip_interface(op["cidr"])
    cidr, ip = str(iface), iface.ip
    if ip.version == 6 and link.mtu < IPV6_MIN_MTU:
        raise refuse(errno.EINVAL)
    if cidr in link.addrs or (ip.version == 6 and any(ipaddress.ip_interface(a).ip == ip for a in link.addrs)):
        raise refuse(errno.EEXIST)  # IPv6 keeps one prefix per address, IPv4 one entry per prefix
    link.addrs.append(cidr)


def addr_del(state: LabState, op: Op) -> None:
    link = link_of(state, op["ns"], op["name"])
    if state.nss[op["ns"]].opaque:
        return
    cidr = ipaddress.ip_interface(op["cidr"])
    if str(cidr) not in link.addrs:
        raise refuse(errno.EADDRNOTAVAIL)
    same = [a for a in link.addrs if ipaddress.ip_interface(a).network == cidr.network]
    # IPv4: a primary address takes its subnet's secondaries along (promote_secondaries is off)
    gone = set(same) if cidr.version == 4 and same and same[0] == str(cidr) else {str(cidr)}
    link.addrs = [a for a in link.addrs if a not in gone]
    last_ipv4 = cidr.version == 4 and not any(":" not in a for a in link.addrs)
    _prune_routes(state.nss[op["ns"]], lost_ipv4=link.name if last_ipv4 else None)


def route_add(state: LabState, op: Op) -> None:
    where = ns_of(state, op["ns"])
    if where.opaque:
        return
    dev = link_of(state, op["ns"], op["dev"]) if op.get("dev") else None
    family = route_family(op["dst"], op.get("gw"))
    if dev is not None and family == 10 and dev.mtu < IPV6_MIN_MTU:
        raise refuse(errno.ENODEV)
    gw = ipaddress.ip_address(op["gw"]) if op.get("gw") else None
    via = _gw_dev(where, op["gw"], dev.name if dev else None) if gw is not None else None
    mine = gw is not None and any(ipaddress.ip_interface(c).ip == gw for x in where.links.values() for c in x.addrs)
    if gw is not None and gw.version == 6 and mine and via is not None:
        raise refuse(errno.EINVAL)  # "Gateway can not be a local address"
    if gw is not None and via is None and gw.is_link_local and dev is not None:
        raise refuse(errno.ENETDOWN)  # fe80:: out of a link that is down
    if gw is not None and via is None:
        # measured: IPv6 says no route to host; IPv4 says the network is down when the gateway is
        # an address of a link that is down (its local route points there), else unreachable
        raise refuse(errno.EHOSTUNREACH if gw.version == 6 else errno.ENETDOWN if mine else errno.ENETUNREACH)
    if dev is not None and not op.get("gw") and not dev.up:
        raise refuse(errno.ENETDOWN)
    net = None if op["dst"] == "default" else ipaddress.ip_network(op["dst"], strict=False)
    dst = "default" if net is None or net.prefixlen == 0 else str(net)  # as the kernel lists it
    if any(r.dst == dst and r.family == family for r in where.routes) or (family == 2 and _prefix_route(where, dst)):
        raise refuse(errno.EEXIST)
    where.routes.append(Route(op["ns"], dst, op.get("gw"), dev.name if dev else via, RTPROT_BOOT, family))


def _prefix_route(where: NsState, dst: str) -> bool:
    """The kernel's own route to an up link's IPv4 subnet (metric 0, as a static IPv4 route's)."""
    return any(link.up and str(ipaddress.ip_interface(a).network) == dst
               for link in where.links.values() for a in link.addrs if ":" not in a)


def route_del(state: LabState, op: Op) -> None:
    where = ns_of(state, op["ns"])
    found = [r for r in where.routes if same_dest(r, op["dst"], op.get("gw"))]
    if op.get("gw"):
        found = [r for r in found if r.gw == op["gw"]] or found
    if not found:
        raise CommandError(f"no route to {op['dst']} in {op['ns']}")
    where.routes.remove(found[0])


def sysctl(state: LabState, op: Op) -> None:
    where = ns_of(state, op["ns"])
    if not where.opaque and not _sysctl_known(where, op["key"]):
        raise CommandError(f"no sysctl {op['key']}")  # as the kernel's backend says it
    where.sysctls[op["key"]] = str(op["value"])


def _sysctl_known(where: NsState, key: str) -> bool:
    """Whether a fresh namespace has the key: this machine's /proc/sys lists the same ones, but a
    per-interface key (net.ipv4.conf.IF.x) exists for the namespace's own interfaces."""
    parts = key.split(".")
    if len(parts) > 4 and parts[2] in ("conf", "neigh") and parts[3] not in ("all", "default"):
        if parts[3] not in where.links:
            return False
        parts[3] = "default"
    return os.path.exists("/proc/sys/" + "/".join(parts))


def ctr_veth(state: LabState, op: Op) -> None:
    _free(state, op["ns"], op["name"])
    state.new_link(op["ns"], op["name"], "veth", op.get("mtu") or ETH_MTU)


def ovs_br_add(state: LabState, op: Op) -> None:
    _free(state, HOST, op["name"])
    state.new_link(HOST, op["name"], "openvswitch")


def ovs_br_del(state: LabState, op: Op) -> None:
    link_del(state, {"ns": HOST, "name": op["name"]})


def unknown_inside(state: LabState, op: Op) -> None:
    """Ops inside a container, OVS ports: what they change is not part of the model."""
