"""macvlan and vxlan on the real kernel, judged by `ip -j -d link` and iputils ping; undo and
`export sh` (run by bash in a fresh namespace) like veth; the dry run's model follows the kernel;
and the kinds this kernel lacks are refused in words (the kernel is asked that it lacks them)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from conftest import ip_j, iputils_ping, ns_path
from labworlds import script_world
from test_model_contract import run_both
from test_safety_egress import Uplink, lab_name, reset, uplink, wired  # noqa: F401  (uplink: its fixture)

from nslab.lab import Lab
from nslab.lang.labfile import parse_text

# two underlay namespaces u1, u2 joined by a veth (as two hosts by a network), a VXLAN tunnel
# end in each, bridged with a veth to a host behind it: h1 and h2 see one LAN
TUNNEL = """ns add u1 u2 h1 h2
veth u1:eth0 u2:eth0
u1 addr add eth0 192.168.0.1/24
u2 addr add eth0 192.168.0.2/24
u1 link eth0 up
u2 link eth0 up
u1 vxlan vx0 id 42 remote 192.168.0.2 dev eth0
u2 vxlan vx0 id 42 remote 192.168.0.1 dev eth0
u1 bridge br0 add vx0
u2 bridge br0 add vx0
veth h1:eth0 u1:p1
veth h2:eth0 u2:p1
u1 bridge br0 add p1
u2 bridge br0 add p1
h1 addr add eth0 10.0.0.1/24
h2 addr add eth0 10.0.0.2/24
h1 link eth0 up
h2 link eth0 up
"""
# a namespace m on a veth from the host, with macvlans on its end in each mode
MACVLANS = """ns add m
veth m:eth0 host:m0
m link eth0 up
m macvlan mv0 eth0
m macvlan mv1 eth0 mode private
m macvlan mv2 eth0 mode vepa
m addr add mv0 10.9.0.1/24
m link mv0 up
"""


def build(lab: Lab, text: str) -> None:
    for line in text.splitlines():
        out = lab.run(line)
        assert out.ok, (line, out.events)


def details(lab: Lab, ns: str, name: str) -> dict:
    (link,) = ip_j(lab, ns, "-d", "link", "show", "dev", name)
    return link


def test_vxlan_carries_a_ping_between_namespaces_behind_the_tunnel_ends(lab: Lab) -> None:
    build(lab, TUNNEL)
    info = details(lab, "u1", "vx0")["linkinfo"]
    assert info["info_kind"] == "vxlan"
    data = info["info_data"]
    assert (data["id"], data["remote"], data["link"], data["port"]) == (42, "192.168.0.2", "eth0", 4789)
    assert details(lab, "u1", "vx0")["mtu"] == 1450
    assert iputils_ping(lab, "h1", "10.0.0.2", count=2)
    assert lab.run("h2 expect reach h1").ok
    # the ping really crossed the underlay: its UDP port counted datagrams there
    out = subprocess.run(["nsenter", "--net=/run/netns/u2", "ip", "-s", "-j", "link", "show", "dev", "vx0"],
                         capture_output=True, text=True, check=True).stdout
    assert '"rx"' in out and '"packets":0,' not in out.split('"rx"')[1][:60]
    lab.run("u1 link eth0 down")  # the underlay goes: so does the LAN above it
    assert not iputils_ping(lab, "h1", "10.0.0.2", wait=0.5)


def test_macvlan_modes_and_parent_as_ip_shows_them(lab: Lab) -> None:
    build(lab, MACVLANS)
    for name, mode in (("mv0", "bridge"), ("mv1", "private"), ("mv2", "vepa")):
        link = details(lab, "m", name)
        assert (link["linkinfo"]["info_kind"], link["linkinfo"]["info_data"]["mode"], link["link"]) == ("macvlan", mode, "eth0")
    assert "UP" in details(lab, "m", "mv0")["flags"] and "UP" not in details(lab, "m", "mv1")["flags"]
    tree = lab.run("show m").events[0].namespaces[0]
    assert {x["name"]: (x["kind"], x["over"]) for x in tree["links"]}["mv0"] == ("macvlan", "eth0")


def test_undo_of_link_del_and_of_the_parent_makes_them_again(lab: Lab) -> None:
    build(lab, MACVLANS)
    mac = details(lab, "m", "mv1")["address"]
    assert lab.run("link del m:mv1").ok
    assert lab.run("undo").ok
    link = details(lab, "m", "mv1")
    assert (link["linkinfo"]["info_data"]["mode"], link["address"], link["link"]) == ("private", mac, "eth0")
    # the kernel deletes a macvlan with the interface it is on; undo makes the three again, addresses and state too
    assert lab.run("link del m:eth0").ok
    assert [x["ifname"] for x in ip_j(lab, "m", "link", "show")] == ["lo"]
    assert lab.run("undo").ok
    assert sorted(x["ifname"] for x in ip_j(lab, "m", "link", "show")) == ["eth0", "lo", "mv0", "mv1", "mv2"]
    mv0 = details(lab, "m", "mv0")
    assert "UP" in mv0["flags"] and ip_j(lab, "m", "addr", "show", "dev", "mv0")[0]["addr_info"][0]["local"] == "10.9.0.1"


def test_undo_of_ns_del_makes_the_tunnel_again(lab: Lab) -> None:
    build(lab, TUNNEL)
    assert lab.run("ns del u1").ok
    assert not iputils_ping(lab, "h2", "10.0.0.1", wait=0.3)
    assert lab.run("undo").ok
    data = details(lab, "u1", "vx0")["linkinfo"]["info_data"]
    assert (data["id"], data["remote"], data["link"]) == (42, "192.168.0.2", "eth0")
    assert iputils_ping(lab, "h1", "10.0.0.2", count=2)


def test_undo_of_the_step_removes_them(lab: Lab) -> None:
    build(lab, MACVLANS)
    assert lab.run("m vxlan vx9 id 9 group 239.1.1.9 dev eth0 port 8472").ok
    data = details(lab, "m", "vx9")["linkinfo"]["info_data"]
    assert (data["group"], data["port"]) == ("239.1.1.9", 8472)
    assert lab.run("undo").ok and lab.run("undo 3").ok  # vx9, then addr, up and mv2
    assert sorted(x["ifname"] for x in ip_j(lab, "m", "link", "show")) == ["eth0", "lo", "mv0", "mv1"]


def test_export_sh_builds_the_same_lab_in_bash(lab: Lab, tmp_path) -> None:
    build(lab, TUNNEL + MACVLANS.replace("host:m0", "h1:m0"))
    script = tmp_path / "lab.sh"
    assert lab.run(f"export sh {script}").ok
    text = script.read_text()
    assert "type vxlan id 42 remote 192.168.0.2 dev eth0 dstport 4789" in text
    assert "link add link eth0 name mv1 type macvlan mode private" in text
    world, _ = script_world(str(script))
    kinds = {(ns, x["name"]): x["kind"] for ns, where in world.items() for x in where["links"]}
    assert kinds[("u1", "vx0")] == kinds[("u2", "vx0")] == "vxlan"
    assert kinds[("m", "mv0")] == kinds[("m", "mv2")] == "macvlan"
    # the script's lab carries the ping too (bash and iputils only)
    check = tmp_path / "ping.sh"
    check.write_text("ip netns exec h1 ping -c1 -W2 10.0.0.2\n")
    script_world(str(script), str(check))


def test_the_dry_run_model_follows_the_kernel() -> None:
    text = TUNNEL + MACVLANS + "m link del eth0\nu1 link del eth0\nu2 vxlan vx0 id 43 remote 10.1.1.1\n" \
        "m macvlan mv0 nosuch\nu2 vxlan vx1 id 43 remote 10.1.1.1 dev nosuch\n"
    failed = run_both(parse_text(text, "kinds.lab").commands)
    # (u1's eth0 took its other end along, and with it u2's vx0: the VNI is free again there)
    assert failed == ["m macvlan mv0 nosuch", "u2 vxlan vx1 id 43 remote 10.1.1.1 dev nosuch"], failed


@pytest.mark.parametrize("line,words", [
    ("vxlan vx0 id 1 group 10.0.0.1 dev eth0", "a group is a multicast address"),
    ("vxlan vx0 id 1 remote 239.0.0.1", "is a multicast address: write `group 239.0.0.1 dev DEV`"),
    ("vxlan vx0 id 1 group 239.0.0.1", "vxlan group needs `dev DEV`"),
    ("macvlan mv0 nosuch", "no interface nosuch"),
    ("macvlan m0 m0", "m0 exists: File exists"),
])
def test_bad_requests_are_refused_in_words(lab: Lab, line: str, words: str) -> None:
    build(lab, MACVLANS)
    out = lab.run(line)
    assert not out.ok and words in (out.step.error or ""), out.step.error


@pytest.mark.parametrize("line,kind,args", [
    ("vlan add link eth0 id 5", "802.1q VLANs", ["link", "lo", "name", "v5", "type", "vlan", "id", "5"]),
    ("dummy d0", "dummy", ["name", "d0", "type", "dummy"]),
    ("bond bond0", "bonding", ["name", "b0", "type", "bond"]),
    ("gre g0", "GRE", ["name", "g0", "type", "gre", "remote", "10.0.0.1"]),
    ("geneve g0", "Geneve", ["name", "g0", "type", "geneve", "id", "5", "remote", "10.0.0.1"]),
])
def test_kinds_this_kernel_lacks_are_refused_in_words(lab: Lab, line: str, kind: str, args: list[str]) -> None:
    # the kernel's own answer first: it has no such kind
    asked = subprocess.run(["unshare", "-n", "ip", "link", "add", *args], capture_output=True, text=True)
    assert asked.returncode != 0 and "Unknown device type" in asked.stderr
    out = lab.run(line)
    assert not out.ok and f"this kernel has no {kind}" in out.events[0].message
    assert "macvlan" in out.events[0].message and "internal" not in out.events[0].message


def test_bridge_vlan_filtering_is_refused_in_words(lab: Lab) -> None:
    asked = subprocess.run(["unshare", "-n", "ip", "link", "add", "br0", "type", "bridge", "vlan_filtering", "1"],
                           capture_output=True, text=True)
    assert asked.returncode != 0 and "Operation not supported" in asked.stderr
    out = lab.run("bridge br0 vlan add vid 5 dev eth0")
    assert not out.ok and "this kernel has no bridge VLAN filtering" in out.events[0].message


def test_vxlan_joins_two_isolated_labs_as_it_would_two_machines(lab: Lab) -> None:
    """Two labs, each in its own root namespace, their hosts joined by one veth (the network between
    two machines): a vxlan in each host carries a ping between namespaces of the two labs."""
    with Lab() as other:
        here, there = lab.host_ns_path, other.host_ns_path
        # the cable, made by the test with iproute2: one end in each lab's host (a bind mount names
        # the other lab's namespace for `ip link set ... netns`, and goes right after)
        subprocess.run(["nsenter", f"--net={here}", "ip", "link", "add", "u0", "type", "veth", "peer", "name", "u0x"],
                       check=True)
        name = "/run/netns/.other-lab"
        open(name, "w").close()
        subprocess.run(["mount", "--bind", there, name], check=True)
        try:
            subprocess.run(["nsenter", f"--net={here}", "ip", "link", "set", "u0x", "netns", ".other-lab", "name", "u0"],
                           check=True)
        finally:
            subprocess.run(["umount", name], check=True)
            os.unlink(name)
        # (labs of one process share /run/netns, so their namespaces' names differ)
        for side, (me, peer, h, host_ip) in ((lab, ("192.168.7.1", "192.168.7.2", "h1", "10.7.0.1")),
                                             (other, ("192.168.7.2", "192.168.7.1", "h2", "10.7.0.2"))):
            build(side, f"""addr add u0 {me}/24
link u0 up
vxlan vx0 id 77 remote {peer} dev u0
bridge br0 add vx0
ns add {h}
veth {h}:eth0 host:hp
bridge br0 add hp
{h} addr add eth0 {host_ip}/24
{h} link eth0 up
""")
        assert lab.run("h1 expect reach 10.7.0.2").ok
        out = subprocess.run(["nsenter", f"--net={ns_path(lab, 'h1')}", "ping", "-n", "-q", "-c", "2", "-W", "2",
                              "10.7.0.2"], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        assert other.run("h2 expect reach 10.7.0.1").ok




def test_host_mode_keeps_macvlan_and_vxlan_off_the_machines_uplink(uplink: Uplink) -> None:  # noqa: F811 (the fixture)
    """A macvlan on the machine's eth0, or a tunnel whose datagrams would leave through it, would put
    the lab on the real network: refused, nothing made, not one packet out (DESIGN section 8)."""
    lab = lab_name()
    before = uplink.received()
    text = (wired(lab) + "macvlan mv0 eth0\n", "vxlan vx0 id 5 remote 192.0.2.1\n",
            "vxlan vx0 id 5 remote 10.77.0.9 dev eth0\n", f"vxlan vx1 id 6 remote 10.77.0.2 dev {lab}h\n")
    try:
        outs = [uplink.host(lab, line) for line in text]
        said = [r.stdout + r.stderr for r in outs]
        assert [r.returncode for r in outs] == [1, 1, 1, 0], said
        assert "eth0 was not made by this lab; nslab will not put a macvlan on it" in said[0], said[0]
        assert "vxlan vx0: 192.0.2.1 is not in this lab: from host it would leave through eth0" in said[1], said[1]
        assert "eth0 was not made by this lab; nslab will not run a vxlan over it" in said[2], said[2]
        names = {x["ifname"] for x in uplink.ipj("link", "show")}
        assert "mv0" not in names and "vx0" not in names and "vx1" in names  # the lab's own tunnel is made
        time.sleep(0.3)
        assert uplink.received() == before
    finally:
        reset(uplink, lab)
