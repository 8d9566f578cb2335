"""The bundled tutorial labs and exercises: each replays green, and the lab it leaves is
the one the tutorial describes, judged by `ip -j` dumps and iputils ping (not by nslab)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import LABS, ip_j, iputils_ping, ns_path, nslab_cli

from nslab.lab import Lab
from nslab.lang.labfile import parse_file

# the tutorial's first five labs (the later ones need a Docker engine and are tested with it)
TUTORIAL = [LABS / f"{stem}.lab" for stem in (
    "01-netns-basics", "02-veth-host", "03-two-namespaces", "04-bridge", "05-bridge-uplink")]
# the later labs that need no container (09, 10, ...): every numbered lab outside 01-08
LATER = sorted(p for p in LABS.glob("[0-9]*.lab") if int(p.name[:2]) > 8)
EXERCISES = sorted(p for p in (LABS / "exercises").glob("*.lab") if not p.name.endswith(".solution.lab"))
SOLUTIONS = sorted((LABS / "exercises").glob("*.solution.lab"))


def solution_of(exercise: Path) -> Path:
    return exercise.with_name(exercise.name.removesuffix(".lab") + ".solution.lab")


def expect_lines(path: Path) -> list[str]:
    return [c.text.strip() for c in parse_file(path).commands if c.name == "expect"]


def summary(out: str) -> str:
    lines = [x for x in out.splitlines() if re.match(r"^(ok|failed): ", x)]
    assert lines, out
    return lines[-1]


# -- the oracle's view -------------------------------------------------------------

def links(lab: Lab, ns: str) -> dict[str, dict]:
    return {x["ifname"]: x for x in ip_j(lab, ns, "-d", "link", "show")}


def v4(lab: Lab, ns: str, dev: str) -> set[str]:
    return {f"{a['local']}/{a['prefixlen']}" for x in ip_j(lab, ns, "-4", "addr", "show", "dev", dev)
            for a in x.get("addr_info", [])}


def routes(lab: Lab, ns: str) -> list[dict]:
    return ip_j(lab, ns, "-4", "route", "show")


def default_route(lab: Lab, ns: str) -> dict:
    found = [r for r in routes(lab, ns) if r["dst"] == "default"]
    assert len(found) == 1, found
    return found[0]


def kind(link: dict) -> str:
    return link.get("linkinfo", {}).get("info_kind", "")


def is_up(link: dict) -> bool:
    return "UP" in link["flags"]


def assert_peers(lab: Lab, a: tuple[str, str], b: tuple[str, str]) -> None:
    """a and b are the two ends of one veth pair (each end names the other's ifindex)."""
    la, lb = links(lab, a[0])[a[1]], links(lab, b[0])[b[1]]
    assert kind(la) == kind(lb) == "veth"
    assert la["link_index"] == lb["ifindex"] and lb["link_index"] == la["ifindex"]


def run_until(lab: Lab, path: Path, stop: str) -> None:
    """Run the lab's steps up to (not including) the line `stop`; every step must succeed."""
    for cmd in parse_file(path).commands:
        if cmd.text.strip() == stop:
            return
        out = lab.execute(cmd)
        assert out.ok, (cmd.text, out.error)
    raise AssertionError(f"{path.name} has no line {stop!r}")


def run_all(lab: Lab, path: Path) -> None:
    """Run the whole lab; every step must succeed and every expect hold."""
    outcomes = lab.run_file(str(path))
    assert len(outcomes) == len(parse_file(path).commands)
    for out in outcomes:
        assert out.ok, (out.step.text if out.step else None, out.error, out.events)


# -- every bundled file replays green through the real command line -------------------

def test_the_tutorial_and_the_exercises_are_bundled():
    assert all(p.is_file() for p in TUTORIAL)
    assert [p.stem for p in LATER][:2] == ["09-what-a-bridge-learns", "10-shaping"]
    assert len(EXERCISES) >= 2
    assert [solution_of(e) for e in EXERCISES] == SOLUTIONS


@pytest.mark.parametrize("path", TUTORIAL + LATER + SOLUTIONS, ids=lambda p: p.name)
def test_replays_green(path: Path):
    res = nslab_cli("run", str(path))
    assert res.returncode == 0, res.stdout + res.stderr
    held = len(expect_lines(path))
    assert held > 0
    assert summary(res.stdout).startswith("ok: ")
    assert f"{held} expect{'' if held == 1 else 's'} held" in summary(res.stdout)
    assert "unmet" not in summary(res.stdout)


@pytest.mark.parametrize("path", TUTORIAL + LATER + EXERCISES + SOLUTIONS, ids=lambda p: p.name)
def test_narrated_with_title_and_sections(path: Path):
    text = path.read_text()
    first = text.splitlines()[0]
    assert re.match(r"^# \S", first) and not first.startswith("##")
    assert re.search(r"^## \S", text, re.M)
    cmds = parse_file(path).commands
    # every section opens with narration: what the next command does and why
    by_section: dict[str | None, list] = {}
    for c in cmds:
        by_section.setdefault(c.section, []).append(c)
    for section, items in by_section.items():
        if section in ("Goals",):
            continue
        assert items[0].narration, f"{path.name}: section {section!r} has no narration"


def test_labs_lists_the_five_with_titles():
    res = nslab_cli("labs")
    assert res.returncode == 0, res.stderr
    for path in TUTORIAL:
        assert path.stem in res.stdout
    listed = {x["lab"]: x["title"] for x in json.loads(nslab_cli("--json", "labs").stdout)["labs"]}
    for path in TUTORIAL:
        assert listed[path.stem] == path.read_text().splitlines()[0].removeprefix("# ")


# -- exercises: goals unmet before, met by the solution ------------------------------

@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name)
def test_exercise_goals_match_its_solution(exercise: Path):
    solution = solution_of(exercise)
    assert expect_lines(exercise) == expect_lines(solution)
    setup = [c.text.strip() for c in parse_file(exercise).commands if c.name != "expect"]
    steps = [c.text.strip() for c in parse_file(solution).commands if c.name != "expect"]
    assert steps[:len(setup)] == setup  # the solution starts from the exercise's own setup
    assert len(steps) > len(setup)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name)
def test_unsolved_exercise_fails_its_goals(exercise: Path):
    res = nslab_cli("run", "-q", str(exercise))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "unmet" in summary(res.stdout)
    assert "error:" not in res.stdout  # a goal not met yet is not a broken step


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name)
def test_check_grades_the_exercise(lab: Lab, exercise: Path):
    setup = [c for c in parse_file(exercise).commands if c.name != "expect"]
    for cmd in setup:
        assert lab.execute(cmd).ok, cmd.text
    ungraded = lab.run(f"check {exercise}")
    assert not ungraded.ok
    failed = [e for e in ungraded.events if getattr(e, "key", None) == "check"][0]
    assert any(row[2] == "FAIL" for row in failed.rows)
    for cmd in parse_file(solution_of(exercise)).commands[len(setup):]:
        if cmd.name != "expect":
            assert lab.execute(cmd).ok, cmd.text
    graded = lab.run(f"check {exercise}")
    assert graded.ok, graded.events


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name)
def test_check_finds_a_bundled_exercise_by_name(exercise: Path):
    name = f"exercises/{exercise.name}"  # as the exercise's own narration tells students to write it
    solved = nslab_cli("run", "-", input=f"source {name.replace('.lab', '.solution.lab')}\ncheck {name}\n")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    unsolved = nslab_cli("run", "-", input=f"check {name}\n")
    assert unsolved.returncode == 1 and "FAIL" in unsolved.stdout, unsolved.stdout + unsolved.stderr


# -- each lab's end state, as iproute2 and iputils see it ------------------------------

def test_01_netns_basics(lab: Lab):
    path = LABS / "01-netns-basics.lab"
    run_until(lab, path, "ns del net-test")
    assert Path("/run/netns/net-test").exists()
    inside = links(lab, "net-test")
    assert list(inside) == ["lo"] and not is_up(inside["lo"])  # a new namespace holds only lo, down
    assert "net-test" not in links(lab, "host")


def test_01_netns_basics_ends_with_nothing(lab: Lab):
    run_all(lab, LABS / "01-netns-basics.lab")
    assert not Path("/run/netns/net-test").exists()
    assert list(links(lab, "host")) == ["lo"]


def test_02_veth_host(lab: Lab):
    path = LABS / "02-veth-host.lab"
    run_until(lab, path, "ns del ns1")
    host, ns1 = links(lab, "host"), links(lab, "ns1")
    assert "veth1" not in host and "veth1" not in ns1
    assert_peers(lab, ("host", "veth0"), ("ns1", "eth0"))
    assert is_up(host["veth0"]) and is_up(ns1["eth0"])
    assert v4(lab, "ns1", "eth0") == {"192.168.189.33/24"}
    assert v4(lab, "host", "veth0") == {"192.168.189.34/24"}
    assert iputils_ping(lab, "host", "192.168.189.33")
    assert iputils_ping(lab, "ns1", "192.168.189.34")


def test_02_deleting_ns1_removes_both_ends(lab: Lab):
    run_all(lab, LABS / "02-veth-host.lab")
    assert not Path("/run/netns/ns1").exists()
    assert "veth0" not in links(lab, "host")  # deleting ns1 took both ends


def test_03_two_namespaces(lab: Lab):
    run_all(lab, LABS / "03-two-namespaces.lab")
    assert_peers(lab, ("ns1", "veth0"), ("ns2", "veth1"))
    assert not {"veth0", "veth1"} & set(links(lab, "host"))
    assert v4(lab, "ns1", "veth0") == {"192.168.189.34/24"}
    assert v4(lab, "ns2", "veth1") == {"192.168.189.33/24"}
    assert iputils_ping(lab, "ns1", "192.168.189.33")
    assert iputils_ping(lab, "ns2", "192.168.189.34")
    assert not iputils_ping(lab, "host", "192.168.189.33", wait=0.3)


def test_04_no_answer_with_the_address_on_a_bridge_port(lab: Lab):
    # the tutorial's point: with the address on a port (veth1), not on br0, the host gets no answer
    run_until(lab, LABS / "04-bridge.lab", "addr del veth1 192.168.189.34/24")
    assert v4(lab, "host", "veth1") == {"192.168.189.34/24"} and v4(lab, "host", "br0") == set()
    assert links(lab, "host")["veth1"]["master"] == "br0"
    assert not iputils_ping(lab, "host", "192.168.189.33", wait=0.5)
    assert iputils_ping(lab, "ns1", "192.168.189.35")  # while the namespaces reach each other


def test_04_bridge(lab: Lab):
    run_all(lab, LABS / "04-bridge.lab")
    host = links(lab, "host")
    assert kind(host["br0"]) == "bridge" and is_up(host["br0"])
    ports = {x["ifname"] for x in ip_j(lab, "host", "link", "show", "master", "br0")}
    assert ports == {"veth1", "veth2", "veth3"}
    for i, ns in enumerate(["ns1", "ns2", "ns3"], 1):
        assert_peers(lab, ("host", f"veth{i}"), (ns, "eth0"))
        assert is_up(host[f"veth{i}"])
    assert v4(lab, "host", "br0") == {"192.168.189.34/24"} and v4(lab, "host", "veth1") == set()
    for target in ["192.168.189.33", "192.168.189.35", "192.168.189.36"]:
        assert iputils_ping(lab, "host", target)
    assert iputils_ping(lab, "ns1", "192.168.189.35")
    assert iputils_ping(lab, "ns2", "192.168.189.36")
    assert iputils_ping(lab, "ns3", "192.168.189.33")


def test_05_before_the_takeover(lab: Lab):
    run_until(lab, LABS / "05-bridge-uplink.lab", "bridge add br0")
    # before: the host's eth0 is a cable into the LAN, with the address and the default route
    assert_peers(lab, ("host", "eth0"), ("lan", "eth0"))
    assert v4(lab, "host", "eth0") == {"192.168.137.55/24"}
    before = default_route(lab, "host")
    assert before["gateway"] == "192.168.137.1" and before["dev"] == "eth0"
    assert iputils_ping(lab, "host", "198.51.100.1")


def test_05_bridge_uplink(lab: Lab):
    run_all(lab, LABS / "05-bridge-uplink.lab")
    host = links(lab, "host")
    # after: eth0 is a port of br0 without an address; br0 holds it and the default route
    assert host["eth0"]["master"] == "br0" and kind(host["br0"]) == "bridge"
    assert v4(lab, "host", "eth0") == set()
    assert v4(lab, "host", "br0") == {"192.168.137.55/24"}
    after = default_route(lab, "host")
    assert after["gateway"] == "192.168.137.1" and after["dev"] == "br0"
    # the namespace on the LAN, as pipework leaves a container
    assert host["veth1pl58"]["master"] == "br0"
    assert_peers(lab, ("host", "veth1pl58"), ("ns1", "eth1"))
    assert v4(lab, "ns1", "eth1") == {"192.168.137.58/24"}
    inner = default_route(lab, "ns1")
    assert inner["gateway"] == "192.168.137.1" and inner["dev"] == "eth1"
    assert iputils_ping(lab, "ns1", "192.168.137.1")
    assert iputils_ping(lab, "ns1", "198.51.100.1")  # beyond the gateway: the default route works
    assert iputils_ping(lab, "host", "198.51.100.1")
    assert iputils_ping(lab, "lan", "192.168.137.58")


def tbf_rate(lab: Lab, ns: str, dev: str) -> int | None:
    """The oracle: the bit rate of the tbf at DEV's root as `tc -j qdisc show` reads it, or None."""
    out = subprocess.run(["nsenter", f"--net={ns_path(lab, ns)}", "tc", "-j", "qdisc", "show", "dev", dev],
                         capture_output=True, text=True, check=True).stdout
    roots = [q for q in json.loads(out or "[]") if q.get("root") and q["kind"] == "tbf"]
    return roots[0]["options"]["rate"] * 8 if roots else None


def test_10_shaping_puts_tbf_on_the_ends_it_names_and_clear_takes_them_off(lab: Lab):
    path = LABS / "10-shaping.lab"
    commands = parse_file(path).commands
    stops = {"link ns1:eth0 rate 10mbit --both": (10_000_000, None), "link ns1:eth0 rate 50mbit": (10_000_000, 10_000_000),
             "link ns1:eth0 clear --both": (50_000_000, 10_000_000)}
    seen = []
    for cmd in commands:
        if (wanted := stops.get(cmd.text.strip())) is not None:
            # before each of these lines, the qdiscs the narration says the lines above left
            assert (tbf_rate(lab, "ns1", "eth0"), tbf_rate(lab, "ns2", "eth0")) == wanted, cmd.text
            seen.append(cmd.text.strip())
        if cmd.name in ("perf",) or (cmd.name == "expect" and cmd.form.handler == "expect_perf"):
            continue  # the throughput is the replay's to judge (test_replays_green); here only the qdiscs
        out = lab.execute(cmd)
        assert out.ok, (cmd.text, out.error)
    assert seen == list(stops)
    assert (tbf_rate(lab, "ns1", "eth0"), tbf_rate(lab, "ns2", "eth0")) == (None, None)
    assert iputils_ping(lab, "ns1", "10.0.0.2")
