"""Exercises and grading, without a terminal: how a file declares its goals and hints, the
error paths of `goals`, `hint` and `check`, goals in missing namespaces, and `nslab check`'s
refusal of an empty isolated lab.  (The student's side, in a pty: test_exercises_pty.py.)"""

from __future__ import annotations

import os

import pytest
from conftest import ROOT, nslab_cli

from nslab.base.results import ExpectResult, Failure, Message, Table
from nslab.handlers.goals import Opened
from nslab.lab import Lab
from nslab.lang.exercise import exercise_of
from nslab.lang.labfile import parse_file, parse_text

EX = ROOT / "nslab" / "labs" / "exercises"
EXERCISES = sorted(p for p in EX.glob("*.lab") if not p.name.endswith(".solution.lab"))
TASK = EX / "01-veth-to-namespace.lab"


def exercise(text: str, name: str = "ex.lab"):
    return exercise_of(name, parse_text(text, name).commands)


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


# -- how a file declares an exercise -------------------------------------------------

def test_the_goals_section_declares_the_goals_and_their_hints():
    ex = exercise("## Setup\nns add a\nexpect ns a\n\n## Goals\n# Say what to do.\n"
                  "# hint: first line\n# second line\nexpect no ns a\nenter a\nexpect link lo up\n"
                  "leave\n# hint: from b\nb expect reach 10.0.0.1\n")
    assert ex is not None
    assert [g.text for g in ex.goals] == ["expect no ns a", "expect link lo up", "b expect reach 10.0.0.1"]
    assert [g.n for g in ex.goals] == [1, 2, 3]
    assert [g.hint for g in ex.goals] == ["first line second line", "", "from b"]  # narration above the hint is not in it
    assert [g.ns for g in ex.goals] == ["host", "a", "b"]  # where the file would run them
    # the setup is everything else, the setup's own expect included (it is an assertion, not a goal)
    assert [c.text.strip() for c in ex.setup] == ["ns add a", "expect ns a", "enter a", "leave"]


def test_a_file_without_a_goals_section_is_no_exercise():
    assert exercise("ns add a\nexpect ns a\n") is None
    assert exercise("## Goals\n# nothing yet\n") is None


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_every_bundled_goal_has_a_hint_that_is_not_the_answer(path):
    ex = exercise_of(str(path), parse_file(path).commands)
    assert ex is not None and len(ex.goals) >= 5
    assert all(g.hint for g in ex.goals), [g.text for g in ex.goals if not g.hint]
    setup = len([c for c in parse_file(path).commands if c.name != "expect"])
    solution = [c.text.strip() for c in parse_file(path.with_name(path.stem + ".solution.lab")).commands[setup:]
                if c.name != "expect"]
    for goal in ex.goals:
        given = [line for line in solution if line in goal.hint]
        assert not given, (goal.text, given)  # a hint teaches; it does not hand over the line to type


# -- goals, hint and check with no exercise open, or asked for what is not there ------

def test_goals_hint_and_check_without_an_exercise_say_how_to_open_one(lab: Lab):
    for line in ("goals", "hint", "hint 2", "check"):
        out = lab.run(line)
        assert not out.ok and out.error is not None
        assert out.error.startswith("no exercise is open: `nslab run -i EXERCISE.lab` opens one"), out.error


def test_hint_beyond_the_goals_is_refused_and_a_goal_without_one_says_so(lab: Lab, tmp_path):
    path = tmp_path / "ex.lab"
    path.write_text("ns add a\n## Goals\n# hint: look at a\nexpect link a:eth0\nexpect ns a\n")
    lab.exercise = Opened(exercise_of(str(path), parse_file(path).commands))
    assert lab.run("ns add a").ok
    out = lab.run("hint 3")
    assert not out.ok and out.error == "no goal 3: this exercise has goals 1 to 2 (`goals` lists them)"
    assert not lab.run("hint 0").ok  # N counts from 1: a parse error, not goal 0
    out = lab.run("hint 2")
    assert out.ok and of(out.events, Message)[0].text == f"goal 2 (expect ns a) has no hint in {path}"
    out = lab.run("hint")  # the first unmet goal's: goal 2 is met
    assert out.ok and of(out.events, Message)[0].text == "hint for goal 1 (expect link a:eth0): look at a"
    assert lab.run("veth a:eth0 b0").ok
    out = lab.run("hint")
    assert out.ok and of(out.events, Message)[0].text.startswith("every goal is met")
    out = lab.run("goals")
    table = of(out.events, Table)[0]
    assert table.title == f"goals of {path}: 2/2 met" and [r[2] for r in table.rows] == ["met", "met"]
    assert lab.exercise.tally == (2, 2)
    out = lab.run("check")  # the open exercise's file
    assert out.ok and of(out.events, Table)[0].title == f"check {path}: 2/2 passed"


def test_check_reports_every_parse_error_with_its_caret(lab: Lab, tmp_path):
    bad = tmp_path / "bad.lab"
    bad.write_text("ns add a\nexpect addr a:eth0 10.0.0.300/24\nexpect link\nveth a\n")
    out = lab.run(f"check {bad}")
    assert not out.ok
    errors = of(out.events, Failure)
    assert [e.where for e in errors[:-1]] == [f"{bad}:2:20", f"{bad}:3:12", f"{bad}:4:7"]
    assert all(e.line and "^" in e.caret for e in errors[:-1])
    assert errors[-1].message == (f"{bad}: 3 parse errors, the first at {bad}:2:20: expected an address like "
                                  "10.0.0.1/24, got '10.0.0.300/24'; nothing graded")
    assert not of(out.events, Table)  # nothing graded
    # the command line, too: every error, with the line and the caret, exit 2
    r = nslab_cli("--no-color", "check", str(bad))
    assert r.returncode == 2
    for where in ("bad.lab:2:20", "bad.lab:3:12", "bad.lab:4:7"):
        assert where in r.stdout, r.stdout
    assert r.stdout.count("^") >= 3 and "nothing graded" in r.stdout


# -- grading tells no lies ------------------------------------------------------------

def test_a_file_with_no_expect_line_is_not_a_pass(lab: Lab, tmp_path):
    path = tmp_path / "none.lab"
    path.write_text("ns add a\n")
    out = lab.run(f"check {path}")
    assert not out.ok and out.error == f"{path} has no expect lines: nothing to grade"


def test_a_goal_in_a_missing_namespace_is_unmet(lab: Lab, tmp_path):
    goals = tmp_path / "goals.lab"
    goals.write_text("nbA expect noreach 10.20.0.99\nenter nbB\nexpect noreach 10.20.0.98\nexpect no link eth0\n"
                     "leave\nexpect noreach nbC\n")
    out = lab.run(f"check {goals}")
    assert not out.ok
    rows = {r[1]: (r[2], r[3]) for r in of(out.events, Table)[0].rows}
    assert rows == {"nbA expect noreach 10.20.0.99": ("FAIL", "no namespace nbA"),
                    "expect noreach 10.20.0.98": ("FAIL", "no namespace nbB"),
                    "expect no link eth0": ("FAIL", "no namespace nbB"),
                    "expect noreach nbC": ("FAIL", "no namespace 'nbC'")}
    # typed at the prompt, the same line is unmet, not passed
    out = lab.run("nbA expect noreach 10.20.0.99")
    assert out.step.outcome == "unmet" and not of(out.events, ExpectResult)[0].ok
    # and once nbA exists with nothing at that address, it holds
    assert lab.run("ns add nbA").ok
    out = lab.run(f"check {goals}")
    assert of(out.events, Table)[0].rows[0][2] == "pass"


def test_check_judges_a_file_from_host_whatever_the_prompt_entered(lab: Lab, tmp_path):
    goals = tmp_path / "goals.lab"
    goals.write_text("expect link veth0\nns1 expect link eth0\n")
    for line in ("ns add ns1", "veth veth0 ns1:eth0", "enter ns1"):
        assert lab.run(line).ok
    out = lab.run(f"check {goals}")
    assert out.ok, of(out.events, Table)[0].rows  # `expect link veth0` is the host's, as in `nslab run`


def test_nslab_check_refuses_an_empty_isolated_lab():
    r = nslab_cli("--no-color", "check", str(TASK))
    assert r.returncode == 2
    assert "without --host that would be a new, empty isolated lab" in r.stdout + r.stderr
    assert f"nslab run -i {TASK}" in r.stdout + r.stderr
    assert "--host check" in r.stdout + r.stderr
    assert "passed" not in r.stdout  # nothing was graded


def test_nslab_host_check_says_which_lab_it_grades():
    # host mode acts on this test process's isolated root and /run/netns: safe
    r = nslab_cli("--host", "--lab", "goalcheck", "--no-color", "run", str(EX / "01-veth-to-namespace.solution.lab"))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        r = nslab_cli("--host", "--lab", "goalcheck", "--no-color", "check", str(TASK))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "grading host lab 'goalcheck'" in r.stdout and "7/7 passed" in r.stdout
    finally:
        r = nslab_cli("--host", "--lab", "goalcheck", "--no-color", "reset")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ns1" not in os.listdir("/run/netns")


# -- nslab run -i: a goal is no failure, a broken step still is ----------------------

def test_run_i_still_stops_at_a_broken_setup_line(tmp_path):
    path = tmp_path / "broken.lab"
    path.write_text("ns add a\nlink nosuch up\n## Goals\n# hint: anything\nexpect ns b\n")
    r = nslab_cli("--no-color", "run", "-i", str(path), input="")
    assert r.returncode == 1
    assert "error:" in r.stdout and "no interface nosuch" in r.stdout, r.stdout
    assert "goals of" not in r.stdout  # the shell never opened


def test_run_i_on_a_lab_without_goals_still_fails_an_unmet_expect(tmp_path):
    path = tmp_path / "plain.lab"
    path.write_text("ns add a\nexpect ns b\n")
    r = nslab_cli("--no-color", "run", "-i", str(path), input="")
    assert r.returncode == 1 and "1 unmet" in r.stdout, r.stdout
    assert "goals of" not in r.stdout


def test_run_without_i_grades_the_goals_and_says_how_to_work_the_exercise():
    r = nslab_cli("--no-color", "run", "exercises/01-veth-to-namespace.lab")
    assert r.returncode == 1 and "7 unmet" in r.stdout, r.stdout
    assert "nslab run -i exercises/01-veth-to-namespace.lab opens the shell on it" in r.stdout


def test_the_dry_run_passes_goals_hint_and_check(tmp_path):
    path = tmp_path / "lines.lab"
    path.write_text(f"ns add a\ngoals\nhint\nhint 2\ncheck\ncheck {TASK}\n")
    r = nslab_cli("--no-color", "run", "--dry-run", str(path))
    assert r.returncode == 0 and "0 problems" in r.stdout, r.stdout


def test_source_of_an_exercise_at_the_prompt_opens_it_as_run_i_does(lab: Lab):
    """`source exercises/01-...` typed in the REPL runs the setup only, then the exercise is the
    open one: `goals` lists it unmet, the solution's lines meet it, `check` with no file passes."""
    out = lab.run("source exercises/01-veth-to-namespace")
    assert out.ok, [getattr(e, "message", e) for e in out.events]
    assert isinstance(lab.exercise, Opened) and lab.exercise.tally == (0, 7)
    assert not [e for e in out.events if isinstance(e, ExpectResult)]  # the goals were not run as steps
    solution = parse_file(os.path.join(EX, "01-veth-to-namespace.solution.lab")).commands
    for cmd in solution:
        if cmd.section == "Solution":
            assert lab.run(cmd.text).ok, cmd.text
    graded = lab.run("check")
    tables = [e for e in graded.events if isinstance(e, Table)]
    assert graded.ok and [t.title for t in tables] == ["check exercises/01-veth-to-namespace: 7/7 passed"]
    assert lab.exercise.tally == (7, 7)
