"""iproute2 habits get their nslab translation; a missing interface says where it is or what was meant;
ping speaks as iputils does (judged against iputils `ping` itself); the bridge-port trap is shown."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import ROOT, ip_j, ns_path

from nslab.base.errors import ParseError
from nslab.base.results import Message, Table
from nslab.faces.render import Renderer
from nslab.lang.parser import parse_line


def refused(line: str) -> str:
    with pytest.raises(ParseError) as e:
        parse_line(line)
    return e.value.message


@pytest.mark.parametrize(("typed", "nslab"), [
    ("ip netns add x", "ns add x"),
    ("ip netns del x", "ns del x"),
    ("ip netns list", "ns ls"),
    ("ip link add br0 type bridge", "bridge add br0"),
    ("ip link add a type veth peer name b", "veth a b"),
    ("ip link add veth0 type veth peer name veth1 netns ns1", "veth veth0 ns1:veth1"),
    ("ip link set veth1 master br0", "bridge br0 add veth1"),
    ("ip link set dev veth1 up", "link veth1 up"),
    ("ip l set eth0 mtu 1400", "link eth0 mtu 1400"),
    ("ip addr add 10.0.0.1/24 dev X", "addr add X 10.0.0.1/24"),
    ("ip a add 10.0.0.1/24 dev eth0", "addr add eth0 10.0.0.1/24"),
    ("ip -n ns1 addr add 10.0.0.1/24 dev eth0", "ns1 addr add eth0 10.0.0.1/24"),
    ("ip -n ns1 a del 10.0.0.1/24 dev eth0", "ns1 addr del eth0 10.0.0.1/24"),
    ("ip route add default via 10.0.0.254", "route add default via 10.0.0.254"),
    ("ip r add 10.9.0.0/24 dev eth0", "route add 10.9.0.0/24 dev eth0"),
    ("ip -n ns1 route add 10.9.0.0/24 via 10.0.0.2 dev eth0", "ns1 route add 10.9.0.0/24 via 10.0.0.2 dev eth0"),
    ("ip l", "link ls"),
    ("ip a", "addr ls"),
    ("ip -br a", "addr ls"),
    ("ip r", "route ls"),
    ("ip -n ns1 r", "ns1 route ls"),
    ("ip netns exec ns1 ping -c 1 10.0.0.2", "ns1 ping -c 1 10.0.0.2"),
    ("ip netns exec ns1 tcpdump -ni eth0", "ns1 tcpdump -ni eth0"),
    ("ip netns exec ns1 ip link set lo up", "ns1 link lo up"),
    ("ip netns exec ns1 bash", "shell ns1"),
    ("brctl addbr br0", "bridge add br0"),
    ("brctl addif br0 eth0", "bridge br0 add eth0"),
    ("brctl delif br0 eth0", "bridge br0 del eth0"),
    ("brctl show", "bridge ls"),
    ("docker run -itd --name alpine --network none alpine", "exec docker run -itd --name alpine --network none alpine"),
])
def test_an_iproute2_line_gets_its_translation_with_the_words_typed(typed, nslab):
    message = refused(typed)
    assert f"in nslab: `{nslab}`" in message
    parse_line(nslab)  # the translation is itself a line nslab takes


def test_ip_link_set_netns_pid_translates_to_naming_the_namespace_first():
    message = refused("ip link set veth1 netns 1410")
    assert "`ns link 1410 NAME`, then `link veth1 netns NAME`" in message


def test_docker_run_says_how_to_reach_the_container():
    message = refused("docker run -itd --name web busybox")
    assert "`ns link web` names its namespace" in message and "pipework br1 web" in message


def test_nslab_words_in_iproute2_order_get_the_line_in_nslab_order():
    assert "in nslab: `ns1 addr add eth0 10.0.0.1/24`" in refused("ns1 addr add 10.0.0.1/24 dev eth0")
    assert "in nslab: `link a:eth0 up`" in refused("link set a:eth0 up")


@pytest.mark.parametrize(("iproute2", "check"), [
    ("ip link add a type veth peer name b", lambda lab: ip_j(lab, "host", "link", "show", "dev", "b")[0]["link"] == "a"),
    ("ip link add br0 type bridge", lambda lab: ip_j(lab, "host", "-d", "link", "show", "dev", "br0")[0]
     ["linkinfo"]["info_kind"] == "bridge"),
])
def test_the_translation_does_what_iproute2_does(lab, iproute2, check):
    line = refused(iproute2).split("in nslab: `")[1].split("`")[0]
    assert lab.run(line).ok
    assert check(lab)


def test_the_translation_typed_runs_the_tutorial_step(lab):
    # the tutorial's bridge steps, each translated and typed: the kernel holds what iproute2 would have made
    lines = ["ip link add veth0 type veth peer name veth1", "ip link add br0 type bridge", "ip link set veth0 master br0",
             "ip addr add 192.168.189.34/24 dev br0"]
    for typed in lines:
        for line in re.findall(r"`([^`]+)`", refused(typed).split("in nslab: ", 1)[1].split(" (`exec")[0]):
            assert lab.run(line).ok, line
    assert ip_j(lab, "host", "link", "show", "dev", "veth0")[0]["master"] == "br0"
    assert ip_j(lab, "host", "-4", "addr", "show", "dev", "br0")[0]["addr_info"][0]["local"] == "192.168.189.34"


def test_an_interface_that_moved_says_where_it_is_now(lab):
    for line in ["ns add ns1", "veth veth0 veth1", "link veth1 netns ns1"]:
        assert lab.run(line).ok
    out = lab.run("link veth1 up")
    assert out.error == "no interface veth1; veth1 is in ns1 now: ns1:veth1"
    assert lab.run("link ns1:veth1 up").ok  # what the hint said works
    assert "UP" in ip_j(lab, "ns1", "link", "show", "dev", "veth1")[0]["flags"]


@pytest.mark.parametrize("line", ["link vet0 up", "addr add veht0 10.0.0.1/24", "bridge br0 add vteh0",
                                  "link vet0 mtu 1400", "ping -I vth0 -c 1 10.0.0.1"])
def test_an_interface_typo_gets_did_you_mean(lab, line):
    assert lab.run("veth veth0 peer0").ok
    out = lab.run(line)
    assert not out.ok and out.error.endswith("; did you mean veth0?"), out.error


def test_link_netns_with_a_pid_points_to_ns_link(lab):
    assert lab.run("veth veth0 veth1").ok
    out = lab.run("link veth1 netns 1410")
    assert "`ns link 1410 NAME`, then `link veth1 netns NAME`" in out.error


def test_link_netns_pid_followed_as_told_moves_the_interface(lab):
    proc = subprocess.Popen(["unshare", "-n", "sleep", "30"])
    try:
        import time

        for _ in range(50):
            with open(f"/proc/{proc.pid}/comm") as f:
                if f.read().strip() == "sleep":
                    break
            time.sleep(0.02)
        assert lab.run("veth veth0 veth1").ok
        told = lab.run(f"link veth1 netns {proc.pid}").error
        for line in re.findall(r"`([^`]+)`", told):
            assert lab.run(line.replace("NAME", "held")).ok, line
        out = subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "ip", "-j", "link", "show", "dev", "veth1"],
                             capture_output=True, text=True, check=True)
        assert '"veth1"' in out.stdout
    finally:
        proc.kill()
        proc.wait()


# -- ping as iputils says it ----------------------------------------------------------------------

def shape(text: str) -> str:
    """A ping line with its numbers as `N`: the line's shape, what must match iputils."""
    return re.sub(r"\d+(\.\d+)?", "N", text)


def rendered(out) -> list[str]:
    import io

    buf = io.StringIO()
    r = Renderer(buf, color=False)
    for e in out.events:
        r.render(e)
    return buf.getvalue().splitlines()


def iputils(lab, ns: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", f"--net={ns_path(lab, ns)}", "ping", *args], capture_output=True, text=True)


def two_namespaces(lab):
    for line in ["ns add a b", "veth a b", "a addr add eth0 10.0.0.1/24", "b addr add eth0 10.0.0.2/24",
                 "a link eth0 up", "b link eth0 up"]:
        assert lab.run(line).ok


def test_ping_lines_have_the_shape_iputils_gives_them(lab):
    two_namespaces(lab)
    ours = [line for line in rendered(lab.run("a ping -c 2 -i 0.2 10.0.0.2")) if line.strip()]
    theirs = [line for line in iputils(lab, "a", "-c", "2", "-i", "0.2", "10.0.0.2").stdout.splitlines() if line.strip()]
    assert len(theirs) == 6 and theirs[1].startswith("64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=")
    assert [shape(x) for x in ours] == [shape(x) for x in theirs]


def test_ping_dash_i_from_an_interface_without_an_address_warns_as_iputils_does(lab):
    for line in ["ns add a", "veth a:eth0 v0", "a addr add eth0 10.0.0.2/24", "a link eth0 up", "bridge br0 add v0"]:
        assert lab.run(line).ok
    theirs = iputils(lab, "host", "-c", "1", "-W", "0.3", "-I", "br0", "10.0.0.2")
    out = lab.run("ping -c 1 -W 0.3 -I br0 10.0.0.2")
    assert not out.ok and theirs.returncode == 1  # both fail: nothing answers 0.0.0.0
    warning = theirs.stderr.strip()
    assert warning.startswith("ping: Warning: source address might be selected on device other than")
    assert Message(warning) in out.events
    ours, want = [x for x in rendered(out) if x.strip()], [x for x in theirs.stdout.splitlines() if x.strip()]
    assert ours[0] == warning and ours[1] == want[0]  # PING 10.0.0.2 (10.0.0.2) from 0.0.0.0 br0: 56(84) bytes of data.
    stats = ours.index("--- 10.0.0.2 ping statistics ---")
    assert [shape(x) for x in ours[stats:stats + 2]] == [shape(x) for x in want[-2:]]  # the statistics
    assert lab.run("addr add br0 10.0.0.1/24").ok
    out = lab.run("ping -c 1 -I br0 10.0.0.2")
    assert out.ok and not any(isinstance(e, Message) and "Warning" in e.text for e in out.events)
    assert "PING 10.0.0.2 (10.0.0.2) from 10.0.0.1 br0: 56(84) bytes of data." in rendered(out)


def test_a_ping_to_a_peer_whose_link_is_down_gets_a_hint(lab):
    two_namespaces(lab)
    assert lab.run("b link eth0 down").ok
    out = lab.run("a ping -c 1 -W 0.3 10.0.0.2")
    assert out.error == "no reply from 10.0.0.2 (1 sent); 10.0.0.2 is on b:eth0, which is down: `b link eth0 up`"
    assert lab.run("b link eth0 up").ok and lab.run("a ping -c 1 10.0.0.2").ok  # the hint was the fix


def test_a_ping_through_a_cable_whose_far_end_is_down_names_that_end(lab):
    for line in ["ns add a c", "veth a:eth0 v0", "veth c:eth0 v1", "bridge br0 add v0 v1", "link v0 down",
                 "a addr add eth0 10.0.0.1/24", "c addr add eth0 10.0.0.3/24", "a link eth0 up", "c link eth0 up"]:
        assert lab.run(line).ok  # a's cable ends on br0 at v0, which is down
    out = lab.run("a ping -c 1 -W 0.3 10.0.0.3")
    assert out.error.endswith("; a reaches 10.0.0.3 through a:eth0; its cable's other end host:v0 is down: `link v0 up`")
    assert lab.run("link v0 up").ok and lab.run("a ping -c 1 10.0.0.3").ok


def test_a_ping_to_an_address_on_a_down_interface_of_the_host(lab):
    for line in ["ns add a", "veth a:eth0 v0", "a addr add eth0 10.0.0.1/24", "a link eth0 up", "addr add v0 10.0.0.9/24"]:
        assert lab.run(line).ok  # v0 (host) holds an address but is down
    out = lab.run("a ping -c 1 -W 0.3 10.0.0.9")
    assert out.error.endswith("; 10.0.0.9 is on host:v0, which is down: `link v0 up`")


def test_help_ping_states_the_default_count(lab):
    table = next(e for e in lab.run("help ping").events if isinstance(e, Table))
    assert "3 echo requests unless -c N" in table.rows[0][1]


# -- the tutorial's trap ----------------------------------------------------------------------------

def test_an_address_on_a_bridge_port_gets_the_enslaving_warning(lab):
    for line in ["veth v0 v1", "veth w0 w1", "addr add w0 10.0.0.5/24"]:
        assert lab.run(line).ok
    enslaved = [e.text for e in lab.run("bridge br0 add v0 w0").events if isinstance(e, Message) and e.style == "warn"]
    added = [e.text for e in lab.run("addr add v0 10.0.0.4/24").events if isinstance(e, Message) and e.style == "warn"]
    words = ("{} holds {}: a bridge port answers on no address, so this takes the address off it in effect "
             "(an uplink cuts this machine off its network); move the address to br0")
    assert enslaved == [words.format("w0", "10.0.0.5/24")]
    assert added == [words.format("v0", "10.0.0.4/24")]
    assert ip_j(lab, "host", "-4", "addr", "show", "dev", "v0")[0]["addr_info"][0]["local"] == "10.0.0.4"
    quiet = lab.run("addr add v1 10.0.1.4/24").events  # not a port: no warning
    assert not any(isinstance(e, Message) and e.style == "warn" for e in quiet)


def test_lab_04_runs_the_tutorials_claim_about_ping_dash_i_br0():
    from nslab.lang.labfile import parse_file

    lines = [c.text for c in parse_file(str(ROOT / "nslab" / "labs" / "04-bridge.lab")).commands]
    before, after = lines.index("expect noreach -I br0 192.168.189.33"), lines.index("expect reach -I br0 192.168.189.33")
    assert before < lines.index("addr add br0 192.168.189.34/24") < after
    assert "ping -I br0 -c 1 192.168.189.33" in lines[before:after]


def test_expect_reach_out_of_an_interface_agrees_with_iputils(lab):
    for line in ["ns add a", "veth a:eth0 v0", "a addr add eth0 10.0.0.2/24", "a link eth0 up", "bridge br0 add v0"]:
        assert lab.run(line).ok
    out = lab.run("expect noreach -I br0 10.0.0.2")
    assert out.ok and iputils(lab, "host", "-c", "1", "-W", "0.5", "-I", "br0", "10.0.0.2").returncode == 1
    assert lab.run("addr add br0 10.0.0.1/24").ok
    assert lab.run("expect reach -I br0 10.0.0.2").ok
    assert iputils(lab, "host", "-c", "1", "-W", "1", "-I", "br0", "10.0.0.2").returncode == 0
    assert not lab.run("expect reach -I nosuch 10.0.0.2").ok


TUTORIAL = ["ip netns add ns1", "ip link add veth0 type veth peer name veth1", "ip link set veth1 netns ns1",
            "ip netns exec ns1 ip link set veth1 name eth0", "ip -n ns1 addr add 10.0.0.2/24 dev eth0",
            "ip -n ns1 link set eth0 up", "ip link add br0 type bridge", "ip link set br0 up",
            "ip link set dev veth0 master br0", "ip link set veth0 up", "ip a add 10.0.0.1/24 dev br0",
            "ip -n ns1 route add default via 10.0.0.1", "ip link set dev br0 mtu 1400"]


def kernel_state(lab) -> dict:
    """What iproute2 itself lists in host and ns1 (names, kinds, masters, state, addresses, routes)."""
    state = {}
    for ns in ("host", "ns1"):
        links = ip_j(lab, ns, "-d", "addr", "show")
        state[ns] = (sorted((x["ifname"], x.get("linkinfo", {}).get("info_kind", ""), x.get("master", ""), "UP" in x["flags"],
                             x["mtu"], sorted(a["local"] for a in x["addr_info"] if a["family"] == "inet")) for x in links),
                     sorted((r["dst"], r.get("gateway", ""), r["dev"]) for r in ip_j(lab, ns, "-4", "route", "show")))
    return state


def test_the_translations_build_what_iproute2_builds(lab):
    # the oracle: the same tutorial steps run by iproute2 itself in another lab, compared by `ip -j`
    from nslab.lab import Lab

    for typed in TUTORIAL:
        for line in re.findall(r"`([^`]+)`", refused(typed).split("in nslab: ", 1)[1].split(" (`exec")[0]):
            assert lab.run(line).ok, (typed, line)
    ours = kernel_state(lab)
    assert lab.run("ns del ns1").ok  # labs of one process share /run/netns: the other lab's ns1 comes after
    with Lab() as other:
        for typed in TUTORIAL:
            assert other.run(f"exec {typed}").ok, typed
        theirs = kernel_state(other)
        subprocess.run(["ip", "netns", "del", "ns1"], check=True)  # made by `ip` itself: the lab does not own it
    assert ours == theirs
    assert ours["ns1"][1] == [("10.0.0.0/24", "", "eth0"), ("default", "10.0.0.1", "eth0")]


@pytest.mark.parametrize("typed", ["ip neigh", "ip n show dev eth0", "ip rule ls"])
def test_an_iproute2_line_nslab_has_no_words_for_points_to_exec(typed):
    assert f"nslab has no words for: `exec {typed}` runs ip itself" in refused(typed)
