"""Items 5 and 9 of issue 12 from the student's side, in a real pseudo-terminal (keys in, screen
out): grading does not lie about a missing namespace and shows every parse error with its caret;
`ns ls` lists the lab, not the machine."""

from __future__ import annotations

import pytest
from test_repl_pty import Terminal
from test_words_nsls import in_new_netns, stop

PROMPT = r"[\s\S]*nslab>"


@pytest.fixture
def term(tmp_path):
    t = Terminal(str(tmp_path))
    t.wait_for(r"nslab>")
    yield t
    t.close()


def test_check_at_the_prompt_fails_a_goal_in_a_missing_namespace_and_shows_every_caret(term, tmp_path):
    goals = tmp_path / "goals.lab"
    goals.write_text("nbA expect noreach 10.20.0.99\nnbB expect no link eth9\n")  # check runs only the expects
    term.type("ns add nbB\r")
    term.wait_for(r"added nbB" + PROMPT)
    term.type(f"check {goals}\r")
    term.wait_for(r"1/2 passed" + PROMPT)
    assert "no namespace nbA" in term.text(), term.text()  # noreach from nowhere is no pass
    broken = tmp_path / "broken.lab"
    broken.write_text("expect reach\nveth a\naddr add e0 999.1.1.1/24\n")
    term.type(f"check {broken}\r")
    term.wait_for(r"broken\.lab:3:[\s\S]*nslab>")
    screen = term.text()
    for line in (1, 2, 3):
        assert f"broken.lab:{line}:" in screen, screen
    assert screen.count("^") >= 3, screen  # a caret under each bad word
    assert "3 parse errors" in screen and "nothing graded" in screen, screen


def test_ns_ls_lists_the_lab_and_ns_ls_all_the_other_processes(term):
    proc = in_new_netns()
    try:
        term.type("ns add mine\r")
        term.wait_for(r"added mine" + PROMPT)
        term.type("ns ls\r")
        term.wait_for(r"mine[\s\S]*nslab>")
        plain = term.text().rsplit("ns ls", 1)[-1]
        assert f"pid {proc.pid}" not in plain and "kthreadd" not in plain, plain
        term.type("ns ls --all\r")
        term.wait_for(rf"pid {proc.pid} \(sleep\)" + PROMPT)
    finally:
        stop(proc)
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0
