"""Each `nslab SUBCOMMAND`'s runner but the replays (faces/replaying.py): the REPL, `attach`, `labs`,
`image`, and host mode's `reset` and `clean`; and what they all open a lab and print with."""

from __future__ import annotations

import os
from typing import Any

from ..base.environment import Environment
from ..base.words import count
from . import labnames

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def renderer(args: Any, env: Environment, **kw: Any) -> Any:
    from .render import Renderer

    kw.setdefault("json_mode", getattr(args, "json", False))
    return Renderer(env=env, **kw)


def open_lab(args: Any, env: Environment) -> Any:
    """The lab the options name, with the environment's directories; its `ask` reads keys when a person sits at
    the terminal (`source FILE` is then the teaching replay)."""
    from ..lab import Lab

    if args.host and os.geteuid() != 0:
        raise SystemExit("nslab: --host needs root")
    # `check` only reads the lab: it shares the lab's lock with other readers
    lab = Lab(host=args.host, name=args.lab, root="current", allow_host_changes=args.allow_host_changes,
              allow_outside=args.allow_outside, read_only=getattr(args, "cmd", None) == "check",
              run_dir=env.netns_dir, state_dir=env.state_dir)
    lab.ask = env.ask  # and a person at the terminal: programs run on it (terminal.py), unless -q
    if not getattr(args, "quiet", False) and env.stdin_isatty and env.stdout_isatty:
        from .terminal import Terminal  # imported only when a person sits at one

        lab.terminal = Terminal.of(env)
    lab.docker_host = env.docker_host
    # where a step's changes are shown, each step reads what it touched before and after
    lab.read_changes = bool(getattr(args, "verbose", False) or getattr(args, "step", False))
    return lab


def cmd_image(args: Any, env: Environment) -> int:
    from ..base.errors import NslabError
    from ..services import engine, image

    name = args.name or image.IMAGE
    try:
        which = engine.connect(env.docker_host)[0]  # said with the answer: Docker's image store is not Podman's
        made = "present" if args.if_missing and image.exists(name) else image.build(name)
        print(f"{name}: {made} ({which})", file=env.stdout)
    except NslabError as e:
        print(f"nslab image: {e.message}", file=env.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_labs(args: Any, env: Environment) -> int:
    return labnames.cmd_labs(args, env, renderer(args, env))


def host_only(args: Any, what: str, env: Environment) -> bool:
    if not args.host:
        print(f"nslab: {what} from the command line is for --host labs; an isolated lab goes away with its process", file=env.stderr)
    return bool(args.host)


def cmd_reset(args: Any, env: Environment) -> int:
    from ..base.results import Failure, Message

    if not host_only(args, "reset", env):
        return EXIT_USAGE
    out = renderer(args, env)
    lab = open_lab(args, env)
    try:
        done = lab.reset()
    finally:
        lab.close()
    _record_problems(lab, out)
    for message in done.skipped:
        out(Message(message, "warn"))
    for message in done.problems:
        out(Failure(message))
    if done.left:
        out(Failure(f"reset: undid {count(len(done), 'step')}, but this lab made {', '.join(done.left)} and it is still there; "
                    f"nslab --host --lab {args.lab} clean removes it"))
        return EXIT_FAILED
    out(Message(f"reset: undid {count(len(done), 'step')}", "ok"))
    return EXIT_OK


def cmd_clean(args: Any, env: Environment) -> int:
    from ..base.results import Message
    from ..engine.clean import clean

    if not host_only(args, "clean", env):
        return EXIT_USAGE
    out = renderer(args, env)
    lab = open_lab(args, env)
    removed, skipped = clean(lab)
    _record_problems(lab, out)
    for line in removed:
        out.line(f"  {line}")
    for message in skipped:
        out(Message(message, "warn"))
    out(Message(f"clean: removed {count(len(removed), 'object')} of lab {args.lab!r}", "ok"))
    lab.close()
    return EXIT_OK


def _record_problems(lab: Any, out: Any) -> None:
    """Damaged lines of the journal or the op log: each named by FILE:LINE, skipped, said once."""
    from ..base.results import Message

    for problem in lab.journal.problems + (lab.hostlog.problems if lab.hostlog is not None else []):
        out(Message(problem, "warn"))


def cmd_repl(args: Any, env: Environment, lab: Any = None, attached: bool = False) -> int:
    from .repl import run_repl

    def reading(lab: Any) -> Any:
        lab.read_changes = True  # the REPL shows what each step changed, the kernel's doing included
        return lab

    if args.host and lab is None:
        lab = open_lab(args, env)  # a host lab another process holds is refused before any prompt (exit 2)
    return run_repl(env, lambda: reading(open_lab(args, env)), lambda: renderer(args, env, show_changes=True),
                    lab=reading(lab) if lab is not None else None, host_mode=args.host, attached=attached)


def cmd_attach(args: Any, env: Environment) -> int:
    from .attach import cmd_attach as attach

    if args.ns is None and not args.argv:  # imported before joining, from this mount namespace (later: anchor_imports)
        from . import repl as _repl  # noqa: F401

    def repl(lab: Any) -> int:
        return cmd_repl(args, env, lab=lab, attached=True)

    return attach(args, env, repl)
