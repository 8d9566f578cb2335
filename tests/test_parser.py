"""The parser through the real command line: a bad line runs nothing and exits 2 with FILE:LINE:COL and a caret.
The language itself (every form, every error) is tested pure: tests/pure/test_parser_pure.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import nslab_cli

from nslab.base.errors import ParseError
from nslab.lang.parser import parse_line


def err(line: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_line(line)
    return info.value


def test_run_with_a_bad_line_runs_nothing(tmp_path: Path):
    """Line 1 would create a namespace; line 3 is bad: exit 2, FILE:LINE:COL with a caret, and no namespace."""
    name = f"parsecheck{os.getpid()}"
    f = tmp_path / "bad.lab"
    f.write_text(f"ns add {name}\n# narration\naddr add eth0 10.0.0.300/24\n")
    try:
        # --host acts on this pytest process's own (isolated) root: a step that ran would stay visible here
        r = nslab_cli("--no-color", "--host", "--lab", name, "run", str(f))
        assert r.returncode == 2, r.stdout + r.stderr
        out = r.stdout + r.stderr
        assert f"{f}:3:15" in out
        assert "expected an address like 10.0.0.1/24, got '10.0.0.300/24'" in out
        assert_caret_under(out, "addr add eth0 10.0.0.300/24", 15)
        assert "Traceback" not in out
        assert not os.path.exists(f"/run/netns/{name}")
        assert not os.path.exists(f"/run/nslab/{name}/journal.jsonl") or not Path(
            f"/run/nslab/{name}/journal.jsonl").read_text().strip()
    finally:
        if os.path.exists(f"/run/netns/{name}"):
            nslab_cli("--host", "--lab", name, "reset")
        _drop_state(name)


def assert_caret_under(out: str, line: str, col: int) -> None:
    """The printed line is followed by a caret at column col (1-based) of it."""
    lines = out.splitlines()
    at = next(i for i, x in enumerate(lines) if x.strip() == line)
    caret = lines[at + 1]
    assert caret.strip() == "^"
    assert caret.index("^") == lines[at].index(line) + col - 1


def _drop_state(name: str) -> None:
    d = Path("/run/nslab") / name
    if d.is_dir():
        for p in d.iterdir():
            p.unlink()
        d.rmdir()


@pytest.mark.parametrize("line", ["veth ns1", "addr add eth0 10.0.0.300/24", "ns add ../x", "ns add ping",
                                  "link aaaaaaaaaaaaaaaa up"])
def test_bad_lines_on_stdin_exit_2_with_one_line_error(line):
    r = nslab_cli("--no-color", "run", "-", input=line + "\n")
    assert r.returncode == 2
    out = r.stdout + r.stderr
    assert "Traceback" not in out
    assert "-:1:" in out
    assert_caret_under(out, line, err(line).loc.col)
