"""Listings across the lab (issue 12): `link ls --all`, `addr ls --all`, `route ls --all` cover
every namespace of the lab, and `addr ls` shows the kernel's IPv6 link-local addresses, marked.
Judged by `ip -j` in each namespace (the oracle, not nslab)."""

from __future__ import annotations

from conftest import ip_j

from nslab.base.results import Table
from nslab.lab import Lab


def table(lab: Lab, line: str) -> Table:
    out = lab.run(line)
    assert out.ok, (line, [getattr(e, "message", e) for e in out.events])
    return next(e for e in out.events if isinstance(e, Table))


def build(lab: Lab) -> None:
    for line in ("ns add a b", "veth a:e0 b:e0", "a link e0 up", "b link e0 up", "a addr add e0 10.61.0.1/24",
                 "b addr add e0 10.61.0.2/24", "b addr add e0 fd00:61::2/64", "b route add default via 10.61.0.1"):
        assert lab.run(line).ok, line


def test_the_all_listings_cover_every_namespace_as_ip_sees_them(lab: Lab) -> None:
    build(lab)
    links = {(r[0], r[1]) for r in table(lab, "link ls --all").rows}
    addrs = {(r[0], r[1], r[2], r[4] != "") for r in table(lab, "addr ls --all").rows}
    routes = {(r[0], r[1]) for r in table(lab, "route ls --all").rows}
    want_links, want_addrs, want_routes = set(), set(), set()
    for ns in ("host", "a", "b"):
        want_links |= {(ns, m["ifname"]) for m in ip_j(lab, ns, "link", "show")}
        for m in ip_j(lab, ns, "addr", "show"):
            want_addrs |= {(ns, m["ifname"], f"{x['local']}/{x['prefixlen']}", x["local"].startswith("fe80:"))
                           for x in m["addr_info"]}
        v6 = [r for r in ip_j(lab, ns, "-6", "route", "show") if not r["dst"].startswith(("fe80:", "ff00:"))]
        want_routes |= {(ns, r["dst"]) for r in ip_j(lab, ns, "route", "show") + v6}  # the kernel's fe80::/64 aside
    assert links == want_links
    assert addrs == want_addrs and any(local for *_, local in addrs)  # link-local ones are there, marked
    assert routes == want_routes and ("b", "default") in routes


def test_addr_ls_marks_link_local_addresses_as_the_kernels(lab: Lab) -> None:
    build(lab)
    rows = table(lab, "b addr ls").rows
    local = [r for r in rows if r[2].startswith("fe80:")]
    mine = [r for r in rows if not r[2].startswith("fe80:")]
    assert local and all(r[4] == "link-local (by the kernel)" for r in local)
    assert sorted(r[2] for r in mine) == ["10.61.0.2/24", "fd00:61::2/64"] and all(r[4] == "" for r in mine)


def test_a_namespace_and_all_together_are_refused_in_words(lab: Lab) -> None:
    build(lab)
    out = lab.run("link ls a --all")
    assert not out.ok and "a namespace (a) or --all, not both" in out.events[-1].message
