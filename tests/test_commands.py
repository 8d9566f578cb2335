"""Each command's effect on the real kernel, judged by `ip -j` and iputils ping run by nsenter (not by nslab)."""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import ip_j, iputils_ping, ns_path

from nslab.base.results import ContextChanged, Exited, ExpectResult, Failure, Message, Output, PingReply, PingSummary, Table, Tree


def ok(lab, *lines: str):
    out = None
    for line in lines:
        out = lab.run(line)
        assert out.ok, f"{line}: {out.error}"
    return out


def fails(lab, line: str, *words: str) -> str:
    out = lab.run(line)
    assert not out.ok, f"{line} should fail"
    msg = out.error or ""
    for w in words:
        assert w in msg, msg
    assert "Traceback" not in msg and "NetlinkError" not in msg
    return msg


def links(lab, ns: str) -> dict[str, dict]:
    return {x["ifname"]: x for x in ip_j(lab, ns, "-d", "link", "show")}


def addrs(lab, ns: str, dev: str) -> set[str]:
    out = set()
    for x in ip_j(lab, ns, "addr", "show", "dev", dev):
        for a in x.get("addr_info", []):
            if a.get("scope") != "link":
                out.add(f"{a['local']}/{a['prefixlen']}")
    return out


def routes(lab, ns: str, *family: str) -> set[tuple]:
    return {(r["dst"], r.get("gateway"), r.get("dev")) for r in ip_j(lab, ns, *family, "route", "show")}


def netns_names() -> set[str]:
    return set(os.listdir("/run/netns"))


def is_up(link: dict) -> bool:
    return "UP" in link["flags"]


def kind(link: dict) -> str | None:
    return link.get("linkinfo", {}).get("info_kind")


def events(out, cls):
    return [e for e in out.events if isinstance(e, cls)]


def peer_index(link: dict) -> int:
    return link["link_index"]


# ---- namespaces ---------------------------------------------------------------


def test_ns_add_del(lab):
    ok(lab, "ns add na nb")
    assert {"na", "nb"} <= netns_names()
    lo = links(lab, "na")
    assert list(lo) == ["lo"] and not is_up(lo["lo"])  # lo stays as the kernel makes it
    ok(lab, "ns del na")
    assert "na" not in netns_names() and "nb" in netns_names()
    fails(lab, "ns del na", "na")
    ok(lab, "ns del nb")
    assert not {"na", "nb"} & netns_names()


def test_ns_add_existing_fails_in_words(lab):
    ok(lab, "ns add dup")
    fails(lab, "ns add dup", "namespace 'dup' exists already")


def test_ns_ls_lists_lab_namespaces(lab):
    ok(lab, "ns add l1 l2")
    out = ok(lab, "ns ls")
    (table,) = events(out, Table)
    names = [row[0] for row in table.rows]
    assert {"l1", "l2"} <= set(names)
    ok(lab, "ns del l1")
    (table,) = events(ok(lab, "ns ls"), Table)
    assert "l1" not in [row[0] for row in table.rows]


# ---- veth in its four forms ---------------------------------------------------------------


def test_veth_if_if(lab):
    ok(lab, "veth v0 v1")
    h = links(lab, "host")
    assert kind(h["v0"]) == kind(h["v1"]) == "veth"
    assert h["v0"]["link"] == "v1" and h["v1"]["link"] == "v0"  # same namespace: ip names the peer


def test_veth_if_ns_if(lab):
    ok(lab, "ns add n1", "veth v0 n1:eth0")
    h, n = links(lab, "host"), links(lab, "n1")
    assert kind(h["v0"]) == "veth" and kind(n["eth0"]) == "veth"
    assert peer_index(h["v0"]) == n["eth0"]["ifindex"] and peer_index(n["eth0"]) == h["v0"]["ifindex"]
    assert "v0" not in n and "eth0" not in h


def test_veth_bare_namespaces_get_first_free_eth(lab):
    ok(lab, "ns add n1 n2", "veth n1 n2")
    assert set(links(lab, "n1")) == {"lo", "eth0"} and set(links(lab, "n2")) == {"lo", "eth0"}
    ok(lab, "veth n1 n2")
    assert set(links(lab, "n1")) == {"lo", "eth0", "eth1"}
    ok(lab, "veth n1 n1")  # both ends in one namespace: two different free names
    assert set(links(lab, "n1")) == {"lo", "eth0", "eth1", "eth2", "eth3"}
    ok(lab, "n1 link del eth0", "veth n1 n2")  # eth0 is free again in n1; n2's eth0 went with its peer
    assert "eth0" in links(lab, "n1")
    n1, n2 = links(lab, "n1"), links(lab, "n2")
    assert kind(n1["eth0"]) == "veth"
    assert {"eth0", "eth1"} <= set(n2)


def test_veth_ns_if_ns_if(lab):
    ok(lab, "ns add n1 n2", "veth n1:a0 n2:b0")
    assert "a0" in links(lab, "n1") and "b0" in links(lab, "n2")
    assert not {"a0", "b0"} & set(links(lab, "host"))


def test_veth_host_prefix_and_context(lab):
    ok(lab, "ns add n1", "n1 veth x0 host:y0")
    assert "x0" in links(lab, "n1") and "y0" in links(lab, "host")


def test_veth_errors(lab):
    ok(lab, "veth v0 v1")
    fails(lab, "veth v0 v2", "v0 exists already")
    fails(lab, "veth q0 q0", "both ends")
    fails(lab, "veth nosuch:eth0 v9", "nosuch")
    assert "v2" not in links(lab, "host") and "v9" not in links(lab, "host")


# ---- link ---------------------------------------------------------------


def test_link_up_down(lab):
    ok(lab, "veth v0 v1", "link v0 up")
    assert is_up(links(lab, "host")["v0"])
    assert not is_up(links(lab, "host")["v1"])
    ok(lab, "link v0 down")
    assert not is_up(links(lab, "host")["v0"])


def test_link_name_keeps_state(lab):
    ok(lab, "veth v0 v1", "link v0 up", "link v0 name eth7")
    h = links(lab, "host")
    assert "v0" not in h and is_up(h["eth7"])
    ok(lab, "link v1 name eth8")
    assert not is_up(links(lab, "host")["eth8"])
    fails(lab, "link eth7 name eth8", "eth8 exists already")


def test_link_netns(lab):
    ok(lab, "ns add n1", "veth v0 v1", "link v1 netns n1")
    assert "v1" not in links(lab, "host") and "v1" in links(lab, "n1")
    ok(lab, "link n1:v1 netns host")
    assert "v1" in links(lab, "host")
    fails(lab, "link v1 netns nosuch", "nosuch")


def test_link_mtu_mac(lab):
    ok(lab, "veth v0 v1", "link v0 mtu 1400", "link v0 mac 02:00:00:aa:bb:cc")
    v0 = links(lab, "host")["v0"]
    assert v0["mtu"] == 1400 and v0["address"] == "02:00:00:aa:bb:cc"
    fails(lab, "link nosuch mtu 1400", "no interface nosuch")


def test_link_del_takes_the_peer(lab):
    ok(lab, "ns add n1", "veth v0 n1:eth0", "link del v0")
    assert "v0" not in links(lab, "host") and "eth0" not in links(lab, "n1")
    fails(lab, "link del v0", "no interface v0")
    fails(lab, "link del lo", "lo")


def test_link_ls(lab):
    ok(lab, "ns add n1", "veth v0 n1:eth0", "link v0 up")
    (t,) = events(ok(lab, "link ls"), Table)
    rows = {r[t.columns.index("name")]: r for r in t.rows}
    assert set(rows) == set(links(lab, "host"))
    v0 = rows["v0"]
    assert v0[t.columns.index("state")] == "UP" and v0[t.columns.index("peer")] == "n1:eth0"
    (t,) = events(ok(lab, "link ls n1"), Table)
    assert {r[t.columns.index("name")] for r in t.rows} == {"lo", "eth0"}


# ---- addresses ---------------------------------------------------------------


def test_addr_add_del_v4_v6(lab):
    ok(lab, "ns add n1", "veth v0 n1:eth0", "n1 link eth0 up")
    ok(lab, "addr add n1:eth0 10.0.0.1/24", "addr add n1:eth0 fd00::1/64")
    assert addrs(lab, "n1", "eth0") == {"10.0.0.1/24", "fd00::1/64"}
    v4 = [a for x in ip_j(lab, "n1", "-4", "addr", "show", "dev", "eth0") for a in x["addr_info"]][0]
    assert v4["broadcast"] == "10.0.0.255"  # as `ip addr add ... brd +` and pipework give it
    fails(lab, "addr add n1:eth0 10.0.0.1/24", "n1:eth0 has 10.0.0.1/24 already")
    ok(lab, "addr del n1:eth0 10.0.0.1/24")
    assert addrs(lab, "n1", "eth0") == {"fd00::1/64"}
    ok(lab, "n1 addr del eth0 fd00::1/64")
    assert addrs(lab, "n1", "eth0") == set()
    fails(lab, "addr del n1:eth0 10.0.0.1/24", "no address")
    fails(lab, "addr add nosuch 10.0.0.1/24", "no interface nosuch")


def test_addr_ls(lab):
    ok(lab, "ns add n1", "veth v0 n1:eth0", "addr add n1:eth0 10.0.0.1/24", "addr add v0 10.0.0.2/24")
    (t,) = events(ok(lab, "addr ls n1"), Table)
    assert [r[1:3] for r in t.rows if r[1] != "lo"] == [["eth0", "10.0.0.1/24"]]
    (t,) = events(ok(lab, "addr ls"), Table)
    assert ["v0", "10.0.0.2/24"] in [r[1:3] for r in t.rows]


# ---- routes ---------------------------------------------------------------


@pytest.fixture
def pair(lab):
    """n1:eth0 10.0.0.1/24 <-> n2:eth0 10.0.0.2/24, both up."""
    ok(lab, "ns add n1 n2", "veth n1 n2", "n1 link eth0 up", "n2 link eth0 up", "n1 link lo up", "n2 link lo up",
       "n1 addr add eth0 10.0.0.1/24", "n2 addr add eth0 10.0.0.2/24")
    return lab


def test_route_add_via_dev_default_del(pair):
    lab = pair
    ok(lab, "n1 route add 10.9.0.0/16 via 10.0.0.2")
    assert ("10.9.0.0/16", "10.0.0.2", "eth0") in routes(lab, "n1")
    ok(lab, "n1 route add 10.8.0.0/24 dev eth0")
    assert ("10.8.0.0/24", None, "eth0") in routes(lab, "n1")
    ok(lab, "n1 route add default via 10.0.0.2")
    assert ("default", "10.0.0.2", "eth0") in routes(lab, "n1")
    ok(lab, "n1 route add 10.7.0.0/24 via 10.0.0.2 dev eth0")
    assert ("10.7.0.0/24", "10.0.0.2", "eth0") in routes(lab, "n1")
    fails(lab, "n1 route add 10.9.0.0/16 via 10.0.0.2", "File exists")
    fails(lab, "n1 route add 10.6.0.0/24 via 10.5.0.1", "unreachable")  # gateway off-link: the kernel's words
    ok(lab, "n1 route del default", "n1 route del 10.9.0.0/16")
    r = routes(lab, "n1")
    assert not any(d in ("default", "10.9.0.0/16") for d, _, _ in r)
    assert ("10.8.0.0/24", None, "eth0") in r
    fails(lab, "n1 route del 10.9.0.0/16", "no route")
    # the default route makes 10.9.x reachable through n2 only once n2 answers for it
    ok(lab, "n2 addr add lo 10.9.0.1/32", "n1 route add 10.9.0.0/16 via 10.0.0.2")
    assert iputils_ping(lab, "n1", "10.9.0.1")


def test_route_ipv6(pair):
    lab = pair
    ok(lab, "n1 addr add eth0 fd00::1/64", "n2 addr add eth0 fd00::2/64", "n1 route add fd09::/64 via fd00::2")
    assert ("fd09::/64", "fd00::2", "eth0") in routes(lab, "n1", "-6")
    ok(lab, "n1 route add default via fd00::2")
    assert ("default", "fd00::2", "eth0") in routes(lab, "n1", "-6")
    fails(lab, "n1 route add 10.1.0.0/16 via fd00::2", "different IP versions")


def test_route_ls(pair):
    lab = pair
    ok(lab, "n1 route add default via 10.0.0.2")
    (t,) = events(ok(lab, "n1 route ls"), Table)
    rows = {(r[1], r[2], r[3], r[4]) for r in t.rows}
    assert ("default", "10.0.0.2", "eth0", "static") in rows
    assert ("10.0.0.0/24", "", "eth0", "kernel") in rows
    (t,) = events(ok(lab, "route ls n2"), Table)
    assert {r[0] for r in t.rows} == {"n2"}


# ---- bridges ---------------------------------------------------------------


def test_bridge_add_del_ls(lab):
    ok(lab, "bridge add br0")
    br = links(lab, "host")["br0"]
    assert kind(br) == "bridge" and is_up(br)
    fails(lab, "bridge add br0", "br0 exists already")
    ok(lab, "veth v0 v1", "bridge br0 add v0")
    (t,) = events(ok(lab, "bridge ls"), Table)
    assert [r[1:4] for r in t.rows] == [["br0", "UP", "v0"]]
    ok(lab, "bridge del br0")
    h = links(lab, "host")
    assert "br0" not in h and "master" not in h["v0"]  # its ports stay
    fails(lab, "bridge del br0", "no bridge br0")
    fails(lab, "bridge del v0", "not a bridge")


def test_bridge_port_add_creates_bridge_and_brings_ports_up(lab):
    ok(lab, "ns add a b", "veth va a:eth0", "veth vb b:eth0", "bridge br0 add va vb")
    h = links(lab, "host")
    assert kind(h["br0"]) == "bridge" and is_up(h["br0"])
    for p in ("va", "vb"):
        assert h[p]["master"] == "br0" and is_up(h[p])
    ok(lab, "a link eth0 up", "b link eth0 up", "a addr add eth0 10.1.0.1/24", "b addr add eth0 10.1.0.2/24")
    assert iputils_ping(lab, "a", "10.1.0.2", count=2)
    ok(lab, "bridge br0 del va")
    h = links(lab, "host")
    assert "master" not in h["va"] and h["vb"]["master"] == "br0"
    assert not iputils_ping(lab, "a", "10.1.0.2", wait=0.3)
    fails(lab, "bridge br0 del va", "not a port of br0")
    fails(lab, "bridge br0 add nosuch", "no interface nosuch")
    fails(lab, "bridge br0 add a:eth0", "is in a")


def test_ping_from_bridge_needs_an_address_on_it(lab):
    """The tutorial's point: `ping -I br0` sends from br0, which answers only once it has an address."""
    ok(lab, "ns add a", "veth va a:eth0", "bridge br0 add va", "a link eth0 up", "a addr add eth0 10.2.0.1/24")
    fails(lab, "ping -c 1 -W 0.3 -I br0 10.2.0.1")
    assert not iputils_ping(lab, "host", "10.2.0.1", wait=0.3)
    ok(lab, "addr add br0 10.2.0.254/24")
    out = ok(lab, "ping -c 1 -I br0 10.2.0.1")
    assert events(out, PingSummary)[0].received == 1
    assert iputils_ping(lab, "host", "10.2.0.1")


# ---- sysctl ---------------------------------------------------------------


def test_sysctl(lab):
    ok(lab, "ns add r", "r sysctl net.ipv4.ip_forward 1")
    def read(ns):
        return subprocess.run(["nsenter", f"--net={ns_path(lab, ns)}", "cat", "/proc/sys/net/ipv4/ip_forward"],
                              capture_output=True, text=True, check=True).stdout.strip()

    assert read("r") == "1" and read("host") == "0"
    fails(lab, "sysctl kernel.hostname x", "only net.*")
    fails(lab, "sysctl net.ipv4.nosuch 1", "no sysctl")


# ---- context, exec ---------------------------------------------------------------


def test_enter_leave_changes_context(lab):
    out = ok(lab, "ns add n1", "enter n1")
    assert events(out, ContextChanged)[0].context == "n1" and lab.context == "n1"
    ok(lab, "veth x0 host:x1")  # IF in the context means n1
    assert "x0" in links(lab, "n1") and "x1" in links(lab, "host")
    ok(lab, "leave")
    assert lab.context == "host"
    ok(lab, "veth y0 y1")
    assert "y0" in links(lab, "host")
    fails(lab, "enter nosuch", "nosuch")
    assert lab.context == "host"


def test_exec_and_prefix_run_in_the_namespace(lab):
    ok(lab, "ns add n1", "veth v0 n1:inside0")
    for line in ("exec n1 ip -br link", "n1 ip -br link"):
        out = ok(lab, line)
        text = "\n".join(e.line for e in events(out, Output))
        assert "inside0" in text and "v0" not in text
        assert events(out, Exited)[0].code == 0
    out = ok(lab, "exec ip -br link")
    assert "v0" in "\n".join(e.line for e in events(out, Output))
    fails(lab, "n1 false", "exited with status 1")
    fails(lab, "n1 no-such-program-x", "no program")
    fails(lab, "nosuchns ip a", "nosuchns")


# ---- ping ---------------------------------------------------------------


def test_ping_replies_and_summary(pair):
    lab = pair
    out = ok(lab, "n1 ping -c 3 -i 0.05 10.0.0.2")
    replies = events(out, PingReply)
    assert [r.seq for r in replies] == [1, 2, 3] and all(r.ms is not None and r.ms > 0 for r in replies)
    assert all(r.ttl == 64 for r in replies)
    (s,) = events(out, PingSummary)
    assert (s.sent, s.received, s.loss) == (3, 3, 0.0) and len(s.rtts) == 3
    out = ok(lab, "n1 ping -c 1 n2")  # a namespace name means its first IPv4 address
    assert events(out, PingSummary)[0].target == "10.0.0.2"
    assert iputils_ping(lab, "n1", "10.0.0.2")


def test_ping_unreachable_fails_cleanly(pair):
    lab = pair
    out = lab.run("n1 ping -c 2 -i 0.05 -W 0.2 10.0.0.3")
    assert not out.ok
    (s,) = events(out, PingSummary)
    assert (s.sent, s.received, s.loss) == (2, 0, 100.0)
    assert "no reply from 10.0.0.3" in out.error
    assert not iputils_ping(lab, "n1", "10.0.0.3", wait=0.2)
    msg = fails(lab, "n1 ping -c 1 -W 0.2 10.99.0.1")  # no route at all
    assert msg
    fails(lab, "n1 ping ns1nope", "nope")


# ---- show ---------------------------------------------------------------


def test_show_is_the_topology(pair):
    lab = pair
    ok(lab, "bridge add br0", "n1 route add default via 10.0.0.2")
    (tree,) = events(ok(lab, "show"), Tree)
    by_ns = {n["ns"]: n for n in tree.namespaces}
    assert {"host", "n1", "n2"} <= set(by_ns)
    eth0 = {x["name"]: x for x in by_ns["n1"]["links"]}["eth0"]
    assert eth0["peer"] == "n2:eth0" and eth0["up"] and eth0["addrs"] == ["10.0.0.1/24"]
    assert {x["name"]: x for x in by_ns["host"]["links"]}["br0"]["kind"] == "bridge"
    assert {"dst": "default", "via": "10.0.0.2", "dev": "eth0", "kernel": False} in by_ns["n1"]["routes"]
    # against the oracle: every link ip -j sees, and nothing else
    for ns in ("host", "n1", "n2"):
        assert {x["name"] for x in by_ns[ns]["links"]} == set(links(lab, ns))
    (tree,) = events(ok(lab, "show n2"), Tree)
    assert [n["ns"] for n in tree.namespaces] == ["n2"]


# ---- expect: every form, holding and failing ---------------------------------------------------------------


def expect(lab, line: str, holds: bool) -> ExpectResult:
    out = lab.run(line)
    (r,) = events(out, ExpectResult)
    assert r.ok is holds, f"{line}: wanted {r.wanted}, found {r.found}"
    assert out.ok is holds
    assert out.step.outcome == ("ok" if holds else "unmet")
    return r


def test_expect_every_form(pair):
    lab = pair
    ok(lab, "ns add n3", "veth vb n3:eth0", "bridge br0 add vb", "n1 route add default via 10.0.0.2")
    expect(lab, "n1 expect reach 10.0.0.2", True)
    expect(lab, "n1 expect reach n2", True)
    r = expect(lab, "n1 expect reach 10.0.0.3", False)
    assert "10.0.0.3" in r.wanted and "no reply from 10.0.0.3" in r.found
    expect(lab, "n1 expect noreach 10.0.0.3", True)
    r = expect(lab, "n1 expect noreach 10.0.0.2", False)
    assert "reply from 10.0.0.2" in r.found
    r = expect(lab, "n1 expect reach n3", False)
    assert "no IPv4 address" in r.found
    expect(lab, "expect ns n1", True)
    r = expect(lab, "expect ns zz", False)
    assert r.wanted == "namespace zz" and "no such" in r.found
    expect(lab, "expect no ns zz", True)
    r = expect(lab, "expect no ns n1", False)
    assert "exists" in r.found
    expect(lab, "expect link n1:eth0", True)
    r = expect(lab, "expect link n1:eth9", False)
    assert "no interface n1:eth9" in r.found
    expect(lab, "expect link n1:eth0 up", True)
    r = expect(lab, "expect link n3:eth0 up", False)
    assert "DOWN" in r.found
    expect(lab, "expect link n3:eth0 down", True)
    r = expect(lab, "expect link n1:eth0 down", False)
    assert "UP" in r.found
    expect(lab, "expect no link n1:eth9", True)
    r = expect(lab, "expect no link n1:eth0", False)
    assert "exists" in r.found
    expect(lab, "expect addr n1:eth0 10.0.0.1/24", True)
    r = expect(lab, "expect addr n1:eth0 10.0.0.9/24", False)
    assert r.wanted == "n1:eth0 has 10.0.0.9/24" and r.found == "10.0.0.1/24"
    expect(lab, "expect master vb br0", True)
    r = expect(lab, "expect master n1:eth0 br0", False)
    assert r.found == "no master"
    expect(lab, "n1 expect route default via 10.0.0.2", True)
    r = expect(lab, "n1 expect route default via 10.0.0.3", False)
    assert "default via 10.0.0.2" in r.found
    r = expect(lab, "n2 expect route default via 10.0.0.1", False)
    assert r.found == "no such route"
    expect(lab, "n1 expect route 10.0.0.0/24 dev eth0", True)
    expect(lab, "n1 expect route 10.0.0.0/24 dev lo", False)
    # an unmet expect is not a failed command: nothing is undone and the run goes on
    assert not events(lab.run("expect ns zz"), Failure)


def test_ok_messages_are_data(lab):
    out = ok(lab, "ns add m1")
    assert any(isinstance(e, Message) and "m1" in e.text for e in out.events)
