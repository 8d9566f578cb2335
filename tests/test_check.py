"""Grading and dry runs: `check` passes a solved exercise and names every unmet goal of an
unsolved one (in-process and `nslab --host check` from another process); `run --dry-run`
finds what a real run trips on, with no privileges and without touching the kernel."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import ROOT, nslab_cli

from nslab.base.results import Table
from nslab.lab import Lab, dry_run
from nslab.lang.labfile import parse_text

EX = ROOT / "nslab" / "labs" / "exercises"
TASK = EX / "01-veth-to-namespace.lab"
SOLUTION = EX / "01-veth-to-namespace.solution.lab"
GOALS = [line for line in TASK.read_text().splitlines() if "expect " in line and not line.startswith("#")]


def check_table(lab: Lab, path) -> tuple[bool, Table]:
    out = lab.run(f"check {path}")
    tables = [e for e in out.events if isinstance(e, Table)]
    assert len(tables) == 1, out.error
    return out.ok, tables[0]


def test_check_passes_a_solved_exercise(lab):
    for out in lab.run_file(str(SOLUTION)):
        assert out.ok, out.error
    ok, table = check_table(lab, TASK)
    assert ok
    assert [r[2] for r in table.rows] == ["pass"] * len(GOALS) and len(GOALS) == 7
    assert f"{len(GOALS)}/{len(GOALS)} passed" in table.title


def test_check_fails_an_unsolved_exercise_naming_each_goal(lab):
    setup = [c for c in parse_text(TASK.read_text(), str(TASK)).commands if c.name != "expect"]
    for cmd in setup:
        assert lab.execute(cmd).ok
    ok, table = check_table(lab, TASK)
    assert not ok
    failed = {r[1]: r[3] for r in table.rows if r[2] == "FAIL"}
    assert sorted(failed) == sorted(GOALS)  # nothing is done yet: every goal is named as unmet
    assert failed["expect no link veth1"] == "it exists"
    # half-solve it: the goals that now hold pass, the rest stay named
    for line in ["link veth1 netns ns1", "ns1 link veth1 name eth0", "ns1 link eth0 up"]:
        assert lab.run(line).ok
    ok, table = check_table(lab, TASK)
    result = {r[1]: r[2] for r in table.rows}
    assert not ok
    assert result["expect no link veth1"] == "pass" and result["expect link ns1:eth0 up"] == "pass"
    assert result["expect addr ns1:eth0 192.168.189.33/24"] == "FAIL"


def test_host_check_reset_and_history_from_later_processes():
    # host mode acts on this test process's isolated root and /run/netns: safe
    r = nslab_cli("--host", "--no-color", "run", str(SOLUTION))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        r = nslab_cli("--host", "--no-color", "check", str(TASK))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "7/7 passed" in r.stdout
        assert os.path.exists("/run/nslab/default/journal.jsonl")
        # a later process sees the journal, undoes from it
        r = nslab_cli("--host", "--no-color", input="history --ip\nundo 2\n")
        assert "ip link set dev veth0 up" in r.stdout, r.stdout + r.stderr
        assert ": link veth0 up (took veth0 down)" in r.stdout, r.stdout  # undo says what it undid, step by step
        assert ": addr add veth0 192.168.189.34/24 (took 192.168.189.34/24 off veth0)" in r.stdout
        r = nslab_cli("--host", "--no-color", "check", str(TASK))
        assert r.returncode == 1
        assert "expect addr veth0 192.168.189.34/24" in r.stdout and "FAIL" in r.stdout
    finally:
        r = nslab_cli("--host", "--no-color", "reset")
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.listdir("/run/netns") == []
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout)
    assert [x["ifname"] for x in links] == ["lo"]


BAD = {
    "missing endpoint": ("ns add a b\nveth a:eth0 b:eth0\na addr add eth9 10.0.0.1/24\n", 3),
    "duplicate namespace": ("ns add a\nns add b a\n", 2),
    "duplicate interface": ("ns add a\nveth a:eth0 x0\nveth x1 a:eth0\n", 3),
    "address twice": ("ns add a\nveth a:eth0 x0\na addr add eth0 10.0.0.1/24\na addr add eth0 10.0.0.1/24\n", 4),
    "gateway off-link": ("ns add a\nveth a:eth0 x0\na link eth0 up\na route add default via 10.9.9.9\n", 4),
    "delete a missing ns": ("ns add a\nns del a\nns del a\n", 3),
    "later reference": ("ns add a\nveth a:eth0 x0\nlink x0 netns a\nlink x0 up\n", 4),
    "renamed away": ("ns add a\nveth a:eth0 x0\na link eth0 name wan\na addr add eth0 10.0.0.1/24\n", 4),
    "moved in": ("ns add a\nveth v0 v1\nlink v1 netns a\na link v1 up\nlink v0 up\nvt addr add v9 10.0.0.1/24\n", 6),
}


def test_dry_run_stops_where_the_real_run_stops(tmp_path):
    for name, (text, line) in BAD.items():
        problems, _ = dry_run(parse_text(text, "bad.lab").commands)
        assert problems and problems[0].where == f"bad.lab:{line}", (name, problems)
        path = tmp_path / "bad.lab"
        path.write_text(text)
        with Lab() as lab:
            outs = lab.run_file(str(path))
        failed = [o for o in outs if not o.ok]
        assert failed and failed[0].step.source.endswith(f"bad.lab:{line}"), name  # the oracle: the kernel


def test_dry_run_passes_every_bundled_lab_and_exercise():
    for path in [*sorted((ROOT / "nslab" / "labs").glob("[0-9]*.lab")), *sorted(EX.glob("*.lab"))]:
        r = nslab_cli("--no-color", "run", "--dry-run", str(path))
        assert r.returncode == 0, f"{path.name}: {r.stdout}"


def test_dry_run_needs_no_privileges():
    """As uid 65534 with no capabilities, the same namespace before and after: nothing unshared."""
    bad = "ns add a b\nveth a:eth0 b:eth0\na addr add eth9 10.0.0.1/24\nns add a\na addr add eth0 10.0.0.300/24\n"
    code = ("import json, os, sys\n"
            "from nslab.lang.labfile import LabFileError, parse_text\n"
            "from nslab.lab import dry_run\n"
            "text = sys.stdin.read()\n"
            "try:\n    parse_text(text, 'bad.lab')\nexcept LabFileError as e:\n"
            "    print(json.dumps(['parse', str(e.errors[0].loc), e.errors[0].message]))\n"
            "good = '\\n'.join(text.splitlines()[:4])\n"
            "ps, n = dry_run(parse_text(good, 'bad.lab').commands)\n"
            "print(json.dumps([[p.where, p.message] for p in ps]))\n"
            "print(os.getuid(), os.readlink('/proc/self/ns/net'))\n")
    # the system python: the test's own interpreter lives under /root, closed to uid 65534
    r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all",
                        "/usr/bin/python3", "-c", code], input=bad, capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, cwd="/")
    assert r.returncode == 0, r.stderr
    parse, problems, who = r.stdout.splitlines()
    assert json.loads(parse)[:2] == ["parse", "bad.lab:5:17"]  # the bad address, with its column
    assert json.loads(problems) == [["bad.lab:3", "no interface a:eth9; did you mean eth0?"],
                                    ["bad.lab:4", "namespace 'a' exists already"]]
    uid, netns = who.split()
    assert uid == "65534" and netns == os.readlink("/proc/self/ns/net")
