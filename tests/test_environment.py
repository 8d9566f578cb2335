"""The one Environment: `cli.main(argv, env=...)` in this process, its streams StringIO, its
environ made up; what the output looks like and where things go follow the Environment only."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import _empty_run_netns
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from nslab.base.environment import Environment
from nslab.faces import cli

ANSI = re.compile(r"\x1b\[")
STEPS = "# three namespaces\nns add e1\nns add e2\nns add e3\n"


@pytest.fixture
def netns() -> Iterator[None]:
    """cli.main opens its lab in this process's namespace: names it leaves go at the end."""
    _empty_run_netns()
    yield
    _empty_run_netns()


def run(argv: list[str], env: Environment) -> tuple[int, str, str]:
    code = cli.main(argv, env=env)
    assert isinstance(env.stdout, io.StringIO) and isinstance(env.stderr, io.StringIO)
    out, err = env.stdout.getvalue(), env.stderr.getvalue()
    assert "internal error" not in out + err, out + err
    return code, out, err


def terminal(environ: dict[str, str], **fields: object) -> Environment:
    """An Environment whose stdout claims to be a terminal: colour is on unless something says no."""
    return Environment.of(environ, stdout_isatty=True, **fields)  # type: ignore[arg-type]


def test_a_terminal_gets_colour_so_the_checks_below_can_fail():
    code, out, _ = run(["labs"], terminal({}))
    assert code == 0 and ANSI.search(out), out


def test_no_color_in_the_environment_means_no_escapes():
    code, out, _ = run(["labs"], terminal({"NO_COLOR": "1"}))
    assert code == 0 and "01-netns-basics" in out
    assert not ANSI.search(out), out


def test_an_empty_no_color_is_not_set():
    """no-color.org: only a non-empty value disables colour."""
    assert terminal({"NO_COLOR": ""}).color and not terminal({"NO_COLOR": "x"}).color


def test_the_no_color_option_means_no_escapes(netns):
    env = terminal({}, stdin=io.StringIO("ns add c1\nns ls\nc1 link nosuch up\n"))
    code, out, _ = run(["--no-color", "run", "-"], env)
    assert code == 1 and "namespaces" in out and "error:" in out
    assert not ANSI.search(out), out


def test_columns_lays_tables_out_in_that_width():
    _, wide, _ = run(["labs"], Environment.of({}))
    assert max(len(line) for line in wide.splitlines()) > 40  # the titles need more than 40
    for width in (40, 30):  # 30: narrower than the title (the labs' path) too
        code, out, _ = run(["labs"], Environment.of({"COLUMNS": str(width)}))
        assert code == 0 and "01-netns" in out
        assert max(len(line) for line in out.splitlines()) <= width, out


def test_columns_falls_back_to_80():
    assert Environment.of({}).columns == 80
    assert Environment.of({"COLUMNS": "abc"}).columns == 80
    assert Environment.of({"COLUMNS": "123"}).columns == 123


def test_json_goes_to_the_environments_stdout_and_the_rest_to_its_stderr(netns):
    env = Environment.of({}, stdin=io.StringIO("ns add j1\nns ls\n"))
    code, out, err = run(["--json", "run", "-"], env)
    assert code == 0 and "added j1" in err and "ok: 2/2 steps" in err  # the text goes to its stderr
    assert json.loads(out)["namespaces"][0] == {"name": "j1", "origin": "lab", "links": 1}


def test_source_runs_the_whole_file_when_stdin_is_not_a_terminal(netns, tmp_path: Path):
    f = tmp_path / "steps.lab"
    f.write_text(STEPS)
    env = Environment.of({}, stdin=io.StringIO(f"source {f}\n"))
    assert env.ask is None  # nobody at a terminal: no key reader
    code, out, _ = run(["run", "-"], env)
    assert code == 0, out
    assert "[Enter] run" not in out and "ok: 1/1 step," in out
    assert {"e1", "e2", "e3"} <= set(os.listdir(env.netns_dir))


def test_a_terminal_stdin_gets_a_key_reader():
    keys = io.StringIO("s\n")
    prompts = io.StringIO()
    env = Environment.of({}, stdin=keys, stdout=prompts, stdin_isatty=True)
    assert env.ask is not None and env.ask("key? ") == "s" and prompts.getvalue() == "key? "
    assert env.ask("again? ") == "q"  # end of input: quit


def test_source_in_the_repl_is_the_teaching_replay_with_the_environments_keys(netns, tmp_path: Path):
    f = tmp_path / "steps.lab"
    f.write_text(STEPS)
    asked: list[str] = []
    answers = iter(["", "s", "q"])

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    with create_pipe_input() as keyboard:
        keyboard.send_text(f"source {f}\rexit!\r")
        env = Environment.of({}, ask=ask, prompt_input=keyboard, prompt_output=DummyOutput(),
                             runtime_dir=tmp_path / "run", history_path=tmp_path / "history")
        code, out, err = run(["--no-color", "repl"], env)
    assert code == 0, out + err
    assert len(asked) == 3  # e1 runs, e2 is skipped, q stops before e3
    assert "» ns add e1" in out and "skipped" in out and "stopped before step 3 of 3" in out
    assert "+source" in (tmp_path / "history").read_text()  # the history the environment names


def test_a_host_labs_journal_goes_to_the_environments_state_dir(tmp_path: Path):
    state = tmp_path / "state"
    name = f"envt{os.getpid()}"
    env = Environment.of({}, stdin=io.StringIO("ns add envh1\n"), state_dir=str(state))
    try:
        code, out, _ = run(["--host", "--lab", name, "run", "-"], env)
        assert code == 0, out
        journal = state / name / "journal.jsonl"
        steps = [r for r in map(json.loads, journal.read_text().splitlines()) if "text" in r]  # after the header
        assert [r["text"] for r in steps] == ["ns add envh1"]
        assert not os.path.exists(f"/run/nslab/{name}")  # not the default state dir
    finally:
        code, out, _ = run(["--host", "--lab", name, "reset"], Environment.of({}, state_dir=str(state)))
    assert code == 0 and "reset: undid 1 step" in out, out
    assert "envh1" not in os.listdir(env.netns_dir)
