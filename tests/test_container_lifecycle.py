"""Containers as members of the lab: a linked container removed from outside never jams the lab.

Real containers (tests/dockerkit.py); the oracles are Docker's own listing and the kernel's
(`ip -j link` in the lab's root namespace, /run/netns).
"""

from __future__ import annotations

import os

import dockerkit
from conftest import ip_j
from dockerkit import docker

from nslab.lab import Lab

docker_image, container = dockerkit.docker_image, dockerkit.container


def host_links(lab: Lab) -> list[str]:
    """The lab's root namespace as `ip -j link` shows it."""
    return [link["ifname"] for link in ip_j(lab, "host", "link")]


def wired_then_removed(lab: Lab, c: str) -> None:
    for line in (f"ns link {c} test", "bridge add br0", f"pipework br0 {c} 10.7.0.2/24", "veth v1 test"):
        out = lab.run(line)
        assert out.ok, (line, out.error)
    docker("rm", "-f", c)


def test_a_removed_container_leaves_every_other_command_working(lab: Lab, container):
    c = container()
    assert lab.run("ns add other").ok
    wired_then_removed(lab, c)
    for line in ("show", "link ls", "ns ls", "other link ls", "veth v2 other", "history"):
        out = lab.run(line)
        assert out.ok, (line, out.error)
    shown = lab.run("show")
    assert "gone" in " ".join(str(e) for e in shown.events), shown.events
    out = lab.run("test link ls")
    assert not out.ok and "which has stopped" in out.error


def test_ns_del_of_a_dead_link_removes_it_and_what_the_lab_made_there(lab: Lab, container):
    c = container()
    wired_then_removed(lab, c)
    out = lab.run("ns del test")
    assert out.ok, out.error
    assert not os.path.exists("/run/netns/test")
    assert "v1" not in host_links(lab)


def test_undo_of_a_dead_link_steps(lab: Lab, container):
    c = container()
    wired_then_removed(lab, c)
    out = lab.run("undo")
    assert out.ok, out.error
    assert "v1" not in host_links(lab)
    out = lab.run("undo 3")
    assert out.ok, out.error
    assert not os.path.exists("/run/netns/test")
    assert not [n for n in host_links(lab) if n.startswith("br0") or n.startswith("veth1pl")]


def test_reset_after_a_dead_link(lab: Lab, container):
    c = container()
    wired_then_removed(lab, c)
    out = lab.run("reset")
    assert out.ok, out.error
    assert not os.path.exists("/run/netns/test")
    assert host_links(lab) == ["lo"]
