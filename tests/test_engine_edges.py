"""Edges of the engine a review found: each test reproduces what went wrong before its fix."""

from __future__ import annotations

import subprocess

from conftest import ip_j

from nslab.kernel import rtnl
from nslab.lab import Lab


def test_undo_rebuilds_a_veth_whose_other_end_stays(lab):
    # undoing `ns del a` re-creates a:x with its end b:y in b, which stays; a later op needs b:y
    for line in ["ns add b", "ns add a", "veth a:x b:y", "b addr add y 10.0.0.2/24", "ns del a"]:
        assert lab.run(line).ok, line
    assert len(lab.undo(4)) == 4
    assert lab.nss.names() == ["b"]
    assert [x["ifname"] for x in ip_j(lab, "b", "link", "show")] == ["lo"]


def test_a_dump_left_half_read_does_not_jam_the_socket(lab):
    nl = lab.nss.host.nl
    for i in range(400):
        nl.add_veth(f"a{i}", f"b{i}")
    seq = nl._send(rtnl.RTM_GETLINK, rtnl.NLM_F_DUMP, rtnl.ifinfo())
    nl.sock.recv(1 << 14)  # as a Ctrl-C in the middle of `show` would leave it
    nl._dumping = seq
    assert len(nl.links()) == 801  # not EBUSY: the old dump is drained first
    assert lab.run("link del a1").ok


def test_a_namespace_made_again_outside_nslab_is_not_the_old_one(lab):
    assert lab.run("ns add a").ok
    subprocess.run(["ip", "netns", "del", "a"], check=True)
    subprocess.run(["ip", "netns", "add", "a"], check=True)
    assert lab.run("veth v0 a:v1").ok
    assert "v1" in [x["ifname"] for x in ip_j(lab, "a", "link", "show")]  # in the new a, not the dead one


def test_clean_after_a_crash_spares_an_interface_a_refused_op_named():
    from conftest import nslab_cli

    # somebody's eth9 (a veth pair made with ip); the lab asks for a veth of the same name, the
    # kernel refuses, and nslab dies before the step is settled in its log
    subprocess.run(["ip", "link", "add", "eth9", "type", "veth", "peer", "name", "eth9p"], check=True)
    try:
        lab = Lab(host=True, name="edge")
        lab.hostlog.settled = lambda n: None  # the crash: the step never gets its closing record
        assert not lab.run("veth eth9 x0").ok
        lab.hostlog.close()
        lab.lock.release()  # a dead process holds no lock either
        r = nslab_cli("--host", "--lab", "edge", "clean")
        assert r.returncode == 0, r.stdout + r.stderr
        assert subprocess.run(["ip", "link", "show", "eth9"], capture_output=True).returncode == 0, r.stdout
        lab.nss.close()
    finally:
        subprocess.run(["ip", "link", "del", "eth9"], capture_output=True)
