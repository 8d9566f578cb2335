"""Tab at a real terminal, from the student's side: keys in (often a whole line and its Tab in one
write, as a paste or a fast typist gives them), the screen and the lab's answers out."""

from __future__ import annotations

import os
import re
import time

import dockerkit
import pytest
from test_repl_pty import Terminal

docker_image, container = dockerkit.docker_image, dockerkit.container


@pytest.fixture
def term(tmp_path):
    t = Terminal(str(tmp_path))
    t.wait_for(r"nslab>")
    yield t
    t.close()


def paste(term: Terminal, keys: str) -> None:
    """KEYS in one write(): prompt_toolkit reads them as one burst, Tab included."""
    term.screen = b""
    os.write(term.master, keys.encode())


def run(term: Terminal, line: str, answer: str) -> None:
    term.type(line + "\r")
    term.wait_for(answer)
    term.wait_for(r"nslab(\(\w+\))?>")


def redrawn(term: Terminal) -> str:
    """The whole screen drawn afresh (Ctrl-L): the line being edited as it is now, whole."""
    time.sleep(0.3)
    term.type("\x0c")
    time.sleep(0.3)
    term.read()
    return term.text()


def test_a_pasted_line_and_its_tab_complete_the_namespace(term):
    run(term, "ns add alpha", r"added alpha")
    paste(term, "enter alph\t")
    time.sleep(0.3)
    term.type("\r")
    term.wait_for(r"nslab\(alpha\)>")  # `enter alph` alone fails: no namespace alph
    assert "no namespace" not in term.text()
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def test_several_matches_insert_their_common_part_and_tab_again_shows_them(term):
    run(term, "ns add alpha1 alpha2 beta", r"added alpha1")
    paste(term, "enter al\t")
    assert re.search(r"enter alpha\s*$", _edit_line(redrawn(term)))
    term.type("\x15")  # Ctrl-U: an empty line again
    # Tab, Tab: the common part, then the menu; a third Tab takes its first entry
    paste(term, "enter al\t\t\t\r")
    term.wait_for(r"nslab\(alpha1\)>")
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def _edit_line(screen: str) -> str:
    """The prompt's line on a redrawn screen."""
    lines = [ln for ln in screen.splitlines() if "nslab>" in ln]
    assert lines, screen
    return lines[-1].split("nslab>", 1)[1]


def test_tab_after_a_complete_word_adds_the_space(term):
    run(term, "veth veth0 peer0", r"nslab>")
    paste(term, "link ve\tmtu 1400\r")  # `veth0 ` then the rest: `vethveth0mtu` would be refused
    term.wait_for(r"nslab>")
    paste(term, "link veth0\tdown\r")  # the word is whole already: Tab gives just the space
    term.wait_for(r"nslab>")
    run(term, "link ls", r"veth0\b.*1400")
    assert "error:" not in term.text()  # an error line (a menu may say "errors": link ls --stats)
    # `alpha:` goes on with an interface: no space after it, one after the interface
    run(term, "ns add alpha", r"added alpha")
    run(term, "veth alpha:eth9 peer9", r"nslab>")
    paste(term, "link alp\te\tmtu 1300\r")
    term.wait_for(r"nslab>")
    run(term, "link ls alpha", r"eth9\b.*1300")
    assert "error:" not in term.text()
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def test_a_container_started_while_the_repl_runs_completes(term, container):
    name = container()  # started after the REPL read its first inventory
    stem = name[:-2]
    paste(term, f"ns link {stem}\t")
    assert name in _edit_line(redrawn(term))
    term.type("\x15exit!\r")
    assert term.proc.wait(timeout=15) == 0


def test_source_completes_bundled_labs_and_exercises(term):
    paste(term, "source 03-two\t")
    assert re.search(r"source 03-two-namespaces\s*$", _edit_line(redrawn(term)))
    term.type("\x15")
    paste(term, "source exercises/01\t")
    assert re.search(r"source exercises/01-veth-to-namespace\s*$", _edit_line(redrawn(term)))
    term.type("\x15")
    paste(term, "check 01-net\t")
    assert re.search(r"check 01-netns-basics\s*$", _edit_line(redrawn(term)))
    term.type("\x15exit!\r")
    assert term.proc.wait(timeout=15) == 0
