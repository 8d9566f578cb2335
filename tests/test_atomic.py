"""A failing command leaves nothing half-made, and undo of every command kind returns the exact earlier state.

State is judged by `ip -j` dumps of every namespace (not by nslab), normalised so that ifindex and MAC,
which the kernel picks anew when it rebuilds a link, do not count.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import ip_j, ns_path


def ok(lab, *lines: str) -> None:
    for line in lines:
        out = lab.run(line)
        assert out.ok, f"{line}: {out.error}"


def fail(lab, line: str) -> str:
    out = lab.run(line)
    assert not out.ok, f"{line} should fail"
    assert out.step is not None and out.step.outcome == "failed" and out.step.ops == []
    return out.error or ""


def sysctl(lab, ns: str, key: str) -> str:
    path = "/proc/sys/" + key.replace(".", "/")
    return subprocess.run(["nsenter", f"--net={ns_path(lab, ns)}", "cat", path],
                          capture_output=True, text=True, check=True).stdout.strip()


def nsid_names(lab, ns: str) -> dict[int, str]:
    """nsid -> namespace name as seen from ns; the one without a /run/netns name is the lab's host."""
    found = ip_j(lab, ns, "netns", "list-id")
    unnamed = [x["nsid"] for x in found if "name" not in x]
    names = {x["nsid"]: x["name"] for x in found if "name" in x}
    if len(unnamed) == 1:
        names[unnamed[0]] = "host"
    return names


def state(lab) -> dict:
    """Everything a lab is made of, as `ip -j` sees it in each namespace."""
    names = ["host", *sorted(lab.nss.names())]
    dumps = {ns: ip_j(lab, ns, "-d", "link", "show") for ns in names}
    out: dict = {"namespaces": names}
    for ns, xs in dumps.items():
        by_index = {x["ifindex"]: x["ifname"] for x in xs}
        nsids = nsid_names(lab, ns)
        links = {}
        for x in xs:
            kind = x.get("linkinfo", {}).get("info_kind")
            peer = x.get("link")  # same namespace: ip names the peer
            if peer is None and "link_index" in x:  # another namespace: its nsid and ifindex there
                other = nsids.get(x.get("link_netnsid"), "?")
                there = {y["ifindex"]: y["ifname"] for y in dumps.get(other, [])}
                peer = f"{other}:{there.get(x['link_index'], '?')}"
            links[x["ifname"]] = {
                "kind": kind, "up": "UP" in x["flags"], "mtu": x["mtu"], "master": x.get("master"), "peer": peer,
            }
        assert len(by_index) == len(xs)
        addrs = sorted(
            (a["label"] if "label" in a else x["ifname"], f"{a['local']}/{a['prefixlen']}")
            for x in ip_j(lab, ns, "addr", "show") for a in x.get("addr_info", [])
            if a.get("scope") != "link"
        )
        routes = sorted(
            (r["dst"], r.get("gateway") or "", r.get("dev") or "", r.get("protocol") or "", r.get("scope") or "")
            for fam in ("-4", "-6") for r in ip_j(lab, ns, fam, "route", "show")
            if not r["dst"].startswith("fe80")
        )
        forwarding = sysctl(lab, ns, "net.ipv4.ip_forward")
        out[ns] = {"links": links, "addrs": addrs, "routes": routes, "forwarding": forwarding}
    return out


def diff(before: dict, after: dict, path: str = "") -> list[str]:
    """Where two states differ, as readable lines (for the failure message)."""
    out = []
    for key in sorted(set(before) | set(after), key=str):
        b, a = before.get(key, "<none>"), after.get(key, "<none>")
        if isinstance(b, dict) and isinstance(a, dict):
            out += diff(b, a, f"{path}{key}.")
        elif b != a:
            if isinstance(b, list) and isinstance(a, list):
                out.append(f"{path}{key}: lost {[x for x in b if x not in a]}, gained {[x for x in a if x not in b]}")
            else:
                out.append(f"{path}{key}: {b!r} -> {a!r}")
    return out


def assert_same(before: dict, after: dict) -> None:
    assert after == before, "\n".join(diff(before, after))


# ---- a command failing midway leaves nothing ---------------------------------------------------------------


def test_bridge_add_with_a_missing_port_makes_no_bridge(lab):
    ok(lab, "veth a b")
    before = state(lab)
    msg = fail(lab, "bridge br0 add a nosuch")
    assert "no interface nosuch" in msg
    assert_same(before, state(lab))
    assert "br0" not in {x["ifname"] for x in ip_j(lab, "host", "link", "show")}


def test_bridge_add_failing_on_its_third_netlink_call_undoes_the_first_two(lab):
    """The bridge is made and `a` enslaved and brought up before the kernel refuses `lo` as a port."""
    ok(lab, "veth a b", "veth c d")
    before = state(lab)
    msg = fail(lab, "bridge br0 add a c lo")
    assert "Invalid argument" in msg
    after = state(lab)
    assert after == before
    assert "br0" not in after["host"]["links"] and not after["host"]["links"]["a"]["up"]
    assert after["host"]["links"]["a"]["master"] is None


def test_veth_whose_peer_name_collides_makes_nothing(lab):
    ok(lab, "ns add n1", "veth x n1:eth0")
    before = state(lab)
    msg = fail(lab, "veth y n1:eth0")
    assert msg == "n1:eth0 exists already"
    assert_same(before, state(lab))
    assert "y" not in before["host"]["links"]


def test_ns_add_where_a_later_name_exists_leaves_no_earlier_one(lab):
    ok(lab, "ns add y")
    before = state(lab)
    msg = fail(lab, "ns add x y")
    assert msg == "namespace 'y' exists already"  # in words, once: not an errno number
    assert "NetlinkError" not in msg and "17" not in msg
    assert_same(before, state(lab))
    assert lab.nss.names() == ["y"]


def test_kernel_refusals_come_back_in_words(lab):
    ok(lab, "ns add n", "veth n n", "n addr add eth0 10.0.0.1/24", "n link eth0 up", "n route add 10.1.0.0/24 via 10.0.0.2")
    before = state(lab)
    assert "File exists" in fail(lab, "n route add 10.1.0.0/24 via 10.0.0.3")
    assert "Network is unreachable" in fail(lab, "n route add 10.2.0.0/24 via 10.9.9.9")
    assert_same(before, state(lab))


def test_failed_step_is_recorded_without_ops(lab):
    ok(lab, "ns add y")
    fail(lab, "ns add x y")
    step = lab.journal.steps[-1]
    assert step.outcome == "failed" and step.inverse == [] and "exists already" in step.error
    assert [s.outcome for s in lab.journal.live()] == ["ok"]


# ---- undo returns the exact earlier state ---------------------------------------------------------------

BASE = [
    "ns add a b r",
    "veth a r", "veth b r", "veth v0 a:eth1",
    "bridge br0 add v0",
    "a link eth0 up", "a link eth1 up", "b link eth0 up", "r link eth0 up", "r link eth1 up", "a link lo up",
    "a addr add eth0 10.0.1.1/24", "a addr add eth0 fd01::1/64", "r addr add eth0 10.0.1.254/24",
    "b addr add eth0 10.0.2.1/24", "r addr add eth1 10.0.2.254/24",
    "addr add br0 10.0.9.254/24", "a addr add eth1 10.0.9.1/24",
    "a route add 10.0.2.0/24 via 10.0.1.254", "a route add 10.5.0.0/24 dev eth0",
    "b route add default via 10.0.2.254", "a route add fd02::/64 via fd01::fe",
    "r sysctl net.ipv4.ip_forward 1",
]

UNDOABLE = [
    "ns add c d",
    "ns del r",
    "ns del a",
    "veth x0 x1",
    "veth x0 a:x1",
    "veth a b",
    "veth a:x0 b:x0",
    "a link eth0 down",
    "link v0 down",
    "r link eth1 name uplink",
    "link v0 netns b",
    "a link eth1 netns b",
    "link v0 mtu 1400",
    "link del r:eth0",
    "link del v0",
    "a link eth1 mac 02:00:00:00:00:99",
    "a addr add eth0 10.0.7.1/24",
    "a addr add eth0 fd07::1/64",
    "a addr del eth0 10.0.1.1/24",
    "a addr del eth0 fd01::1/64",
    "a route add 10.6.0.0/24 via 10.0.1.254",
    "a route add 10.7.0.0/24 dev eth0",
    "a route del 10.0.2.0/24",
    "a route del 10.5.0.0/24",
    "b route del default",
    "a route add default via 10.0.1.254",
    "a route del fd02::/64",
    "bridge add br1",
    "bridge del br0",
    "bridge br1 add v0",
    "bridge br0 del v0",
    "r sysctl net.ipv4.ip_forward 0",
]


@pytest.fixture
def base(lab):
    ok(lab, *BASE)
    # the base works: a reaches b through r, and the bridge's address through v0
    from conftest import iputils_ping

    assert iputils_ping(lab, "a", "10.0.2.1")
    assert iputils_ping(lab, "a", "10.0.9.254")
    return lab


@pytest.mark.parametrize("line", UNDOABLE)
def test_undo_returns_the_earlier_state(base, line):
    lab = base
    before = state(lab)
    macs = {x["ifname"]: x["address"] for x in ip_j(lab, "a", "link", "show")}
    ok(lab, line)
    changed = state(lab)
    if "mac" not in line:
        assert changed != before, "the command changed nothing ip -j can see"
    done = lab.undo(1)
    assert [s.text for s in done] == [line]
    assert_same(before, state(lab))
    if "mac" in line:
        assert {x["ifname"]: x["address"] for x in ip_j(lab, "a", "link", "show")} == macs


def test_undo_of_everything_leaves_an_empty_lab(base):
    lab = base
    ok(lab, "ns del r", "link del v0")
    lab.undo(len(lab.journal.live()))
    s = state(lab)
    assert s["namespaces"] == ["host"]
    assert set(s["host"]["links"]) == {"lo"}
    assert s["host"]["addrs"] == [("lo", "127.0.0.1/8"), ("lo", "::1/128")]
