"""`export netplan DIR`: each machine of the lab (each namespace, the host too) as the netplan
file it would keep across a reboot, DIR/NS/50-nslab.yaml.

veth ends become ethernets matched by name (a note says how to match by MAC on real hardware),
bridges list their ports, and addresses and routes go where they leave by.  What netplan has no
key for (sysctls such as forwarding, lo's extra addresses, a link kept down) is written as a
comment naming the journal line it came from.  Strings are written as JSON strings, which YAML
reads as double-quoted scalars, so no interface name can break the file.
"""

from __future__ import annotations

import ipaddress
import json

from ..kernel.inventory import Link
from ..kernel.labstate import ETH_MTU
from ..ops.shell_words import comment_text
from .export_machines import FORWARDING, Machine, Origins, a_kind, route_text

FILE = "50-nslab.yaml"


def q(text: object) -> str:
    return json.dumps(str(text))


def _comment(text: str) -> str:
    return f"  # {text}" if text else ""


def _also(text: str) -> str:
    return f"; {text}" if text else ""


def on_link(link: Link, gw: str) -> bool:
    """A gateway outside every subnet of the link: netplan must be told it is reachable there."""
    addr = ipaddress.ip_address(gw)
    return not addr.is_link_local and not any(
        addr.version == ipaddress.ip_interface(a).version and addr in ipaddress.ip_interface(a).network
        for a in link.addrs)


def _routes(m: Machine, link: Link, origins: Origins, pad: str) -> list[str]:
    mine = [r for r in m.routes if r.dev == link.name]
    if not mine:
        return []
    out = [f"{pad}routes:"]
    for r in mine:
        out.append(f"{pad}  - to: {q(r.dst)}{_comment(origins.of('route', m.ns, r.dst))}")
        if r.gw:
            out.append(f"{pad}    via: {q(r.gw)}")
            if on_link(link, r.gw):
                out.append(f"{pad}    on-link: true")
        else:
            out.append(f"{pad}    scope: link")
    return out


def _body(m: Machine, link: Link, origins: Origins, pad: str) -> list[str]:
    out = []
    if link.addrs:
        out.append(f"{pad}addresses:")
        out += [f"{pad}  - {q(a)}{_comment(origins.of('addr', m.ns, a))}" for a in link.addrs]
    if link.mtu and link.mtu != ETH_MTU:
        out.append(f"{pad}mtu: {link.mtu}")
    if m.mac_set(link):
        out.append(f"{pad}macaddress: {q(link.mac)}")
    out += _routes(m, link, origins, pad)
    if not link.up:
        out.append(f"{pad}# down in the lab: netplan brings it up (activation-mode: manual leaves that to you)")
    return out


def _entry(m: Machine, link: Link, origins: Origins, extra: list[str]) -> list[str]:
    body = extra + _body(m, link, origins, "      ")
    empty = all(line.lstrip().startswith("#") for line in body)  # comments alone would make it null
    return [f"    {q(link.name)}:" + (" {}" if empty else ""), *body]


def _mac_note(link: Link) -> str:
    return (f"    # on real hardware, match by MAC: match: {{macaddress: {q(link.mac)}}} and set-name: {q(link.name)}"
            if link.mac else "")


def machine_text(m: Machine, origins: Origins) -> str:
    ethernets: list[str] = []
    bridges: list[str] = []
    tunnels: list[str] = []
    notes: list[str] = []
    for link in m.links:
        if link.kind == "veth" or (m.container and link.kind not in ("bridge", "macvlan", "vxlan")):
            ethernets += [x for x in (_mac_note(link),) if x] + _entry(m, link, origins, [])
        elif link.kind == "bridge":
            ports = m.ports(link.name)
            extra = ["      interfaces: [" + ", ".join(q(p) for p in ports) + "]"] if ports else []
            bridges += _entry(m, link, origins, extra)
        elif link.kind == "vxlan" and link.name in m.stacked:
            op = m.stacked[link.name]
            extra = ["      mode: vxlan", f"      id: {op['vni']}"]
            extra += [f"      remote: {q(op['remote'])}"] if op.get("remote") else [f"      # multicast group {op['group']}: netplan 0.106 has no key for it"]
            extra += [f"      link: {q(op['dev'])}"] if op.get("dev") else []
            extra += [f"      port: {op['port']}"] if op.get("port") else []
            tunnels += _entry(m, link, origins, extra)
        else:
            what = f"macvlan on {m.stacked[link.name]['link']} (mode {m.stacked[link.name]['mode']})" \
                if link.name in m.stacked and link.kind == "macvlan" else link.kind
            notes.append(f"# {comment_text(link.name)}: {a_kind(comment_text(what))}, which netplan cannot express"
                         + (f"; addresses {', '.join(link.addrs)}" if link.addrs else ""))
    known = {x.name for x in m.links}
    for r in m.routes:
        if r.dev not in known:
            notes.append(f"# route {comment_text(route_text(r))}: not out of an interface netplan writes"
                         + _also(origins.of("route", m.ns, r.dst)))
    for a in m.loopback:
        notes.append(f"# lo: address {a}, which this file leaves to you{_also(origins.of('addr', m.ns, a))}")
    for key, value in m.sysctls.items():
        why = "forwarding" if key in FORWARDING else "a sysctl"
        notes.append(f"# sysctl {comment_text(key)} = {comment_text(value)} ({why}: netplan has no key; "
                     f"put it in /etc/sysctl.d/50-nslab.conf){_also(origins.of('sysctl', m.ns, key))}")
    out = [f"# Written by nslab: the machine {comment_text(m.ns)!r} of the lab, as netplan configuration.",
           "# On that machine: copy it to /etc/netplan/ (mode 0600), then `netplan try` or `netplan apply`.",
           "# Interfaces are matched by the names the lab gave them.",
           *notes, "network:", "  version: 2", "  renderer: networkd"]
    if ethernets:
        out += ["  ethernets:", *ethernets]
    if bridges:
        out += ["  bridges:", *bridges]
    if tunnels:
        out += ["  tunnels:", *tunnels]
    return "\n".join(out) + "\n"


def texts(machines: list[Machine], origins: Origins) -> dict[str, str]:
    """Namespace -> its netplan file's text."""
    return {m.ns: machine_text(m, origins) for m in machines}
