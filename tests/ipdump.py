"""The oracle's picture of a network world: `ip -j` dumps of the root namespace and every
namespace under /run/netns, normalised so two builds of the same lab compare equal.

Run as a script inside the world to dump (`nsenter --net=... python3 tests/ipdump.py`, or inside
`unshare -n -m`); it prints JSON.  It uses iproute2 only, never nslab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CARRIER_FLAGS = {"LOWER_UP", "NO-CARRIER", "M-DOWN", "DORMANT"}  # timing, not configuration


def _ip(ns: str | None, *args: str) -> list[dict]:
    cmd = ["ip", "-j", *(["-n", ns] if ns else []), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]")


def _forwarding(ns: str | None) -> str:
    pre = ["ip", "netns", "exec", ns] if ns else []
    out = subprocess.run([*pre, "cat", "/proc/sys/net/ipv4/ip_forward"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def namespaces() -> list[str]:
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def dump() -> dict[str, dict]:
    names = namespaces()
    raw = {ns: _ip(None if ns == "host" else ns, "-d", "link", "show") for ns in ["host", *names]}
    # nsid -> namespace name, as each namespace sees the others (the root has no name: "host")
    ids: dict[str, dict[int, str]] = {}
    for ns in ["host", *names]:
        ids[ns] = {e["nsid"]: e.get("name", "host") for e in _ip(None if ns == "host" else ns, "netns", "list-id")}
    world: dict[str, dict] = {}
    for ns, links in raw.items():
        by_index = {x["ifindex"]: x["ifname"] for x in links}
        out_links = []
        for x in links:
            peer = None
            if x.get("link_netnsid") is not None and "link_index" in x:
                pns = ids[ns].get(x["link_netnsid"], "?")
                pidx = {y["ifindex"]: y["ifname"] for y in raw.get(pns, [])}
                peer = f"{pns}:{pidx.get(x['link_index'], '?')}"
            elif x.get("link"):
                peer = f"{ns}:{x['link']}"
            elif "link_index" in x and x["link_index"] in by_index:
                peer = f"{ns}:{by_index[x['link_index']]}"
            out_links.append({
                "name": x["ifname"],
                "kind": (x.get("linkinfo") or {}).get("info_kind", "loopback" if x["ifname"] == "lo" else "?"),
                "flags": sorted(set(x.get("flags", [])) - CARRIER_FLAGS),
                "mtu": x.get("mtu"),
                "master": x.get("master"),
                "peer": peer,
            })
        addrs = []
        for x in _ip(None if ns == "host" else ns, "addr", "show"):
            for a in x.get("addr_info", []):
                if a.get("family") == "inet6" and a.get("scope") == "link":
                    continue
                addrs.append(f"{x['ifname']} {a['local']}/{a['prefixlen']}")
        routes = []
        for fam in ("-4", "-6"):
            for r in _ip(None if ns == "host" else ns, fam, "route", "show"):
                if r.get("dst", "").startswith("fe80::"):
                    continue
                # `ip route add` says proto boot, netlink libraries proto static: both are "added by hand"
                proto = r.get("protocol", "boot")
                r["protocol"] = "user" if proto in ("boot", "static") else proto
                routes.append(" ".join(str(r.get(k, "")) for k in ("dst", "gateway", "dev", "protocol", "scope")))
        world[ns] = {
            "links": sorted(out_links, key=lambda link: link["name"]),
            "addrs": sorted(addrs),
            "routes": sorted(routes),
            "ip_forward": _forwarding(None if ns == "host" else ns),
        }
    return world


if __name__ == "__main__":
    json.dump(dump(), sys.stdout, indent=1, sort_keys=True)
