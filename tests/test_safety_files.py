"""Files and terminals (issue 10, hole 10): what nslab writes is private or atomic, and what it
echoes back cannot drive the terminal.  Oracles: os.stat/lstat of the files, the bytes the real
`nslab run` prints, bash."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import nslab_cli
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from nslab.faces.render import Renderer
from nslab.faces.repl import Repl
from nslab.lab import Lab


@pytest.mark.parametrize("line, mode", [("save {}", 0o644), ("export sh {}", 0o755),
                                        ("export sh --teardown {}", 0o755)])
def test_a_symlink_planted_at_the_target_is_replaced_not_followed(lab: Lab, tmp_path: Path, line: str, mode: int):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    target = tmp_path / "out"
    target.symlink_to(victim)
    assert lab.run("ns add fa1").ok
    out = lab.run(line.format(target))
    assert out.ok, out.error
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600  # not chmod-ed through the link either
    st = os.lstat(target)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == mode
    text = target.read_text()
    assert "fa1" in text
    assert sorted(os.listdir(tmp_path)) == ["out", "victim"]  # no temporary file left beside it
    if line.startswith("export"):
        assert subprocess.run(["bash", "-n", str(target)]).returncode == 0


def test_a_failed_write_leaves_the_old_file_and_no_temporary(lab: Lab, tmp_path: Path):
    target = tmp_path / "dir"
    target.mkdir()
    out = lab.run(f"save {target}")
    assert not out.ok and out.error == f"cannot write {target}: Is a directory"
    assert os.listdir(tmp_path) == ["dir"] and os.listdir(target) == []


def _repl_with_history(lab: Lab, hist: Path) -> None:
    """A REPL on HIST that keeps one typed line, as Enter does."""
    with create_pipe_input() as inp:
        repl = Repl(lab, Renderer(file=io.StringIO(), color=False), pt_input=inp, pt_output=DummyOutput(), history=hist)
        repl.session.history.append_string("exec x1 mysql -psecret2")


def test_the_history_file_is_private(lab: Lab, tmp_path: Path):
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "state" / "nslab" / "history"
        _repl_with_history(lab, fresh)
        assert "secret2" in fresh.read_text()
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
        assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700
        # a history an older nslab left readable by everyone is closed
        loose = tmp_path / "loose" / "history"
        loose.parent.mkdir()
        loose.write_text("\n# 2026\n+exec x1 mysql -psecret\n")
        loose.chmod(0o644)
        _repl_with_history(lab, loose)
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
        assert "secret" in loose.read_text() and "secret2" in loose.read_text()
    finally:
        os.umask(old)


def test_a_symlink_planted_as_the_history_is_not_followed(lab: Lab, tmp_path: Path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    hist = tmp_path / "state" / "history"
    hist.parent.mkdir(mode=0o700)
    hist.symlink_to(victim)
    _repl_with_history(lab, hist)  # the REPL goes on with an in-memory history
    assert victim.read_text() == "precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_an_echoed_line_cannot_drive_the_terminal(tmp_path: Path):
    """ESC sequences (clear screen, set the window title) and BEL in a .lab line: the error shows
    them as `\\x1b`/`\\x07`, and its caret still stands under the bad word."""
    lab_file = tmp_path / "hostile.lab"
    lab_file.write_bytes(b"ns add a\nsave x\x1b[2J\x1b]0;pwned\x07y.lab bogus\n")
    r = nslab_cli("--no-color", "run", str(lab_file))
    assert r.returncode == 2
    shown = r.stdout + r.stderr
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in shown
    lines = r.stdout.splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith(f"error: {lab_file}:2:"))
    echoed, caret = lines[at + 1], lines[at + 2]
    assert echoed.strip().startswith("save x\\x1b")
    assert caret.strip() == "^" and echoed[caret.index("^"):].startswith("bogus")
