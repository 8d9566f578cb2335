"""`trace` over IPv6 on the real kernel: NDP in place of ARP, then ICMPv6 echo, across a bridge and a
routed chain of 3; judged by iputils `ping -6` (reached or not) and `ip -j` (the addresses have left
DAD's tentative state before anything is traced, so DAD's own solicitations are no part of it)."""

from __future__ import annotations

import json
import time

from conftest import ip_j, iputils_ping, nslab_cli
from test_learned import build
from test_trace import leg, traced

from nslab.lab import Lab

STAR6 = ("ns add a b c\nveth a:eth0 v1\nveth b:eth0 v2\nveth c:eth0 v3\nbridge br0 add v1 v2 v3\n"
         "a addr add eth0 fd00::1/64\nb addr add eth0 fd00::2/64\nc addr add eth0 fd00::3/64\n"
         "a link eth0 up\nb link eth0 up\nc link eth0 up\n")
# n1 - r - n3, with IPv6 forwarding in r set by each test
CHAIN6 = ("ns add n1 r n3\nveth n1:eth0 r:eth0\nveth r:eth1 n3:eth0\n"
          "n1 addr add eth0 fd01::1/64\nr addr add eth0 fd01::fe/64\nr addr add eth1 fd03::fe/64\n"
          "n3 addr add eth0 fd03::3/64\nn1 link eth0 up\nr link eth0 up\nr link eth1 up\nn3 link eth0 up\n"
          "n1 route add default via fd01::fe\nn3 route add default via fd03::fe\n")


def settled(lab: Lab, *names: str) -> None:
    """Wait until no address of NAMES is tentative (DAD done), as `ip -j addr` says."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not any(a.get("tentative") for ns in names for x in ip_j(lab, ns, "addr", "show")
                   for a in x.get("addr_info", [])):
            return
        time.sleep(0.1)
    raise AssertionError("DAD did not finish in 10 s")


def test_a_star_on_a_bridge_over_ipv6(lab: Lab) -> None:
    build(lab, STAR6)
    settled(lab, "a", "b", "c")
    t = traced(lab, "a trace b")  # b has no IPv4 address: its first IPv6 one
    assert t.addr == "fd00::2" and t.reached and t.reason == "reached", t.why
    ns = leg(t, "nd-solicit")  # to the solicited-node multicast: the bridge floods it
    assert ns[:2] == ["a:eth0", "br0 port v1"] and ns[-1] == "b:eth0", ns
    assert ns[2].startswith("flooded to ") and set(ns[2][len("flooded to "):].split(", ")) == {"v2", "v3"}
    assert leg(t, "nd-advert")[-1] == "a:eth0"
    assert leg(t, "echo-request") == ["a:eth0", "br0 port v1", "forwarded to v2", "b:eth0"]
    assert leg(t, "echo-reply") == ["b:eth0", "br0 port v2", "forwarded to v1", "a:eth0"]
    assert not [x for x in t.legs if x.kind not in ("nd-solicit", "nd-advert", "echo-request", "echo-reply")]
    assert iputils_ping(lab, "a", "fd00::2")
    out = lab.run("a expect path fd00::2 via a:eth0 host:br0 b:eth0")
    assert out.ok, out.error
    out = lab.run("a expect path fd00::2 via c:eth0")
    assert not out.ok


def test_an_unanswered_solicitation(lab: Lab) -> None:
    build(lab, STAR6)
    settled(lab, "a", "b", "c")
    t = traced(lab, "a trace fd00::9")
    assert t.reason == "no-neighbour-answer", t.why
    assert "no neighbour answer (NDP) for fd00::9: a asked on eth0 and nobody answered" in t.why, t.why
    assert not [x for x in t.legs if x.kind == "echo-request"]
    assert not iputils_ping(lab, "a", "fd00::9")


def test_a_routed_chain_with_ipv6_forwarding_on_and_off(lab: Lab) -> None:
    build(lab, CHAIN6 + "r sysctl net.ipv6.conf.all.forwarding 1\n")
    settled(lab, "n1", "r", "n3")
    t = traced(lab, "n1 trace fd03::3")
    assert t.reached, t.why
    assert "r:eth1 (routed by r, hop limit 63)" in leg(t, "echo-request"), leg(t, "echo-request")
    assert t.path[:3] == ["n1:eth0", "r:eth0", "r:eth1"] and "n3:eth0" in t.path
    assert iputils_ping(lab, "n1", "fd03::3")
    build(lab, "r sysctl net.ipv6.conf.all.forwarding 0\n")
    settled(lab, "n1", "r", "n3")
    t = traced(lab, "n1 trace fd03::3")
    assert not t.reached and t.reason == "forwarding-off", t.why
    assert "forwarding is off in r" in t.why and "net.ipv6.conf.all.forwarding is 0" in t.why
    assert leg(t, "echo-request")[-1] == "r:eth0"
    assert not iputils_ping(lab, "n1", "fd03::3")


def test_no_route_over_ipv6(lab: Lab) -> None:
    build(lab, CHAIN6.replace("n1 route add default via fd01::fe\n", "") + "r sysctl net.ipv6.conf.all.forwarding 1\n")
    settled(lab, "n1", "r", "n3")
    t = traced(lab, "n1 trace fd09::9")
    assert t.reason == "no-route" and "n1 cannot send to fd09::9" in t.why, t.why
    build(lab, "n1 route add default via fd01::fe\n")
    t = traced(lab, "n1 trace fd09::9")  # r has no route: it answers with ICMPv6 unreachable, code 0
    assert t.reason == "unreachable" and "code 0" in t.why and "r (fd01::fe)" in t.why, t.why


def test_hop_limit_exceeded(lab: Lab) -> None:
    # r1 and r2 send fd09::/64 to each other: the echo loops until its hop limit runs out
    build(lab, "ns add n1 r1 r2\nveth n1:eth0 r1:eth0\nveth r1:eth1 r2:eth0\n"
               "n1 addr add eth0 fd01::1/64\nr1 addr add eth0 fd01::fe/64\nr1 addr add eth1 fd02::1/64\n"
               "r2 addr add eth0 fd02::2/64\nn1 link eth0 up\nr1 link eth0 up\nr1 link eth1 up\nr2 link eth0 up\n"
               "n1 route add default via fd01::fe\nr1 route add fd09::/64 via fd02::2\n"
               "r2 route add fd09::/64 via fd02::1\nr2 route add fd01::/64 via fd02::1\n"
               "r1 sysctl net.ipv6.conf.all.forwarding 1\nr2 sysctl net.ipv6.conf.all.forwarding 1\n")
    settled(lab, "n1", "r1", "r2")
    t = traced(lab, "n1 trace fd09::9")
    assert t.reason == "hop-limit-exceeded" and "hop limit exceeded at" in t.why, t.why


def test_json_over_ipv6() -> None:
    res = nslab_cli("--json", "run", "-", input=STAR6 + "exec a sleep 2.5\na trace --json fd00::2\n")
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout[res.stdout.index('{\n  "trace"'):])["trace"]  # after the other steps' lines
    assert doc["reached"] is True and doc["addr"] == "fd00::2"
    assert {x["kind"] for x in doc["legs"]} == {"nd-solicit", "nd-advert", "echo-request", "echo-reply"}
    echo = next(x for x in doc["legs"] if x["kind"] == "echo-request")
    assert echo["tree"]["hop_limit"] == 64 and echo["tree"]["at"] == "a:eth0"
