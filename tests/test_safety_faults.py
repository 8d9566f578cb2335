"""Faults: every failure path leaves no partial object, says what the kernel said
in words, and the session keeps working afterwards.  Judged by `ip -j` dumps."""

from __future__ import annotations

import subprocess

import pytest
from conftest import ip_j
from dockerkit import container, docker, docker_image  # noqa: F401 - fixtures

from nslab.lab import Lab

NETLINK_NOISE = ("NetlinkError", "Errno", "Traceback", "internal error")


def dump(lab: Lab, *nss: str) -> dict:
    """Everything the kernel holds in these namespaces, minus what the kernel itself varies."""
    out = {}
    for ns in nss:
        links = ip_j(lab, ns, "-d", "addr", "show")
        out[ns] = sorted((m["ifname"], m.get("master"), tuple(m.get("flags", [])), m.get("mtu"),
                          tuple(a["local"] for a in m.get("addr_info", []) if not a["local"].startswith("fe80:")))
                         for m in links)
        out[ns + "/routes"] = ip_j(lab, ns, "route", "show")
    return out


def fail_cleanly(lab: Lab, line: str, *nss: str, says: str = "") -> str:
    before = dump(lab, *nss)
    out = lab.run(line)
    assert not out.ok, line
    assert out.error and "\n" not in out.error
    assert not any(noise in out.error for noise in NETLINK_NOISE), out.error
    assert says in out.error, out.error
    assert dump(lab, *nss) == before, f"{line!r} left something behind"
    return out.error


def test_kernel_refuses_the_third_call_and_the_first_two_are_undone(lab: Lab) -> None:
    assert lab.run("ns add f1").ok and lab.run("veth f1 host").ok
    # bridge made (1), eth0 enslaved (2), lo refused by the kernel (3): all of it undone
    err = fail_cleanly(lab, "bridge fbr add eth0 lo", "host", "f1")
    assert "lo" in err
    assert not any(m["ifname"] == "fbr" for m in ip_j(lab, "host", "link"))
    assert lab.run("bridge fbr add eth0").ok  # the session goes on
    assert ip_j(lab, "host", "link", "show", "eth0")[0]["master"] == "fbr"


def test_a_bridge_cannot_join_a_bridge_and_nothing_is_left(lab: Lab) -> None:
    assert lab.run("bridge add fb0").ok
    err = fail_cleanly(lab, "bridge fb1 add fb0", "host")
    assert "fb0" in err or "fb1" in err


def test_name_collision_at_the_second_namespace_rolls_back_the_first(lab: Lab) -> None:
    assert lab.run("ns add c2").ok
    names = set(lab.nss.names())
    fail_cleanly(lab, "ns add c1 c2", "host", says="exists")
    assert set(lab.nss.names()) == names  # c1 was made, then undone
    assert lab.run("ns add c1").ok


def test_collisions_refused_before_anything_is_made(lab: Lab) -> None:
    assert lab.run("ns add p1 p2").ok and lab.run("veth p1:eth0 p2:eth0").ok
    fail_cleanly(lab, "veth p1:eth1 p2:eth0", "host", "p1", "p2", says="exists")
    fail_cleanly(lab, "p1 bridge pbr add eth0 nothere", "p1", says="nothere")
    fail_cleanly(lab, "veth hx p1:eth0", "host", "p1", says="exists")


def test_the_kernels_error_in_words(lab: Lab) -> None:
    assert lab.run("ns add w1").ok and lab.run("veth w1 host").ok
    fail_cleanly(lab, "w1 route add 10.9.0.0/16 via 10.99.0.1", "w1", says="unreachable")
    assert lab.run("addr add eth0 10.1.0.1/24").ok
    fail_cleanly(lab, "addr add eth0 10.1.0.1/24", "host", says="has 10.1.0.1/24 already")  # said once, not `: File exists`
    assert lab.run("link eth0 up").ok


def test_namespace_deleted_underneath(lab: Lab) -> None:
    assert lab.run("ns add gone keep").ok and lab.run("veth gone keep").ok
    assert lab.run("gone link eth0 up").ok  # the lab holds it open now
    subprocess.run(["ip", "netns", "del", "gone"], check=True)
    for line in ("gone link eth0 down", "link gone:eth0 up", "gone ping -c 1 10.0.0.1", "addr add gone:eth0 10.0.0.1/24"):
        out = lab.run(line)
        assert not out.ok and "gone" in (out.error or "") and "internal error" not in (out.error or ""), (line, out.error)
    out = lab.run("expect ns gone")
    assert not out.ok
    # the session keeps working, and undo of what went with the namespace is not an error
    assert lab.run("ns add gone").ok
    assert lab.run("veth gone keep").ok
    assert lab.run("undo 2").ok
    assert lab.run("show").ok
    assert ip_j(lab, "keep", "link")  # keep is intact


def test_interface_renamed_outside(lab: Lab) -> None:
    assert lab.run("ns add r1").ok and lab.run("veth r1 host").ok
    subprocess.run(["ip", "-n", "r1", "link", "set", "eth0", "name", "renamed"], check=True)
    out = lab.run("link r1:eth0 up")
    assert not out.ok and "r1:eth0" in out.error and "no interface" in out.error
    out = lab.run("expect link r1:eth0")
    assert not out.ok and any("r1:eth0" in str(e) for e in out.events)
    out = lab.run("undo")  # undo deletes the veth by its host end: still there
    assert out.ok, out.error
    assert not ip_j(lab, "r1", "link", "show", "type", "veth")
    assert lab.run("veth r1 host").ok


def test_container_stopped_between_two_steps(container, docker_image: str) -> None:  # noqa: F811
    name = container()
    with Lab() as lab:
        assert lab.run(f"ns link {name} ct").ok, lab.run(f"ns link {name} ct").error
        assert lab.run("ct link ls").ok
        docker("stop", "-t", "0", name)
        before = dump(lab, "host")
        out = lab.run(f"pipework brc {name} 10.4.0.2/24")  # a br* name: pipework would make it
        assert not out.ok and name in (out.error or "") and "internal error" not in (out.error or ""), out.error
        assert dump(lab, "host") == before  # no bridge, no host-side veth left
        out = lab.run("ct link ls")
        assert not out.ok and "internal error" not in (out.error or "")
        assert lab.run("ns add after").ok


@pytest.mark.parametrize("line", ["ns add", "veth", "link up", "bridge  add", "addr add eth0"])
def test_incomplete_lines_are_one_line_errors(lab: Lab, line: str) -> None:
    out = lab.run(line)
    assert not out.ok and out.error and "\n" not in out.error
