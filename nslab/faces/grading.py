"""`nslab run -i EXERCISE` (the setup runs, the goals are listed, the REPL opens) and
`nslab check FILE` (grade a lab that is already built)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..base.environment import Environment
from ..lang.exercise import Exercise, exercise_of

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def exercise_in(name: str, commands: list[Any]) -> Exercise | None:
    """The exercise a file on the command line declares (its `## Goals` section); not stdin,
    which `check` could not read again."""
    if name == "-" or not commands:
        return None
    return exercise_of(commands[0].loc.source, commands, name)


def open_exercise(lab: Any, exercise: Exercise, out: Any) -> None:
    """Make EXERCISE the lab's open one and list its goals, checked now, as `goals` does."""
    from ..handlers.goals import Opened

    lab.exercise = Opened(exercise)
    for event in lab.stream_line("goals"):
        out(event)
    out.line(f"exercise {exercise.shown}: build your answer at the prompt; `goals` re-checks the goals, "
             "`hint [N]` helps, `check` grades, `exit` leaves", "cyan")


def check_file(args: Any, env: Environment, open_lab: Callable[[Any, Environment], Any],
               parse_inputs: Callable[..., Any], renderer: Callable[..., Any]) -> int:
    """`nslab check FILE`: parse errors first (every one, with its caret), then the lab: a host lab,
    named, or a refusal.  The face above (cli) gives how it opens labs, parses and renders."""
    from ..base.results import ExpectResult, Message

    out = renderer(args, env)
    if parse_inputs([args.file], out, env) is None:
        out(Message("nothing graded: fix the errors above", "error"))
        return EXIT_USAGE
    if not args.host:
        # a `check` process of its own would make a new isolated lab: empty, every goal unmet
        out(Message(f"nslab check grades a lab that is already built, and without --host that would be a new, "
                    f"empty isolated lab: nothing to grade.\n"
                    f"  nslab run -i {args.file}   builds it and opens the shell; `check` there grades it\n"
                    f"  nslab --host check {args.file}   grades the host lab (--lab NAME: which one)", "error"))
        return EXIT_USAGE
    lab = open_lab(args, env)
    out(Message(f"grading host lab {args.lab!r}", "dim"))
    bad = False
    try:
        for event in lab.stream_line(f"check {_quote(args.file)}"):
            if isinstance(event, ExpectResult) and not event.ok:
                bad = True
            out(event)
        failed = lab.last is not None and lab.last.outcome in ("failed", "interrupted")
    finally:
        lab.close()
    return EXIT_USAGE if failed else (EXIT_FAILED if bad else EXIT_OK)


def _quote(word: str) -> str:
    from ..lang.lexer import quote

    return quote(word)
