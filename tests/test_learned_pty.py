"""`watch` at a real terminal: rates come each interval until a key is pressed; the key ends it
(and is not left for the prompt), and the REPL goes on."""

from __future__ import annotations

import pytest
from test_repl_pty import Terminal


@pytest.fixture
def term(tmp_path):
    t = Terminal(str(tmp_path))
    yield t
    t.close()


def test_watch_runs_until_a_key_then_the_prompt_works(term):
    term.wait_for(r"nslab>")
    term.type("ns add a\r")
    term.wait_for(r"added a")
    term.type("veth a v1\r")
    term.wait_for(r"veth a:eth0 <-> v1")
    term.wait_for(r"nslab>")
    term.type("watch -i 0.3 v1 a:eth0\r")
    term.wait_for(r"press any key to stop")
    term.wait_for(r"rates over 0\.\d s[\s\S]*v1[\s\S]*a:eth0[\s\S]*rates over 0\.\d s")  # again and again
    term.type("x")
    term.wait_for(r"watch ended[\s\S]*nslab>")
    term.type("ns ls\r")
    term.wait_for(r"namespaces[\s\S]*\ba\b[\s\S]*lab")
    assert "xns ls" not in term.text()  # the key that ended watch was eaten, not typed at the prompt
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def test_ctrl_c_ends_watch_too(term):
    term.wait_for(r"nslab>")
    term.type("watch -i 0.2 host:lo\r")
    term.wait_for(r"rates over")
    term.type("\x03")
    term.wait_for(r"interrupted[\s\S]*nslab>")
    term.type("ns add after\r")
    term.wait_for(r"added after")
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0
