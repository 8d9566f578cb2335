"""Readers for the tests of the production exports: systemd-networkd files (netplan's, or nslab's
own) and the oracle's `ip -j` picture of a namespace, both as the same small summary: per
interface its addresses, bridge and routes, and the bridges made."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

# The link kinds of #15 and what a production file must carry besides a plain address: a vxlan
# (netplan's tunnels), a macvlan (which netplan cannot express: a comment), IPv6, routes via a
# gateway and scope link, an MTU, a bridge inside a namespace, a link kept down, forwarding.
KINDS_LAB = """# Tunnel ends, a macvlan, IPv6, on-link and scope-link routes, an MTU, a bridge inside a namespace
ns add a b sw
veth a:eth0 b:eth0
a addr add eth0 10.9.0.1/24
b addr add eth0 10.9.0.2/24
a addr add eth0 fd00:9::1/64
a link eth0 up
b link eth0 up
a vxlan vx0 id 42 remote 10.9.0.2 dev eth0 port 4789
b vxlan vx0 id 42 remote 10.9.0.1 dev eth0
a addr add vx0 10.42.0.1/24
a link vx0 up
a link vx0 mtu 1400
b macvlan mv0 eth0 mode bridge
b addr add mv0 10.9.0.3/24
b link mv0 up
a route add 192.0.2.0/24 via 10.9.0.2
a route add 198.51.100.0/24 dev eth0
a route add 2001:db8::/64 via fd00:9::2
veth sw:p1 a:eth1
veth sw:p2 b:eth1
sw bridge br9 add p1 p2
sw addr add br9 10.7.0.254/24
a addr add eth1 10.7.0.1/24
a link eth1 up
b link eth1 down
a sysctl net.ipv4.ip_forward 1
sw bridge add br8
sw link br8 down
a link eth1 mac 02:00:00:00:07:01
"""
# Names that YAML, an ini file and a shell line each read specially: quoted or escaped, never obeyed
ODD_NAMES = """ns add a b
veth a:x#1 "b:q\\"z"
veth a:y-2 "b:it's"
a addr add x#1 10.0.0.1/24
b addr add "q\\"z" 10.0.0.2/24
a link x#1 up
b link "q\\"z" up
a link y-2 up
b route add 192.0.2.0/24 via 10.0.0.1 dev "q\\"z"
"""
CANNOT = {"macvlan", "openvswitch", "tun"}  # OVS bridges of the userspace datapath are taps  # kinds netplan 0.106 has no key for: the file names them in a comment


def sections(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """An ini file of systemd's as (section, [(key, value)]) in order; sections repeat ([Route])."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            out.append((line[1:-1], []))
            continue
        key, _, value = line.partition("=")
        out[-1][1].append((key.strip(), value.strip()))
    return out


def networkd(where: Path) -> dict:
    """{"bridges": {name}, "links": {name: {"addrs", "bridge", "routes"}}} from a directory of
    .netdev/.network files."""
    bridges: set[str] = set()
    links: dict[str, dict] = {}
    if not where.exists():  # netplan writes no directory for a machine with nothing to configure
        return {"bridges": bridges, "links": links}
    for path in sorted(where.glob("*.netdev")):
        keys = dict(kv for name, items in sections(path) if name == "NetDev" for kv in items)
        if keys.get("Kind") == "bridge":
            bridges.add(keys["Name"])
    for path in sorted(where.glob("*.network")):
        secs = sections(path)
        name = dict(kv for s, items in secs if s == "Match" for kv in items)["Name"]
        net = [kv for s, items in secs if s == "Network" for kv in items]
        routes = set()
        for s, items in secs:
            if s == "Route":
                keys = dict(items)
                routes.add((keys["Destination"], keys.get("Gateway", "")))
        mac = next((v for s, items in secs if s == "Link" for k, v in items if k == "MACAddress"), None)
        links[name] = {"addrs": {v for k, v in net if k == "Address"}, "mac": mac,
                       "bridge": next((v for k, v in net if k == "Bridge"), None), "routes": routes}
    return {"bridges": bridges, "links": links}


def keyed(where: Path, drop: frozenset[str] | set[str] = frozenset()) -> dict[str, dict[str, list]]:
    """Each file's keys, section by section, sorted: file -> {section: [sorted key=value lines]};
    a key whose value is one of DROP (an interface the other side cannot make) left out."""
    out: dict[str, dict[str, list]] = {}
    for path in sorted(p for p in (where.iterdir() if where.exists() else []) if p.suffix in (".network", ".netdev")):
        per: dict[str, list] = {}
        for s, items in sections(path):
            per.setdefault(s, []).append(sorted(f"{k}={v}" for k, v in items if v not in drop))
        out[path.name] = {s: sorted(v) for s, v in per.items()}
    return out


def _ip(ns_path: str, *args: str) -> list[dict]:
    out = subprocess.run(["nsenter", f"--net={ns_path}", "ip", "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout or "[]")


def oracle(ns_path: str, skip: set[str] = CANNOT) -> dict:
    """The same summary from iproute2 inside the namespace: every interface but lo, its global
    addresses, its bridge and the routes out of it that were added by hand."""
    links: dict[str, dict] = {}
    bridges = set()
    for x in _ip(ns_path, "-d", "link", "show"):
        kind = (x.get("linkinfo") or {}).get("info_kind")
        if x["ifname"] == "lo" or kind in skip:
            continue
        kind = (x.get("linkinfo") or {}).get("info_kind")
        if kind == "bridge":
            bridges.add(x["ifname"])
        links[x["ifname"]] = {"addrs": set(), "bridge": x.get("master"), "routes": set(), "mac": x.get("address")}
    for x in _ip(ns_path, "addr", "show"):
        for a in x.get("addr_info", []):
            if x["ifname"] in links and a.get("scope") == "global":
                links[x["ifname"]]["addrs"].add(f"{a['local']}/{a['prefixlen']}")
    for fam, any_dst in (("-4", "0.0.0.0/0"), ("-6", "::/0")):
        for r in _ip(ns_path, fam, "route", "show"):
            if r.get("protocol") == "kernel" or r.get("dev") not in links or r.get("dst", "").startswith("fe80:"):
                continue
            dst = any_dst if r["dst"] == "default" else r["dst"]
            if "/" not in dst:
                dst += "/32" if fam == "-4" else "/128"
            links[r["dev"]]["routes"].add((dst, r.get("gateway", "")))
    return {"bridges": bridges, "links": links}


def lab_namespaces() -> set[str]:
    """The lab's named namespaces as /run/netns lists them (the test's own, private), without
    nslab's hidden helpers (.ovs-...)."""
    return {n for n in os.listdir("/run/netns") if not n.startswith(".")}
