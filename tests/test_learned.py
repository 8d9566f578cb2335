"""What the lab learned, judged by oracles nslab did not write: `bridge -j fdb show` for `fdb ls`,
`ip -j neigh show` for `neigh ls`, `ip -j -s link show` for `link ls --stats`; the goals on them
(`expect neigh`, `expect fdb`) pass and fail when they should, and the check `export sh` writes
for each agrees when bash runs it.  Traffic goes only between namespaces these labs made."""

from __future__ import annotations

import json
import subprocess
from typing import TypeVar

import pytest
from conftest import ip_j, iputils_ping, ns_path, nslab_cli
from test_expect_agreement import verdicts

from nslab.base.results import Table
from nslab.lab import Lab

T = TypeVar("T")

STAR = ("ns add a b c\nveth a:eth0 v1\nveth b:eth0 v2\nveth c:eth0 v3\nbridge br0 add v1 v2 v3\n"
        "a addr add eth0 10.0.0.1/24\nb addr add eth0 10.0.0.2/24\nc addr add eth0 10.0.0.3/24\n"
        "a link eth0 up\nb link eth0 up\nc link eth0 up\n")
# a second switch: c sits behind bridge br1 in namespace sw, joined to br0 by a trunk cable
TWO_SWITCHES = ("ns add a b c sw\nveth a:eth0 v1\nveth b:eth0 v2\nbridge br0 add v1 v2\n"
                "veth trunk0 sw:trunk1\nbridge br0 add trunk0\nveth c:eth0 sw:p3\nsw bridge br1 add trunk1 p3\n"
                "a addr add eth0 10.0.0.1/24\nb addr add eth0 10.0.0.2/24\nc addr add eth0 10.0.0.3/24\n"
                "a link eth0 up\nb link eth0 up\nc link eth0 up\n")

# IPv6 off before any cable: a namespace's router solicitations would teach the bridges at a moment of their own
def quiet(text: str) -> str:
    names = text.splitlines()[0].split()[2:]  # the first line: ns add NAME...
    off = "".join(f"{n} sysctl net.ipv6.conf.default.disable_ipv6 1\n" for n in names)
    return text.replace("\n", "\n" + off, 1)


def build(lab: Lab, text: str) -> None:
    for line in text.splitlines():
        out = lab.run(line)
        assert out.ok, (line, out.error)


def the_event(lab: Lab, line: str, kind: type[T]) -> T:
    """LINE runs fine and gives exactly one event of KIND: that event."""
    out = lab.run(line)
    assert out.ok, (line, out.error)
    found = [e for e in out.events if isinstance(e, kind)]
    assert len(found) == 1, out.events
    return found[0]


def table(lab: Lab, line: str) -> Table:
    return the_event(lab, line, Table)


def rows(t: Table) -> list[dict]:
    return [dict(zip(t.columns, r, strict=True)) for r in t.rows]


def oracle(lab: Lab, ns: str, *argv: str) -> list[dict]:
    out = subprocess.run(["nsenter", f"--net={ns_path(lab, ns)}", *argv], capture_output=True, text=True, check=True)
    return json.loads(out.stdout or "[]")


def mac(lab: Lab, ns: str, ifname: str) -> str:
    return ip_j(lab, ns, "link", "show", "dev", ifname)[0]["address"]


def test_fdb_ls_agrees_with_bridge_fdb_show(lab: Lab) -> None:
    build(lab, STAR)
    assert iputils_ping(lab, "a", "10.0.0.2") and iputils_ping(lab, "c", "10.0.0.1")
    kinds = {"learned": "", "permanent": "permanent", "self": "self"}
    ours = {(r["mac"], r["port"], kinds[r["type"]]) for r in rows(table(lab, "fdb ls --all br0"))}
    theirs = {(e["mac"], e["ifname"], "self" if "self" in e["flags"] else e["state"])
              for e in oracle(lab, "host", "bridge", "-j", "fdb", "show", "br", "br0")}
    assert ours == theirs
    learned = {(r["mac"], r["port"]): r["owner"] for r in rows(table(lab, "fdb ls br0")) if r["type"] == "learned"}
    assert learned == {(mac(lab, "a", "eth0"), "v1"): "a:eth0", (mac(lab, "b", "eth0"), "v2"): "b:eth0",
                       (mac(lab, "c", "eth0"), "v3"): "c:eth0"}
    # without --all the ports' own multicast entries are left out; every bridge without a name
    assert {r["type"] for r in rows(table(lab, "fdb ls"))} == {"learned", "permanent"}


def test_fdb_ls_refuses_what_is_no_bridge(lab: Lab) -> None:
    build(lab, STAR)
    assert "v1 is a veth, not a bridge" in (lab.run("fdb ls v1").error or "")
    assert "no bridge br9 in host" in (lab.run("fdb ls br9").error or "")


def test_learned_entries_age_out_as_bridge_fdb_shows(lab: Lab) -> None:
    # (IPv6 off: the namespaces' router solicitations would teach the bridge again for 8 s)
    build(lab, quiet(STAR))
    assert iputils_ping(lab, "a", "10.0.0.2")
    subprocess.run(["nsenter", f"--net={ns_path(lab, 'host')}", "ip", "link", "set", "br0", "type", "bridge",
                    "ageing_time", "100"], check=True)  # 1 s
    out = lab.run("fdb ls br0")
    assert any("forgets a learned MAC 1 s after" in str(getattr(e, "text", "")) for e in out.events)
    import time

    time.sleep(2.5)
    left = {r["type"] for r in rows(table(lab, "fdb ls br0"))}
    theirs = [e for e in oracle(lab, "host", "bridge", "-j", "fdb", "show", "br", "br0") if e.get("master") and not e["state"]]
    assert "learned" not in left and not theirs  # aged out, as bridge fdb shows it too


def test_neigh_ls_agrees_with_ip_neigh(lab: Lab) -> None:
    build(lab, STAR)
    assert iputils_ping(lab, "a", "10.0.0.2") and iputils_ping(lab, "a", "10.0.0.3")
    assert not iputils_ping(lab, "a", "10.0.0.9", wait=0.5)  # nobody: INCOMPLETE, then FAILED
    ours = {(r["address"], r["dev"], r["mac"] or None, r["state"]) for r in rows(table(lab, "a neigh ls"))}
    theirs = {(e["dst"], e["dev"], e.get("lladdr"), " ".join(e["state"])) for e in ip_j(lab, "a", "neigh", "show")}
    assert ours == theirs
    owners = {r["address"]: r["owner"] for r in rows(table(lab, "neigh ls a"))}
    assert owners["10.0.0.2"] == "b:eth0" and owners["10.0.0.3"] == "c:eth0"
    assert {r["state"] for r in rows(table(lab, "neigh ls a")) if r["address"] == "10.0.0.9"} <= {"INCOMPLETE", "FAILED"}


STATS = {"rx packets": ("rx", "packets"), "rx bytes": ("rx", "bytes"), "rx dropped": ("rx", "dropped"),
         "rx errors": ("rx", "errors"), "tx packets": ("tx", "packets"), "tx bytes": ("tx", "bytes"),
         "tx dropped": ("tx", "dropped"), "tx errors": ("tx", "errors")}


def test_link_stats_agree_with_ip_s_link_within_the_traffic_between(lab: Lab) -> None:
    build(lab, STAR)
    assert iputils_ping(lab, "a", "10.0.0.2", count=3)
    first = {r["name"]: r for r in rows(table(lab, "link ls --stats"))}
    theirs = {e["ifname"]: e["stats64"] for e in ip_j(lab, "host", "-s", "link", "show")}
    assert iputils_ping(lab, "a", "10.0.0.3", count=2)  # traffic after the oracle read, before the second
    second = {r["name"]: r for r in rows(table(lab, "link ls --stats"))}
    assert set(first) == set(theirs) == {"lo", "v1", "v2", "v3", "br0"}
    for name, counts in theirs.items():
        for col, (way, what) in STATS.items():
            assert first[name][col] <= counts[way][what] <= second[name][col], (name, col)
    assert first["v1"]["rx packets"] >= 4  # three echoes and an ARP from a at least
    assert second["v3"]["tx packets"] > first["v3"]["tx packets"]


# -- the goals, and the exported script's checks ----------------------------------

def expect(lab: Lab, line: str) -> bool:
    out = lab.run(line)
    assert out.step is not None and out.step.outcome in ("ok", "unmet"), (line, out.error)
    return out.step.outcome == "ok"


def test_expect_neigh_holds_only_after_the_context_resolved(lab: Lab) -> None:
    build(lab, STAR)
    assert not expect(lab, "a expect neigh 10.0.0.2")  # nothing sent yet
    assert iputils_ping(lab, "a", "10.0.0.2")
    assert expect(lab, "a expect neigh 10.0.0.2")
    assert expect(lab, "a expect neigh 10.0.0.2 b:eth0")
    assert expect(lab, f"a expect neigh 10.0.0.2 {mac(lab, 'b', 'eth0')}")
    assert not expect(lab, "a expect neigh 10.0.0.2 c:eth0")  # resolved, but to b's MAC
    assert not expect(lab, "a expect neigh 10.0.0.2 02:00:00:00:00:09")
    assert not expect(lab, "b expect neigh 10.0.0.3")  # only a asked
    assert not iputils_ping(lab, "a", "10.0.0.9", wait=0.5)
    assert not expect(lab, "a expect neigh 10.0.0.9")  # asked, never answered: INCOMPLETE or FAILED
    assert not expect(lab, "a expect neigh 10.0.0.2 b:nothere")


def test_expect_fdb_wants_the_port_towards_the_endpoint(lab: Lab) -> None:
    build(lab, quiet(TWO_SWITCHES))  # no IPv6: a's autoconfiguration frames would teach the bridge first
    assert not expect(lab, "expect fdb br0 a:eth0")  # no frame yet: the bridge floods
    assert iputils_ping(lab, "a", "10.0.0.3") and iputils_ping(lab, "b", "10.0.0.1")
    assert expect(lab, "expect fdb br0 a:eth0")
    assert expect(lab, "expect fdb br0 c:eth0")  # learned on trunk0: c is behind br1
    assert expect(lab, "sw expect fdb br1 a:eth0")  # and br1 learned a on its trunk end
    assert expect(lab, "sw expect fdb br1 c:eth0")
    assert not expect(lab, "expect fdb br0 v1")  # a port's own MAC is permanent, not learned
    assert not expect(lab, "expect fdb br1 a:eth0")  # br1 is not in the host
    assert not expect(lab, "expect fdb br0 sw:lo")
    found = lab.run("expect fdb br0 c:eth0").events[-1]
    assert "on port trunk0" in found.wanted


def test_expect_fdb_fails_when_the_mac_sits_on_another_port(lab: Lab) -> None:
    build(lab, quiet(STAR))
    assert iputils_ping(lab, "a", "10.0.0.2")
    # c takes a's MAC and speaks: br0 now has that MAC on v3, not on v1
    assert lab.run(f"c link eth0 mac {mac(lab, 'a', 'eth0')}").ok
    assert iputils_ping(lab, "c", "10.0.0.2")
    out = lab.run("expect fdb br0 a:eth0")
    assert out.step.outcome == "unmet" and "learned on v3" in out.events[-1].found


TRAFFIC = "a expect reach 10.0.0.2\nsw expect reach 10.0.0.1\n"  # exported as pings, so the script learns too


@pytest.mark.parametrize("goal,met", [
    ("a expect neigh 10.0.0.2", True), ("a expect neigh 10.0.0.2 b:eth0", True),
    ("a expect neigh 10.0.0.2 a:eth0", False), ("a expect neigh 10.0.0.3", False),
    ("a expect neigh 10.0.0.2 02:00:00:00:00:09", False),
    ("expect fdb br0 a:eth0", True), ("expect fdb br0 b:eth0", True), ("expect fdb br0 c:eth0", False),
    ("sw expect fdb br1 a:eth0", True), ("sw expect fdb br1 c:eth0", False), ("expect fdb br0 v1", False),
])
def test_the_exported_check_agrees(tmp_path, goal: str, met: bool) -> None:
    lines = quiet(TWO_SWITCHES) + "sw addr add br1 10.0.0.9/24\nsw link br1 up\n" + TRAFFIC
    assert verdicts(lines, goal, tmp_path) == (met, met)


def test_a_literal_mac_goal_agrees_when_the_lab_sets_the_mac(tmp_path) -> None:
    lines = STAR + "b link eth0 mac 02:00:00:00:00:02\na expect reach 10.0.0.2\n"
    assert verdicts(lines, "a expect neigh 10.0.0.2 02:00:00:00:00:02", tmp_path) == (True, True)


def test_the_dry_run_resolves_but_does_not_judge(tmp_path) -> None:
    path = tmp_path / "l.lab"
    path.write_text(STAR + "fdb ls br0\nneigh ls a\nlink ls --stats\nwatch v1\nexpect fdb br0 a:eth0\n"
                    "a expect neigh 10.0.0.2\n")
    res = nslab_cli("run", "--dry-run", str(path))
    assert res.returncode == 0, res.stdout + res.stderr
    path.write_text(STAR + "fdb ls br9\n")
    res = nslab_cli("run", "--dry-run", str(path))
    assert res.returncode == 1 and "no bridge br9 in host" in res.stdout + res.stderr


def test_watch_off_a_terminal_prints_one_sample(tmp_path) -> None:
    res = nslab_cli("run", "-", input=STAR + "watch -i 0.2 v1 a:eth0\n")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rates over 0.2 s" in res.stdout and "a:eth0" in res.stdout
    assert "one sample, as it is not typed at a terminal" in res.stdout + res.stderr
    res = nslab_cli("run", "-", input=STAR + "watch v9\n")
    assert res.returncode == 1 and "watch: no interface v9" in res.stdout + res.stderr


def test_lab_09_replays_green_and_its_fdb_is_json() -> None:
    res = nslab_cli("run", "labs/09-what-a-bridge-learns.lab")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "11 expects held" in res.stdout and "unmet" not in res.stdout
    res = nslab_cli("--json", "run", "-", input=quiet(STAR) + "a expect reach 10.0.0.2\nfdb ls br0\n")
    assert res.returncode == 0, res.stderr
    docs = [json.loads(d) for d in res.stdout.replace("}\n{", "}\x00{").split("\x00") if d.strip()]
    fdb = next(d["fdb"] for d in docs if "fdb" in d)
    assert {(e["port"], e["owner"]) for e in fdb if e["type"] == "learned"} == {("v1", "a:eth0"), ("v2", "b:eth0")}
