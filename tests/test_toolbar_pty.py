"""The toolbar at a real terminal tells the truth about the lab: after a sourced exercise, after a
change made by another process (an `ip` run in the lab's namespace, an attached REPL) while the
prompt waits, and an attached REPL whose lab has ended says so and leaves."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from test_repl_pty import Terminal


@pytest.fixture
def term(tmp_path):
    t = Terminal(str(tmp_path))
    t.wait_for(r"nslab>")
    yield t
    t.close()


def toolbar(term: Terminal) -> str:
    """The bottom line, drawn afresh (Ctrl-L redraws the whole screen, nothing else: no key re-reads the lab)."""
    term.type("\x0c")
    deadline = time.perf_counter() + 0.5
    while time.perf_counter() < deadline:
        term.read()
        bars = re.findall(r" (?:isolated|attached|host) lab · [^\n]*", term.text())
        if bars:
            return bars[-1]
    raise AssertionError(f"no toolbar on the screen:\n{term.text()[-2000:]}")


def toolbar_shows(term: Terminal, pattern: str, within: float = 1.0) -> float:
    """Seconds until the toolbar matches PATTERN; fails past WITHIN."""
    t0 = time.perf_counter()
    while True:
        bar = toolbar(term)
        took = time.perf_counter() - t0
        if re.search(pattern, bar):
            return took
        if took > within:
            raise AssertionError(f"after {took:.2f} s the toolbar still shows {bar!r}, not {pattern!r}")
        time.sleep(0.05)


def attach(term: Terminal, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nslab", "attach", *args], capture_output=True, text=True,
                          env=term.env, cwd=ROOT, timeout=30)


def test_the_toolbar_counts_a_sourced_exercise(term):
    assert re.search(r"0 namespaces · 0 links", toolbar(term))
    term.type("source exercises/01-veth-to-namespace\r")
    term.wait_for(r"\[Enter\] run")  # the teaching replay; `c` runs the rest
    term.type("c\r")
    term.wait_for(r"nslab>")
    # the sourced exercise is open now: its goals are counted too (source opens it as run -i does)
    toolbar_shows(term, r"1 namespace · 2 links · 0 bridges · goals 0/7 · last: source exercises/01", within=0)
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def test_a_change_made_by_another_process_shows_within_a_second(term):
    term.type("ns add alpha\r")
    term.wait_for(r"added alpha")
    toolbar_shows(term, r"1 namespace · 0 links", within=0)
    r = attach(term, "alpha", "--", "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
    assert r.returncode == 0, r.stderr
    toolbar_shows(term, r"1 namespace · 2 links")
    # a namespace made elsewhere is watched too: a change inside it shows as well
    r = attach(term, "host", "--", "ip", "netns", "add", "beta")
    assert r.returncode == 0, r.stderr
    toolbar_shows(term, r"2 namespaces · 2 links")
    r = attach(term, "beta", "--", "ip", "link", "add", "br9", "type", "bridge")
    assert r.returncode == 0, r.stderr
    toolbar_shows(term, r"2 namespaces · 3 links · 1 bridge\b")
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def test_two_repls_on_one_lab_see_each_other_and_the_attached_one_leaves_when_it_ends(term, tmp_path):
    term.type("ns add alpha\r")
    term.wait_for(r"added alpha")
    second = Terminal(str(tmp_path), "attach")
    try:
        second.wait_for(r"nslab\[attached\]>")
        toolbar_shows(second, r"attached lab · 1 namespace · 0 links", within=0)
        second.type("ns add beta\r")
        second.wait_for(r"added beta")
        toolbar_shows(term, r"isolated lab · 2 namespaces")  # the main REPL sees the attached one's change
        term.type("veth alpha beta\r")
        term.wait_for(r"new veth pair")  # the step's answer: "nslab>" shows already while the keys echo
        toolbar_shows(second, r"attached lab · 2 namespaces · 2 links", within=2.0)  # and the other way round
        second.screen = b""
        term.type("exit!\r")
        assert term.proc.wait(timeout=15) == 0
        second.wait_for(r"the lab ended")
        assert second.proc.wait(timeout=5) == 0
        second.read()
        assert "Traceback" not in second.text()
    finally:
        second.close()
