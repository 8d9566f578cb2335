"""`pipework` with real containers, judged by `docker exec` (the container's own `ip`
and `ping`), `ip -j` dumps and `ovs-vsctl`, never by nslab's own view."""

from __future__ import annotations

import os
import subprocess

import dockerkit
import pytest
from conftest import ip_j, nslab_cli
from dockerkit import addrs, dexec, pid_of, ping, routes, state

from nslab.lab import Lab
from nslab.services import ovs

# the fixtures this module uses
docker_image, container = dockerkit.docker_image, dockerkit.container


def run(lab: Lab, *lines: str) -> None:
    for line in lines:
        out = lab.run(line)
        assert out.ok, f"{line}: {out.error}"


def test_linux_bridge_as_pipework_does_it(lab: Lab, container):
    c1, c2 = container(), container()
    run(lab, f"pipework br1 {c1} 10.88.0.2/24@10.88.0.1", f"pipework br1 {c2} 10.88.0.3/24@10.88.0.1",
        "addr add br1 10.88.0.1/24")
    assert addrs(c1, "eth1") == ["10.88.0.2/24"]
    assert "default via 10.88.0.1 dev eth1" in routes(c1)
    assert ping(c1, "10.88.0.3") and ping(c1, "10.88.0.1") and ping(c2, "10.88.0.2")
    # the host end: pipework's name, on the bridge, up, the bridge's MTU
    links = {x["ifname"]: x for x in ip_j(lab, "host", "-d", "link", "show")}
    assert links["br1"]["linkinfo"]["info_kind"] == "bridge"
    for c in (c1, c2):
        end = links[f"veth1pl{pid_of(c)}"]
        assert end["master"] == "br1" and "UP" in end["flags"] and end["mtu"] == links["br1"]["mtu"]
    # the broadcast address, as `ip addr add` with a prefix gives it
    assert "brd 10.88.0.255" in dexec(c1, "ip", "-4", "addr", "show", "eth1").stdout


def test_interface_name_and_mac(lab: Lab, container):
    c = container()
    run(lab, f"pipework br1 -i eth2 {c} 10.88.1.2/24 02:42:0a:58:01:02")
    out = dexec(c, "ip", "link", "show", "eth2").stdout
    assert "link/ether 02:42:0a:58:01:02" in out
    assert addrs(c, "eth2") == ["10.88.1.2/24"]
    assert dexec(c, "ip", "link", "show", "eth1").returncode != 0
    assert not [r for r in routes(c) if r.startswith("default")]  # no @GW: the routes stay
    assert f"veth2pl{pid_of(c)}" in {x["ifname"] for x in ip_j(lab, "host", "link", "show")}


def test_several_attachments_and_the_default_route_replaced(lab: Lab, container):
    c = container()
    run(lab, f"pipework br1 {c} 10.88.0.2/24@10.88.0.1", f"pipework br2 -i eth2 {c} 10.77.0.2/24@10.77.0.1")
    assert addrs(c, "eth1") == ["10.88.0.2/24"] and addrs(c, "eth2") == ["10.77.0.2/24"]
    defaults = [r for r in routes(c) if r.startswith("default")]
    assert defaults == ["default via 10.77.0.1 dev eth2"]
    lab.undo(1)
    assert [r for r in routes(c) if r.startswith("default")] == ["default via 10.88.0.1 dev eth1"]


def test_undo_leaves_the_container_as_it_was(lab: Lab, container):
    c = container()
    before = state(c)
    host_before = {x["ifname"] for x in ip_j(lab, "host", "link", "show")}
    run(lab, f"pipework br1 {c} 10.88.0.2/24@10.88.0.1 02:00:00:00:00:09")
    assert state(c) != before
    lab.undo(1)
    assert state(c) == before
    # the bridge pipework made and the host end went too
    assert {x["ifname"] for x in ip_j(lab, "host", "link", "show")} == host_before


def host_links(lab: Lab) -> list[dict]:
    """The host's links without operstate: a new bridge turns from UNKNOWN to UP when the kernel gets to it."""
    return [{k: v for k, v in link.items() if k != "operstate"} for link in ip_j(lab, "host", "link", "show")]


def test_a_failed_pipework_leaves_nothing(lab: Lab, container):
    c = container()
    run(lab, f"pipework br1 {c} 10.88.0.2/24")
    before, host_before = state(c), host_links(lab)
    for line, err in [
        (f"pipework br9 {c} 10.88.9.2/24", f"container {c} has eth1 already (choose another with -i)"),
        (f"pipework br1 -i eth3 {c} 10.88.0.5/24 @10", "VLAN configuration is unsupported for a Linux bridge"),
        (f"pipework foo0 -i eth3 {c} 10.88.0.5/24", "no bridge foo0: pipework makes a missing one only"),
        ("pipework br1 nslab-no-such 10.88.0.5/24", "no container 'nslab-no-such'"),
    ]:
        out = lab.run(line)
        assert not out.ok and out.error.startswith(err), out.error
    # a step that fails halfway inside the container is rolled back: eth1 exists there, so the rename fails
    out = lab.run(f"pipework br1 -i eth1 -l vx0 {c} 10.88.0.7/24")
    assert not out.ok
    assert state(c) == before and host_links(lab) == host_before
    out = lab.run(f"pipework br1 {c} 10.88.0.2")
    assert not out.ok and "expected an address with a prefix" in out.error


def ovs_tag(inst: ovs.Ovs, port: str) -> str:
    return inst.vsctl("get", "port", port, "tag")


def test_ovs_bridge_with_vlan_tags_in_an_isolated_lab(lab: Lab, container):
    web, db, cache = container(), container(), container()
    run(lab, f"pipework ovs1 {web} 10.99.0.2/24 @10", f"pipework ovs1 {db} 10.99.0.3/24 @10",
        f"pipework ovs1 {cache} 10.99.0.4/24 @20")
    inst = lab.kernel.ovs  # the lab's own OVS, in the lab's host namespace
    assert inst.procs and inst.rundir.startswith(lab.nss.run_dir)
    assert inst.bridges() == ["ovs1"]
    assert ovs_tag(inst, f"veth1pl{pid_of(web)}") == "10" and ovs_tag(inst, f"veth1pl{pid_of(cache)}") == "20"
    assert inst.vsctl("get", "bridge", "ovs1", "datapath_type") == "netdev"
    assert addrs(web, "eth1") == ["10.99.0.2/24"]
    assert ping(web, "10.99.0.3")
    assert not ping(web, "10.99.0.4", wait=1) and not ping(cache, "10.99.0.3", wait=1)
    lab.undo(3)
    assert inst.bridges() == []
    assert dexec(web, "ip", "link", "show", "eth1").returncode != 0
    pids = [p.pid for p in inst.procs]
    lab.close()
    assert not any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z" for p in pids)


@pytest.fixture
def test_ovs(tmp_path):
    """An Open vSwitch of the test's own in this pytest process's isolated namespace (never the machine's)."""
    inst = ovs.start_private(str(tmp_path / "ovs"))
    yield inst
    inst.stop()


def test_ovs_in_host_mode_is_pipework_on_the_host(container, test_ovs, tmp_path):
    # `--host` acts on this pytest process's own isolated root namespace; the OVS it finds
    # through OVS_RUNDIR is the test's, running in that same namespace.
    c1, c2 = container(), container()
    env = {"OVS_RUNDIR": test_ovs.rundir}
    lab = f"pw{os.getpid()}"
    # untagged: the gateway on the bridge's own (internal, untagged) port must hear them
    text = (f"pipework ovs7 {c1} 10.66.0.2/24@10.66.0.1\npipework ovs7 {c2} 10.66.0.3/24\n"
            "addr add ovs7 10.66.0.1/24\nlink ovs7 up\n")
    r = nslab_cli("--host", "--lab", lab, "run", "-", input=text, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert test_ovs.bridges() == ["ovs7"]
    assert test_ovs.vsctl("list-ports", "ovs7").split() == sorted([f"veth1pl{pid_of(c1)}", f"veth1pl{pid_of(c2)}"])
    assert ping(c1, "10.66.0.3") and ping(c1, "10.66.0.1")
    assert "default via 10.66.0.1 dev eth1" in routes(c1)
    r = nslab_cli("--host", "--lab", lab, "reset", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert test_ovs.bridges() == []
    assert dexec(c1, "ip", "link", "show", "eth1").returncode != 0


def test_ovs_missing_is_a_clear_error(container, tmp_path):
    c = container()
    r = nslab_cli("--host", "--lab", f"pw{os.getpid()}x", "run", "-", input=f"pipework ovs3 {c} 10.1.0.2/24\n",
                  env={"OVS_RUNDIR": str(tmp_path)})
    assert r.returncode == 1
    assert f"Open vSwitch is not running (no {tmp_path}/db.sock" in r.stdout
    assert dexec(c, "ip", "link", "show", "eth1").returncode != 0


def test_export_sh_rebuilds_the_same_container_network(lab: Lab, container, tmp_path):
    c1, c2 = container(), container()
    run(lab, f"pipework br1 {c1} 10.88.0.2/24@10.88.0.1 02:00:00:00:00:0a",
        f"pipework br1 -i eth2 {c2} 10.88.0.3/24", "addr add br1 10.88.0.1/24")
    made = state(c1), state(c2)
    script = tmp_path / "lab.sh"
    run(lab, f"export sh {script}", "reset")
    assert state(c1) != made[0]
    # bash runs the iproute2 lines in the lab's host namespace; Docker finds the PIDs
    r = subprocess.run(["nsenter", f"--net={lab.host_ns_path}", "bash", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (state(c1), state(c2)) == made
    assert ping(c1, "10.88.0.3") and ping(c1, "10.88.0.1")
