"""Help and words: `help` lists exit and exit!, `nslab labs` lists the exercises, counts agree with
their nouns, a state is said once (no `UP (UP)`), and the kernel's `File exists` is not doubled
into a message that already says so."""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import LABS, nslab_cli
from test_repl_pty import Terminal

from nslab.base.results import ExpectResult, Message, Table
from nslab.base.words import count
from nslab.lang.bundled import resolve_lab

DOUBLED = re.compile(r"(exists|already)\b.*File exists")


def table(out) -> Table:
    return next(e for e in out.events if isinstance(e, Table))


def test_count_agrees_with_its_noun():
    assert [count(n, "namespace") for n in (0, 1, 2)] == ["0 namespaces", "1 namespace", "2 namespaces"]
    assert count(1, "match", "matches") == "1 match" and count(3, "match", "matches") == "3 matches"


# -- help --------------------------------------------------------------------------------------
def test_help_lists_exit_and_exit_now(lab):
    rows = table(lab.run("help")).rows
    words = {r[1]: r for r in rows}
    assert words["exit"][0] == "repl" and "asks first" in words["exit"][2]
    assert words["exit!"][0] == "repl" and "without asking" in words["exit!"][2]
    one = lab.run("help exit!")
    assert one.ok and table(one).rows == [["exit!", words["exit!"][2]]]


@pytest.fixture
def term(tmp_path):
    t = Terminal(str(tmp_path))
    yield t
    t.close()


def test_help_at_the_prompt_shows_exit_and_exit_now(term):
    term.wait_for(r"nslab>")
    term.type("help\r")
    term.wait_for(r"│ repl\s+│ exit\s+│ leave the REPL[\s\S]*│ repl\s+│ exit!\s+│ leave the REPL at once")
    term.wait_for(r"nslab>")
    time.sleep(0.2)
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


# -- nslab labs --------------------------------------------------------------------------------
def test_labs_lists_the_exercises_with_their_titles():
    r = nslab_cli("--json", "labs")
    assert r.returncode == 0, r.stderr
    listed = {x["lab"]: x for x in json.loads(r.stdout)["labs"]}
    exercises = sorted(p for p in (LABS / "exercises").glob("*.lab") if not p.stem.endswith(".solution"))
    assert len(exercises) >= 3
    for path in exercises:
        row = listed[f"exercises/{path.stem}"]
        assert row["title"] == path.read_text().splitlines()[0].removeprefix("# ")
        assert resolve_lab(row["lab"]) == str(path)  # the name listed is the name `nslab run` takes
    assert not any(name.endswith(".solution") for name in listed)
    assert "01-netns-basics" in listed
    plain = nslab_cli("--no-color", "labs").stdout
    assert re.search(r"exercises/01-veth-to-namespace\s+│ Exercise: plug a namespace", plain), plain


# -- counts ------------------------------------------------------------------------------------
def test_a_run_counts_in_words(tmp_path):
    (tmp_path / "one.lab").write_text("ns add a\nexpect ns a\n")
    r = nslab_cli("--no-color", "run", str(tmp_path / "one.lab"))
    assert r.returncode == 0 and "ok: 2/2 steps, 1 expect held, " in r.stdout, r.stdout
    (tmp_path / "two.lab").write_text("ns add a\n")
    r = nslab_cli("--no-color", "run", str(tmp_path / "two.lab"))
    assert "ok: 1/1 step, 0 expects held, " in r.stdout, r.stdout
    r = nslab_cli("--no-color", "run", "--dry-run", str(tmp_path / "two.lab"))
    assert "dry run: 1 line resolved, 0 problems" in r.stdout, r.stdout


def test_save_and_reset_count_in_words(lab, tmp_path):
    assert lab.run("ns add a").ok
    saved = lab.run(f"save {tmp_path / 's.lab'}")
    assert [e.text for e in saved.events if isinstance(e, Message)] == [f"saved 1 step to {tmp_path / 's.lab'}"]
    reset = lab.run("reset")
    assert "reset: undid 1 step" in [e.text for e in reset.events if isinstance(e, Message)]


# -- a state said once -------------------------------------------------------------------------
def found(lab, line: str) -> str:
    (res,) = [e for e in lab.run(line).events if isinstance(e, ExpectResult)]
    return res.found


def test_a_link_state_is_said_once(lab):
    assert lab.run("ns add n").ok and lab.run("n link lo up").ok
    assert found(lab, "n expect link lo down") == "UP (operstate UNKNOWN)"  # as `ip link` says: lo reports no carrier
    assert lab.run("veth v0 v1").ok
    assert found(lab, "expect link v0 up") == "DOWN"
    assert lab.run("link v0 up").ok  # its peer is down: no carrier
    assert found(lab, "expect link v0 down") == "UP (operstate LOWERLAYERDOWN)"
    assert lab.run("link v1 up").ok
    time.sleep(0.1)
    assert found(lab, "expect link v0 down") == "UP"


# -- File exists, said once --------------------------------------------------------------------
def test_what_exists_is_said_once(lab):
    for line in ("ns add dup", "veth v0 v1", "bridge add br0", "addr add v0 10.0.0.1/24", "link v0 up",
                 "route add 10.9.0.0/16 via 10.0.0.2"):
        assert lab.run(line).ok, line
    refused = {
        "ns add dup": "namespace 'dup' exists already",
        "veth v0 v2": "v0 exists already",
        "bridge add br0": "br0 exists already",
        "link v1 name v0": "v0 exists already",
        "addr add v0 10.0.0.1/24": "v0 has 10.0.0.1/24 already",
        "route add 10.9.0.0/16 via 10.0.0.2": "route 10.9.0.0/16 in host: File exists",  # the kernel's words, once
    }
    for line, words in refused.items():
        out = lab.run(line)
        assert not out.ok and out.error == words, (line, out.error)
        assert not DOUBLED.search(out.error), out.error


def test_leaving_says_what_goes_in_the_right_number(term):
    term.wait_for(r"nslab>")
    term.type("ns add one\r")
    term.wait_for(r"added one")
    term.wait_for(r"nslab>")
    term.type("exit\r")
    term.wait_for(r"leave\? \[y/N\]")
    m = re.search(r"the lab \(1 namespace, (\d+) (links?)\) goes away", term.text())
    assert m, term.text()
    assert (m.group(2) == "link") == (m.group(1) == "1"), m.group(0)
    term.type("y\r")
    assert term.proc.wait(timeout=15) == 0
