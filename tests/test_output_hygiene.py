"""What the user typed and what programs print comes out as it is: no :emoji: codes, no [markup].

A MAC's `:ab:` is rich's emoji code for 🆎 and `:smile:` its 😄; `[bold]x[/bold]` is its markup.
Colour is on in every run here (a terminal, or an Environment that says it is one), and the same
strings are checked before and after a table has been printed (rich's Console is made then)."""

from __future__ import annotations

import io
import re
import time

import pytest
from test_environment import netns, run, terminal  # noqa: F401 - netns is a fixture
from test_repl_pty import Terminal

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MAC = "02:ab:cd:00:00:01"
WORDS = f":smile: {MAC} [bold]x[/bold]"
EMOJI = ("\U0001f18e", "\U0001f604")  # 🆎 😄: what rich's emoji codes would have made


def plain(text: str) -> str:
    return ANSI.sub("", text)


def clean(text: str) -> None:
    for glyph in EMOJI:
        assert glyph not in text, text


def colour_run(lines: str) -> tuple[int, str, str]:
    env = terminal({}, stdin=io.StringIO(lines), stderr_isatty=True, columns=120)
    code, out, err = run(["run", "-"], env)
    assert ANSI.search(out), out  # colour really is on: the rich path is the one under test
    return code, plain(out), plain(err)


def test_macs_program_output_and_markup_come_out_as_typed(netns):  # noqa: F811
    # everything in namespace m: cli.main's lab is this process's namespace, and m goes at the end
    code, out, _ = colour_run(
        "ns add m\n"
        "m bridge add br0\n"
        f"m link br0 mac {MAC}\n"
        f"exec echo '{WORDS}'\n"       # before any table
        "m link ls\n"
        f"exec echo '{WORDS}'\n"       # after a table: rich's Console exists now
        "m bridge add [b]x\n"          # an interface name rich would read as a style tag
        "m link [b]x up\n"
        "show m\n"
        "m bridge ls\n"
        f"exec echo '{WORDS}'\n")
    assert code == 0, out
    clean(out)
    lines = out.splitlines()
    assert lines.count(WORDS) == 3, out  # each echo's line, byte for byte
    assert f"m:br0 address {MAC}" in lines, out
    assert any(re.search(rf"│ m\s+│ br0\s+│ bridge\s+│ UP\s+│ \w+\s+│ {MAC} ", line) for line in lines), out
    assert "bridge m:[b]x (up)" in lines and "m:[b]x up" in lines, out
    assert any(line.endswith("── [b]x bridge UP") for line in lines), out  # the tree of `show`
    assert any(re.match(r"│ m\s+│ \[b\]x\s+│", line) for line in lines), out  # bridge ls


def test_an_error_quotes_the_users_word_as_typed(netns):  # noqa: F811
    code, out, _ = colour_run("link ls\nexec ':smile:[bold]x[/bold]'\n")
    assert code == 1
    clean(out)
    assert "error: -:2: no program ':smile:[bold]x[/bold]' (not found on PATH)" in out.splitlines(), out


def test_a_parse_error_quotes_the_users_word_as_typed(netns):  # noqa: F811
    code, out, _ = colour_run("link ls\nns add :smile:[bold]x[/bold]\n")
    assert code == 2
    clean(out)
    assert "got ':smile:[bold]x[/bold]'" in out and "  ns add :smile:[bold]x[/bold]" in out.splitlines(), out


def test_help_of_a_word_that_is_no_command_quotes_it(netns):  # noqa: F811
    code, out, _ = colour_run("help :smile:\n")
    assert code == 1
    clean(out)
    assert "no command ':smile:'" in out, out


@pytest.fixture
def term(tmp_path):
    t = Terminal(str(tmp_path))
    yield t
    t.close()


def test_the_repl_prints_macs_and_program_output_as_typed(term):
    """Keys in, screen out: a person types a MAC and echoes emoji codes and markup."""
    term.wait_for(r"nslab>")
    term.type("bridge add br0\r")
    term.wait_for(r"bridge br0 \(up\)")
    term.wait_for(r"nslab>")
    term.type(f"link br0 mac {MAC}\r")
    term.wait_for(rf"br0 address {MAC}\n")
    term.wait_for(r"nslab>")
    term.type(f"exec echo 'out={WORDS}'\r")
    term.wait_for(rf"(?m)^out={re.escape(WORDS)}$")
    term.wait_for(r"nslab>")
    term.type("link ls\r")
    term.wait_for(rf"│ br0\s+│ bridge\s+│ UP\s+│ \w+\s+│ {MAC} ")
    term.wait_for(r"nslab>")
    time.sleep(0.2)
    term.type(f"exec echo 'after={WORDS}'\r")  # after the table
    term.wait_for(rf"(?m)^after={re.escape(WORDS)}$")
    term.wait_for(r"nslab>")
    term.type("exec ':smile:'\r")
    term.wait_for(r"error: no program ':smile:' \(not found on PATH\)")
    clean(term.text())
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0
