"""The language: every core form parses to its handler with typed values; every bad line is a ParseError
with the column of the offending word and a message naming what was expected."""

from __future__ import annotations

import textwrap

import pytest

from nslab.base.errors import ParseError
from nslab.lang import commands
from nslab.lang.kinds import Endpoint
from nslab.lang.labfile import LabFileError, logical_lines, parse_text
from nslab.lang.parser import parse_line


def plain(value):
    """Typed values as words, so a table can say what it expects."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Endpoint):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # ipaddress objects



FORMS = [
    ("ns add a", "ns_add", {"name": ["a"]}),
    ("ns add a b.c d-1 e_2", "ns_add", {"name": ["a", "b.c", "d-1", "e_2"]}),
    ("ns del a b", "ns_del", {"name": ["a", "b"]}),
    ("ns ls", "ns_ls", {}),
    ("veth veth0 veth1", "veth", {"a": "veth0", "b": "veth1"}),
    ("veth veth0 ns1:eth0", "veth", {"a": "veth0", "b": "ns1:eth0"}),
    ("veth ns1 ns2", "veth", {"a": "ns1", "b": "ns2"}),
    ("veth ns1:eth0 ns2:eth0", "veth", {"a": "ns1:eth0", "b": "ns2:eth0"}),
    ("veth host:v0 ns1:eth0", "veth", {"a": "host:v0", "b": "ns1:eth0"}),
    ("link eth0 up", "link_up", {"ep": "eth0"}),
    ("link ns1:eth0 down", "link_down", {"ep": "ns1:eth0"}),
    ("link veth1 name eth0", "link_name", {"ep": "veth1", "new": "eth0"}),
    ("link veth1 netns ns1", "link_netns", {"ep": "veth1", "ns": "ns1"}),
    ("link host:veth1 mtu 1400", "link_mtu", {"ep": "host:veth1", "n": 1400}),
    ("link eth0 mac 02:AA:00:00:00:01", "link_mac", {"ep": "eth0", "mac": "02:aa:00:00:00:01"}),
    ("link del ns1:eth0", "link_del", {"ep": "ns1:eth0"}),
    ("link eth0 rate 10mbit", "link_rate", {"ep": "eth0", "rate": 10_000_000}),
    ("link eth0 rate 1.5mbit burst 32k latency 20ms --both", "link_rate",
     {"ep": "eth0", "rate": 1_500_000, "burst": 32768, "latency": 20_000, "both": True}),
    ("link eth0 delay 10ms jitter 2ms loss 1% duplicate 0.5% corrupt 0.1% reorder 25% --both", "link_delay",
     {"ep": "eth0", "delay": 10_000, "jitter": 2000, "loss": 1.0, "duplicate": 0.5, "corrupt": 0.1, "reorder": 25.0,
      "both": True}),
    ("link ns1:eth0 clear", "link_clear", {"ep": "ns1:eth0"}),
    ("link eth0 flap", "link_flap", {"ep": "eth0"}),
    ("link eth0 flap 3 --down 0.5 --up 2", "link_flap", {"ep": "eth0", "count": 3, "down": 0.5, "up": 2.0}),
    ("link eth0 flap stop", "link_flap_stop", {"ep": "eth0"}),
    ("link ls", "link_ls", {}),
    ("link ls ns1", "link_ls", {"ns": "ns1"}),
    ("addr add eth0 10.0.0.1/24", "addr_add", {"ep": "eth0", "cidr": "10.0.0.1/24"}),
    ("addr add ns1:eth0 fd00::1/64", "addr_add", {"ep": "ns1:eth0", "cidr": "fd00::1/64"}),
    ("addr del eth0 10.0.0.1/24", "addr_del", {"ep": "eth0", "cidr": "10.0.0.1/24"}),
    ("addr ls", "addr_ls", {}),
    ("addr ls ns2", "addr_ls", {"ns": "ns2"}),
    ("route add 10.1.0.0/16 via 10.0.0.254", "route_add", {"dest": "10.1.0.0/16", "gw": "10.0.0.254"}),
    ("route add default via 10.0.0.254 dev eth0", "route_add", {"dest": "default", "gw": "10.0.0.254", "dev": "eth0"}),
    ("route add 10.9.0.0/24 dev eth0", "route_add", {"dest": "10.9.0.0/24", "dev": "eth0"}),
    ("route add fd01::/64 via fd00::1", "route_add", {"dest": "fd01::/64", "gw": "fd00::1"}),
    ("route del default", "route_del", {"dest": "default"}),
    ("route del 10.9.0.0/24", "route_del", {"dest": "10.9.0.0/24"}),
    ("route ls", "route_ls", {}),
    ("route ls ns1", "route_ls", {"ns": "ns1"}),
    ("bridge add br0", "bridge_add", {"name": "br0"}),
    ("bridge del br0", "bridge_del", {"name": "br0"}),
    ("bridge ls", "bridge_ls", {}),
    ("bridge br0 add veth0 veth2 ns1:x", "bridge_port_add", {"name": "br0", "ep": ["veth0", "veth2", "ns1:x"]}),
    ("bridge br0 del veth0", "bridge_port_del", {"name": "br0", "ep": ["veth0"]}),
    ("sysctl net.ipv4.ip_forward 1", "sysctl", {"key": "net.ipv4.ip_forward", "value": "1"}),
    ("enter ns1", "enter", {"ns": "ns1"}),
    ("leave", "leave", {}),
    ("shell", "shell", {}),
    ("shell ns1", "shell", {"ns": "ns1"}),
    ("web", "web", {}),
    ("web --port 8080 --listen ::1 --open", "web", {"port": 8080, "listen": "::1", "open": True}),
    ("exec ns1 ip -br a", "exec", {"argv": ["ns1", "ip", "-br", "a"]}),
    ("exec ip link", "exec", {"argv": ["ip", "link"]}),
    ("ping 10.0.0.2", "ping", {"target": "10.0.0.2"}),
    ("ping ns2", "ping", {"target": "ns2"}),
    ("pingall", "pingall", {}),
    ("pingall -c 3 -W 0.5 a b-1 c", "pingall", {"c": 3, "W": 0.5, "ns": ["a", "b-1", "c"]}),
    ("perf a b", "perf", {"a": "a", "b": "b"}),
    ("perf -t 2 --udp --rate 1.5g --json a b", "perf", {"t": 2.0, "udp": True, "rate": 1_500_000_000, "json": True,
                                                       "a": "a", "b": "b"}),
    ("perf --rate 500k a b", "perf", {"rate": 500_000, "a": "a", "b": "b"}),
    ("expect pingall", "expect_pingall", {}),
    ("macvlan mv0 eth0", "macvlan", {"name": "mv0", "ep": "eth0"}),
    ("macvlan mv0 ns1:eth0 mode private", "macvlan", {"name": "mv0", "ep": "ns1:eth0", "mode": "private"}),
    ("vxlan vx0 id 42 remote 192.168.0.2", "vxlan", {"name": "vx0", "vni": 42, "ip": "192.168.0.2"}),
    ("vxlan vx0 id 7 group 239.1.1.1 dev eth0 port 8472", "vxlan",
     {"name": "vx0", "vni": 7, "ip": "239.1.1.1", "dev": "eth0", "n": 8472}),
    ("expect pingall except a-b x-1-y", "expect_pingall", {"pair": ["a-b", "x-1-y"]}),
    ("expect perf a b at least 10mbit", "expect_perf", {"a": "a", "b": "b", "r": 10_000_000}),
    ("ping -c 2 -i 0.2 -W 0.5 -I br0 10.0.0.2", "ping", {"c": 2, "i": 0.2, "W": 0.5, "I": "br0", "target": "10.0.0.2"}),
    ("ping 10.0.0.2 -c 5", "ping", {"c": 5, "target": "10.0.0.2"}),
    ("ping fd00::2", "ping", {"target": "fd00::2"}),
    ("show", "show", {}),
    ("show ns1", "show", {"ns": "ns1"}),
    ("show --svg lab.svg", "show_svg", {"file": "lab.svg"}),
    ("expect reach 10.0.0.2", "expect_reach", {"target": "10.0.0.2"}),
    ("expect reach ns2", "expect_reach", {"target": "ns2"}),
    ("expect noreach 10.0.0.9", "expect_noreach", {"target": "10.0.0.9"}),
    ("expect ns ns1", "expect_ns", {"name": "ns1"}),
    ("expect no ns ns1", "expect_no_ns", {"name": "ns1"}),
    ("expect link ns1:eth0", "expect_link", {"ep": "ns1:eth0"}),
    ("expect link eth0 up", "expect_link_up", {"ep": "eth0"}),
    ("expect link eth0 down", "expect_link_down", {"ep": "eth0"}),
    ("expect no link ns1:eth0", "expect_no_link", {"ep": "ns1:eth0"}),
    ("expect connect a b 80", "expect_connect", {"a": "a", "b": "b", "port": 80}),
    ("expect no connect a b 81", "expect_no_connect", {"a": "a", "b": "b", "port": 81}),
    ("expect addr ns1:eth0 10.0.0.1/24", "expect_addr", {"ep": "ns1:eth0", "cidr": "10.0.0.1/24"}),
    ("expect master veth0 br0", "expect_master", {"ep": "veth0", "bridge": "br0"}),
    ("expect route default via 10.0.0.254", "expect_route", {"dest": "default", "gw": "10.0.0.254"}),
    ("expect route 10.0.0.0/24 dev eth0", "expect_route_dev", {"dest": "10.0.0.0/24", "dev": "eth0"}),
    ("link ls --stats", "link_ls", {"stats": True}),
    ("link ls --stats ns1", "link_ls", {"stats": True, "ns": "ns1"}),
    ("fdb ls", "fdb_ls", {}),
    ("fdb ls --all br0", "fdb_ls", {"all": True, "bridge": "br0"}),
    ("neigh ls", "neigh_ls", {}),
    ("neigh ls ns1", "neigh_ls", {"ns": "ns1"}),
    ("watch", "watch", {}),
    ("watch -i 0.5 ns1:eth0 veth1", "watch", {"i": 0.5, "ep": ["ns1:eth0", "veth1"]}),
    ("expect neigh 10.0.0.2", "expect_neigh", {"ip": "10.0.0.2"}),
    ("expect neigh 10.0.0.2 02:00:00:00:00:02", "expect_neigh", {"ip": "10.0.0.2", "mac": "02:00:00:00:00:02"}),
    ("expect neigh fd00::2 ns2:eth0", "expect_neigh", {"ip": "fd00::2", "ep": "ns2:eth0"}),
    ("expect fdb br0 ns1:eth0", "expect_fdb", {"bridge": "br0", "ep": "ns1:eth0"}),
    ("history", "history", {}),
    ("save out.lab", "save", {"file": "out.lab"}),
    ("save --expects out.lab", "save", {"expects": True, "file": "out.lab"}),
    ("export sh out.sh", "export_sh", {"file": "out.sh"}),
    ("export dot lab.dot", "export_dot", {"file": "lab.dot"}),
    ("export mermaid lab.mmd", "export_mermaid", {"file": "lab.mmd"}),
    ("undo", "undo", {}),
    ("undo 3", "undo", {"n": 3}),
    ("reset", "reset", {}),
    ("source x.lab", "source", {"file": "x.lab"}),
    ("help", "help", {}),
    ("help route", "help", {"cmd": "route"}),
    ("history --ip", "history", {"ip": True}),
    ("export sh --teardown t.sh", "export_sh", {"teardown": True, "file": "t.sh"}),
    ("export netplan out", "export_netplan", {"dir": "out"}),
    ("export networkd out", "export_networkd", {"dir": "out"}),
    ("export clab lab.clab.yml", "export_clab", {"file": "lab.clab.yml"}),
    ("export clab --image debian:12 lab.clab.yml", "export_clab", {"image": "debian:12", "file": "lab.clab.yml"}),
    ("check ex.lab", "check", {"file": "ex.lab"}),
    ("check", "check", {}),
    ("goals", "goals", {}),
    ("hint", "hint", {}),
    ("hint 3", "hint", {"n": 3}),
    ("ns link web1", "ns_link", {"target": "web1"}),
    ("ns link 1234 w1", "ns_link", {"target": "1234", "name": "w1"}),
    ("pipework br0 web1 10.0.0.5/24", "pipework", {"bridge": "br0", "container": "web1", "addr": "10.0.0.5/24"}),
    ("pipework br0 -i eth1 -l veth9 web1 10.0.0.5/24@10.0.0.1 02:00:00:00:00:05", "pipework",
     {"i": "eth1", "l": "veth9", "bridge": "br0", "container": "web1", "addr": "10.0.0.5/24@10.0.0.1",
      "mac": "02:00:00:00:00:05"}),
    ("capture ns1:eth0", "capture", {"ep": ["ns1:eth0"]}),
    ("capture -c 4 -t 2.5 -w out.pcapng ns1:eth0 eth1 -- icmp or arp", "capture",
     {"c": 4, "t": 2.5, "w": "out.pcapng", "ep": ["ns1:eth0", "eth1"], "filter": "icmp or arp"}),
    ("capture start -q -w f.pcapng ns1:eth0 -- not port 53", "capture_start",
     {"q": True, "w": "f.pcapng", "ep": ["ns1:eth0"], "filter": "not port 53"}),
    ("capture ls", "capture_ls", {}),
    ("container run srv", "container_run", {"name": "srv"}),
    ("container run srv alpine:3 --network none -- sleep 60", "container_run",
     {"name": "srv", "image": "alpine:3", "network": "none", "cmd": ["sleep", "60"]}),
    ("container ls", "container_ls", {}),
    ("ps", "ps", {}),
    ("logs p1", "logs", {"id": "p1"}),
    ("kill p1", "kill", {"id": "p1"}),
    ("serve http b", "serve_http", {"ns": "b"}),
    ("serve http b 8080", "serve_http", {"ns": "b", "port": 8080}),
    ("serve echo b 7", "serve_echo", {"ns": "b", "port": 7}),
    ("connect a b 80", "connect", {"a": "a", "b": "b", "port": 80}),
    ("connect a 10.0.0.2 80", "connect", {"a": "a", "b": "10.0.0.2", "port": 80}),
    ("exec -d ns1 sleep 60", "exec", {"argv": ["-d", "ns1", "sleep", "60"]}),
    ("container stop srv", "container_stop", {"name": "srv"}),
    ("container rm srv", "container_rm", {"name": "srv"}),
    ("capture stop", "capture_stop", {}),
    ("capture stop 2", "capture_stop", {"id": 2}),
    ("trace 10.0.0.2", "trace", {"target": "10.0.0.2"}),
    ("trace -I br0 --json ns2", "trace", {"I": "br0", "json": True, "target": "ns2"}),
    ("expect path ns2 via ns1:eth0 br0 ns2:eth0", "expect_path", {"target": "ns2", "ep": ["ns1:eth0", "br0", "ns2:eth0"]}),
    ("expect path -I eth1 10.0.0.9 via r1:eth0", "expect_path", {"I": "eth1", "target": "10.0.0.9", "ep": ["r1:eth0"]}),
]



@pytest.mark.parametrize(("line", "handler", "values"), FORMS, ids=[f[0] for f in FORMS])
def test_every_core_form(line, handler, values):
    cmd = parse_line(line)
    assert cmd is not None
    assert cmd.form.handler == handler
    assert {k: plain(v) for k, v in cmd.values.items()} == values
    assert cmd.prefix is None



def test_endpoint_values_are_split():
    cmd = parse_line("veth ns1 host:v0")
    a, b = cmd.values["a"], cmd.values["b"]
    assert (a.ns, a.ifname, a.bare) == (None, "ns1", True)  # a bare word may be a namespace
    assert (b.ns, b.ifname, b.bare) == ("host", "v0", False)
    ep = parse_line("link ns1:eth0 up").values["ep"]
    assert (ep.ns, ep.ifname) == ("ns1", "eth0")



def test_route_values_are_typed():
    cmd = parse_line("route add 10.1.0.0/16 via 10.0.0.254")
    assert cmd.values["dest"] == "10.1.0.0/16"
    assert cmd.values["gw"].version == 4
    assert parse_line("route add 10.1.2.3 dev eth0").values["dest"] == "10.1.2.3/32"  # a host route
    with pytest.raises(ParseError) as e:  # `ip route add 10.1.2.3/16` says "Invalid prefix for given prefix length"
        parse_line("route add 10.1.2.3/16 via 10.0.0.254")
    assert "host bits" in e.value.message and "10.1.0.0/16" in e.value.message and e.value.loc.col == 11



@pytest.mark.parametrize(("line", "handler", "prefix", "values"), [
    ("ns1 ping 10.0.0.2", "ping", "ns1", {"target": "10.0.0.2"}),
    ("ns1 ip -br a", "exec", "ns1", {"argv": ["ip", "-br", "a"]}),
    ("ns1 link eth0 up", "link_up", "ns1", {"ep": "eth0"}),
    ("r1 route add default via 10.0.0.254", "route_add", "r1", {"dest": "default", "gw": "10.0.0.254"}),
    ("host addr add v0 10.0.0.1/24", "addr_add", "host", {"ep": "v0", "cidr": "10.0.0.1/24"}),
    ("ns-2 expect reach 10.0.0.1", "expect_reach", "ns-2", {"target": "10.0.0.1"}),
    ("ns1 sh -c 'echo a b'", "exec", "ns1", {"argv": ["sh", "-c", "echo a b"]}),
])
def test_line_prefix_sets_the_context(line, handler, prefix, values):
    cmd = parse_line(line)
    assert cmd.form.handler == handler
    assert cmd.prefix == prefix
    assert {k: plain(v) for k, v in cmd.values.items()} == values



def test_quotes_and_escapes():
    assert parse_line("exec ns1 sh -c 'echo \"hi there\"'").values["argv"] == ["ns1", "sh", "-c", 'echo "hi there"']
    assert parse_line('exec echo "a b" c\\ d').values["argv"] == ["echo", "a b", "c d"]
    assert parse_line("ns add 'q1'").values["name"] == ["q1"]
    assert parse_line("exec echo ''").values["argv"] == ["echo", ""]



def test_comments_and_blank_lines():
    assert parse_line("# only a comment") is None
    assert parse_line("   ") is None
    assert parse_line("") is None
    cmd = parse_line("ns add a   # make a")
    assert cmd.values["name"] == ["a"]
    assert parse_line("exec echo 'a # b'").values["argv"] == ["echo", "a # b"]



def err(line: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_line(line)
    return info.value



# (line, column of the caret, words (or a tuple of fragments) the message must hold)
ERRORS = [
    ("addr add eth0 10.0.0.300/24", 15, "expected an address like 10.0.0.1/24, got '10.0.0.300/24'"),
    ("addr add eth0 10.0.0.1", 15, "expected an address with a prefix like 10.0.0.1/24, got '10.0.0.1'"),
    ("veth ns1", 9, "expected B (an interface or a namespace), the line ended"),
    ("veth", 5, "expected A"),
    ("ns add ../x", 8, "a namespace name cannot contain '/', got '../x'"),
    ("ns add a b/c", 10, "cannot contain '/'"),
    ("ns add ping", 8, "'ping' is a command word and cannot name a namespace"),
    ("ns add ok host", 11, "'host' is a command word"),
    ("ns add -x", 8, "expected a namespace name"),
    ("ns add " + "n" * 33, 8, "expected a namespace name"),
    ("ns add", 7, "expected NAME (a new namespace name), the line ended"),
    ("link aaaaaaaaaaaaaaaa up", 6, "expected an interface name of 1-15 bytes, got 'aaaaaaaaaaaaaaaa' (16 bytes)"),
    ("veth a 0123456789abcdef", 8, "1-15 bytes"),
    ("bridge 1234567890123456 add x", 8, "1-15 bytes"),
    ("veth a:b:c d", 6, "without '/', ':' or spaces, got 'b:c'"),
    ("link eth0 sideways", 11, ("expected up, down, name, netns, mtu", "got 'sideways'")),
    ("link eth0 up extra", 14, "unexpected 'extra'"),
    ("link eth0 mtu 5", 15, "expected an MTU from 68 to 65535, got '5'"),
    ("link eth0 mac 02:00:00:00:00", 15, "expected a MAC address like 02:00:00:00:00:01"),
    ("link eth0 mac 01:00:00:00:00:01", 15, "multicast MAC"),
    ("link ls a/b", 9, "cannot contain '/'"),
    ("route add 10.0.0.0/24", 22, "expected via or dev, the line ended"),
    ("route add 10.0.0.0/33 dev eth0", 11, "expected a destination like 10.0.0.0/24 or 'default', got '10.0.0.0/33'"),
    ("route add default via 10.0.0.999", 23, "expected an address like 10.0.0.1, got '10.0.0.999'"),
    ("route", 6, ("expected add, del", "the line ended")),
    ("ns", 3, ("expected add, del", "the line ended")),
    ("expect foo", 8, ("expected reach, noreach, ns, no, link, addr, master", "route", "got 'foo'")),
    ("expect addr eth0 10.0.0.1", 18, "with a prefix"),
    ("ping", 5, "expected TARGET (an address or a namespace), the line ended"),
    ("ping -c", 8, "-c needs N (a count)"),
    ("ping -c x 10.0.0.1", 9, "-c: expected a whole number, got 'x'"),
    ("ping -W 0 10.0.0.1", 9, "-W:"),
    ("ping 10.0.0.1 10.0.0.2", 15, "unexpected '10.0.0.2'"),
    ("ping 10.0.0.1/24", 6, "expected an address or a namespace name, got '10.0.0.1/24'"),
    ("enter", 6, "expected NS (a namespace), the line ended"),
    ("leave now", 7, "unexpected 'now'"),
    ("sysctl net.ipv4.ip_forward", 27, "expected VALUE"),
    ("undo x", 6, "expected a whole number, got 'x'"),
    ("ns1", 1, "unknown command 'ns1'"),
    ("b@d x", 1, "unknown command 'b@d'"),
    ("ns add \"x", 8, "unterminated \" quote"),
    ("exec 'abc", 6, "unterminated ' quote"),
]



@pytest.mark.parametrize(("line", "col", "words"), ERRORS, ids=[e[0] for e in ERRORS])
def test_every_error_has_caret_and_says_what_was_expected(line, col, words):
    e = err(line)
    for w in (words,) if isinstance(words, str) else words:  # literal lists grow as commands gain forms
        assert w in e.message
    assert e.loc.col == col
    assert e.caret() == " " * (col - 1) + "^"
    assert e.text == line
    assert "\n" not in e.message



def test_error_location_carries_source_and_line():
    from nslab.base.errors import Loc

    e = None
    with pytest.raises(ParseError) as info:
        parse_line("addr add eth0 10.0.0.300/24", Loc("my.lab", 7, 1))
    e = info.value
    assert str(e).startswith("my.lab:7:15: expected an address like 10.0.0.1/24")



def test_unknown_command_suggests_a_near_one():
    assert "did you mean bridge?" in err("brige").message



LAB = textwrap.dedent("""\
    # Two namespaces
    ## Making the namespaces
    # first we make them
    # both at once
    ns add ns1 \\
           ns2

    # a cable
    veth ns1 ns2   # trailing comment
    ## Addresses
    ns1 addr add eth0 \\
        10.0.0.1/24
    ns1 ping -c 1 \\
      10.0.0.2
    exec echo 'a \\ b'
    """)



def test_labfile_narration_sections_and_continuation():
    cmds = parse_text(LAB, "t.lab").commands
    assert [c.form.handler for c in cmds] == ["ns_add", "veth", "addr_add", "ping", "exec"]
    ns_add, veth, addr, ping, ex = cmds
    assert ns_add.values["name"] == ["ns1", "ns2"]
    assert ns_add.narration == ("first we make them", "both at once")
    assert ns_add.section == "Making the namespaces"
    assert ns_add.loc.line == 5
    assert veth.narration == ("a cable",)
    assert veth.section == "Making the namespaces"
    assert veth.loc.line == 9
    assert addr.section == "Addresses"
    assert addr.narration == ()
    assert addr.prefix == "ns1" and str(addr.values["cidr"]) == "10.0.0.1/24"
    assert addr.loc.line == 11
    assert ping.values == {"c": 1, "target": "10.0.0.2"}
    assert ping.loc.line == 13
    assert ex.values["argv"] == ["echo", "a \\ b"]



def test_logical_lines_join_continuations():
    assert logical_lines("a \\\nb\nc\n") == [(1, "a  b"), (3, "c")]
    assert logical_lines("# x \\\ny") == [(1, "# x \\"), (2, "y")]  # a comment does not continue



def test_labfile_reports_every_error_with_file_line_col():
    text = "ns add a\nveth a\n\nns1 addr add eth0 \\\n  10.0.0.300/24\nlink " + "x" * 16 + " up\n"
    with pytest.raises(LabFileError) as info:
        parse_text(text, "bad.lab")
    errors = info.value.errors
    assert [str(e.loc) for e in errors] == ["bad.lab:2:7", f"bad.lab:4:{len('ns1 addr add eth0  ') + 3}", "bad.lab:6:6"]
    assert "expected B" in errors[0].message
    assert "expected an address like 10.0.0.1/24, got '10.0.0.300/24'" in errors[1].message
    assert "1-15 bytes" in errors[2].message



def test_every_form_of_the_command_table_has_a_parser_case():
    """The table is the language: a form added to nslab/lang/commands.py without a case in FORMS fails here,
    and so does a case whose line no longer reaches the form its handler names."""
    reached = {parse_line(line).form for line, _, _ in FORMS}
    missing = [(spec.name, frm.pattern) for spec in commands.TABLE for frm in spec.forms if frm not in reached]
    assert missing == [], f"forms with no case in FORMS: {missing}"
    handlers = {frm.handler for spec in commands.TABLE for frm in spec.forms}
    assert {h for _, h, _ in FORMS} == handlers


def test_every_handler_the_table_names_exists_in_the_module_it_names():
    from nslab.handlers import HANDLERS, Handlers

    named = {(frm.module, frm.handler) for spec in commands.TABLE for frm in spec.forms}
    assert [n for n in named if n[1] not in HANDLERS] == []
    assert all(callable(HANDLERS[h]) for _, h in named)  # loads every module the table names
    defined = {(m, h): HANDLERS[h].__wrapped__.__module__ for m, h in named}
    assert [k for k, where in defined.items() if where != f"nslab.handlers.{k[0]}"] == []
    wrong = Handlers()
    wrong.module_of = {"ns_add": "look"}  # a form whose module does not define its handler
    with pytest.raises(ImportError, match="look.py lacks: ns_add"):
        wrong["ns_add"]


@pytest.mark.parametrize("line", ["bridge add x%d", "veth a% b", "link e%s up"])
def test_a_percent_in_an_interface_name_is_refused(line: str) -> None:
    # the kernel would make `x0` of `x%d` while the journal recorded `x%d`
    with pytest.raises(ParseError) as info:
        parse_line(line)
    assert "cannot contain '%'" in info.value.message and "template" in info.value.message



@pytest.mark.parametrize(("line", "words"), [
    ("trace", "expected TARGET"),
    ("expect path ns2", "expected 'via', the line ended"),
    ("expect path ns2 via", "expected EP"),
    ("trace -I", "-I needs IF (an interface name)"),
])
def test_trace_errors(line, words):
    assert words in err(line).message
