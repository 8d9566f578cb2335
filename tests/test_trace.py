"""`trace` and `expect path` on the real kernel: each stop reason the issue names is a lab here, and
what trace says is judged against iputils ping (reached or not) and `ip -j` (what the lab is)."""

from __future__ import annotations

import json
import subprocess

from conftest import ip_j, iputils_ping, nslab_cli
from test_learned import build, the_event

from nslab.base.results import TraceResult
from nslab.lab import Lab

STAR = ("ns add a b c\nveth a:eth0 v1\nveth b:eth0 v2\nveth c:eth0 v3\nbridge br0 add v1 v2 v3\n"
        "a addr add eth0 10.0.0.1/24\nb addr add eth0 10.0.0.2/24\nc addr add eth0 10.0.0.3/24\n"
        "a link eth0 up\nb link eth0 up\nc link eth0 up\n")
# n1 - r1 - r2 - n4: four namespaces in a routed chain
CHAIN = ("ns add n1 r1 r2 n4\nveth n1:eth0 r1:eth0\nveth r1:eth1 r2:eth0\nveth r2:eth1 n4:eth0\n"
         "n1 addr add eth0 10.1.0.1/24\nr1 addr add eth0 10.1.0.254/24\nr1 addr add eth1 10.2.0.1/24\n"
         "r2 addr add eth0 10.2.0.2/24\nr2 addr add eth1 10.3.0.254/24\nn4 addr add eth0 10.3.0.4/24\n"
         "n1 link eth0 up\nr1 link eth0 up\nr1 link eth1 up\nr2 link eth0 up\nr2 link eth1 up\nn4 link eth0 up\n"
         "n1 route add default via 10.1.0.254\nn4 route add default via 10.3.0.254\n"
         "r1 route add 10.3.0.0/24 via 10.2.0.2\nr2 route add 10.1.0.0/24 via 10.2.0.1\n"
         "r1 sysctl net.ipv4.ip_forward 1\n")


def traced(lab: Lab, line: str) -> TraceResult:
    return the_event(lab, line, TraceResult)


def leg(result: TraceResult, kind: str) -> list[str]:
    return next(x.hops for x in result.legs if x.kind == kind)


def test_a_star_on_a_bridge(lab: Lab) -> None:
    build(lab, STAR)
    t = traced(lab, "a trace b")
    assert t.reached and t.reason == "reached"
    # the first ARP is a broadcast: the bridge floods it to both other ports
    arp = leg(t, "arp-request")
    assert arp[:2] == ["a:eth0", "br0 port v1"] and arp[-1] == "b:eth0"
    assert arp[2].startswith("flooded to ") and set(arp[2][len("flooded to "):].split(", ")) == {"v2", "v3"}
    assert leg(t, "echo-request") == ["a:eth0", "br0 port v1", "forwarded to v2", "b:eth0"]
    assert leg(t, "echo-reply") == ["b:eth0", "br0 port v2", "forwarded to v1", "a:eth0"]
    assert iputils_ping(lab, "a", "10.0.0.2")  # the oracle agrees it is reachable


def test_a_routed_chain_with_forwarding_on_and_off(lab: Lab) -> None:
    build(lab, CHAIN + "r2 sysctl net.ipv4.ip_forward 1\n")
    t = traced(lab, "n1 trace n4")
    assert t.reached, t.why
    assert t.path[:4] == ["n1:eth0", "r1:eth0", "r1:eth1", "r2:eth0"]
    assert "r1:eth1 (routed by r1, ttl 63)" in leg(t, "echo-request")
    assert iputils_ping(lab, "n1", "10.3.0.4")
    build(lab, "r2 sysctl net.ipv4.ip_forward 0\n")
    t = traced(lab, "n1 trace n4")
    assert not t.reached and t.reason == "forwarding-off", t.why
    assert "forwarding is off in r2" in t.why and "net.ipv4.ip_forward is 0" in t.why
    assert leg(t, "echo-request")[-1] == "r2:eth0"
    assert not iputils_ping(lab, "n1", "10.3.0.4")


def test_a_missing_route(lab: Lab) -> None:
    build(lab, CHAIN.replace("n1 route add default via 10.1.0.254\n", ""))
    t = traced(lab, "n1 trace 10.3.0.4")
    assert t.reason == "no-route" and "n1 cannot send to 10.3.0.4" in t.why, t.why
    # the router with no route answers with an ICMP error, code 0: net unreachable
    build(lab, "n1 route add default via 10.1.0.254\nr1 route del 10.3.0.0/24\n")
    t = traced(lab, "n1 trace 10.3.0.4")
    assert t.reason == "unreachable" and "code 0" in t.why and "net 10.3.0.4 unreachable" in t.why, t.why
    assert "r1" in t.why


def test_the_target_has_no_route_back(lab: Lab) -> None:
    build(lab, CHAIN.replace("n4 route add default via 10.3.0.254\n", "") + "r2 sysctl net.ipv4.ip_forward 1\n")
    t = traced(lab, "n1 trace n4")
    assert t.reason == "no-route" and "n4 got the echo but has no route back to 10.1.0.1" in t.why, t.why


def test_a_down_link(lab: Lab) -> None:
    build(lab, STAR + "link v2 down\n")
    t = traced(lab, "a trace b")
    assert not t.reached and t.reason == "link-down", t.why
    assert "its cable's other end host:v2 is down" in t.why, t.why
    assert not ip_j(lab, "host", "link", "show", "v2")[0]["flags"].count("UP")


def test_an_unanswered_arp(lab: Lab) -> None:
    build(lab, STAR)
    t = traced(lab, "a trace 10.0.0.9")
    assert t.reason == "no-arp-answer" and "no ARP answer for 10.0.0.9: a asked on eth0" in t.why, t.why
    assert not [x for x in t.legs if x.kind == "echo-request"]  # no echo left without a MAC to send it to


def test_ping_minus_i_br0_without_an_address(lab: Lab) -> None:
    build(lab, STAR)
    t = traced(lab, "trace -I br0 10.0.0.1")
    assert t.src_ip == "0.0.0.0" and t.reason == "source-0.0.0.0", t.why
    assert leg(t, "echo-request") == ["host:br0", "forwarded to v1", "a:eth0"]
    # an address on a bridge port: the answer goes to the bridge, not to the port's stack
    build(lab, "addr add v1 10.0.0.50/24\n")
    t = traced(lab, "trace 10.0.0.1")
    assert t.reason == "bridge-took-reply" and "br0 has no address" in t.why, t.why
    assert leg(t, "arp-reply")[-1] == "host:br0 (the bridge itself)"


def test_json_and_expect_path(lab: Lab) -> None:
    build(lab, STAR)
    res = nslab_cli("--json", "run", "-", input=STAR + "a trace --json b\n")
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)["trace"]
    assert doc["reached"] is True and doc["addr"] == "10.0.0.2" and doc["reason"] == "reached"
    assert doc["path"][0] == "a:eth0" and "b:eth0" in doc["path"]
    assert {x["kind"] for x in doc["legs"]} >= {"arp-request", "arp-reply", "echo-request", "echo-reply"}
    assert doc["legs"][0]["tree"]["at"] == "a:eth0" and doc["legs"][0]["tree"]["next"]
    assert "host:v1" in doc["watched"] and "c:eth0" in doc["watched"]
    out = lab.run("a expect path b via a:eth0 host:br0 b:eth0")
    assert out.ok, out.error
    out = lab.run("a expect path b via b:eth0 a:eth0")  # the reply comes back: both, in that order
    assert out.ok, out.error
    out = lab.run("a expect path b via c:eth0")
    assert not out.ok and "passes c:eth0" in (out.error or str(out.events)), out.events


def test_usage_errors_dry_run_and_export(tmp_path) -> None:
    res = nslab_cli("run", "-", input=STAR + "a trace -I nope b\n")
    assert res.returncode == 1 and "trace -I: no interface nope in a" in res.stdout + res.stderr
    res = nslab_cli("run", "-", input="ns add z\ntrace z\n")
    assert res.returncode == 1 and "namespace 'z' has no IPv4 or IPv6 address to trace to" in res.stdout + res.stderr
    res = nslab_cli("run", "-", input="trace\n")
    assert res.returncode == 2 and "expected TARGET" in res.stdout + res.stderr
    path = tmp_path / "l.lab"
    path.write_text(STAR + "a trace b\na expect path b via a:eth0\n")
    res = nslab_cli("run", "--dry-run", str(path))
    assert res.returncode == 0 and "2 problems" not in res.stdout, res.stdout + res.stderr
    path.write_text(STAR + "a trace nowhere\n")
    res = nslab_cli("run", "--dry-run", str(path))
    assert res.returncode == 1 and "nowhere" in res.stdout + res.stderr
    script = tmp_path / "x.sh"
    res = nslab_cli("run", "-", input=STAR + f"a expect path b via a:eth0 b:eth0\nexport sh {script}\n")
    assert res.returncode == 0, res.stdout + res.stderr
    text = script.read_text()
    assert "# nslab-only: a expect path b via a:eth0 b:eth0" in text
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
