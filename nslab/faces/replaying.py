"""The subcommands that replay .lab files: `nslab run`, `nslab check`, and `nslab web` (replay,
then serve the lab's live picture until Ctrl-C or SIGTERM)."""

from __future__ import annotations

import time
from typing import Any

from ..base.environment import Environment
from ..base.words import count
from ..kernel import isolate
from ..lang.bundled import near_bundled, resolve_lab
from .subcommands import EXIT_FAILED, EXIT_OK, EXIT_USAGE, cmd_repl, open_lab, renderer


def parse_inputs(files: list[str], out: Any, env: Environment) -> list[tuple[str, list[Any]]] | None:
    """Every file parsed before anything runs: (name, commands) per file, or None after errors."""
    from ..base.errors import NslabError
    from ..base.results import Failure
    from ..lang.labfile import LabFileError, parse_file, parse_stream

    groups: list[tuple[str, list[Any]]] = []
    bad = False
    for name in files:
        try:
            if name == "-":
                groups.append(("-", parse_stream(env.stdin_bytes()).commands))
            else:
                groups.append((name, parse_file(resolve_lab(name)).commands))
        except LabFileError as e:
            bad = True
            for err in e.errors:
                out(Failure(err.message, str(err.loc), err.text, err.caret()))
        except NslabError as e:
            bad = True
            out(Failure(e.message + _near_lab(name)))
    return None if bad else groups


def _near_lab(name: str) -> str:
    """A mistyped bundled lab's name: say which ones are near."""
    near = near_bundled(name)
    return f"; a bundled lab is near: {', '.join(near)} (nslab labs lists them)" if near else ""


def checked_inputs(args: Any, env: Environment, out: Any) -> list[tuple[str, list[Any]]] | None:
    """The files parsed and, for an isolated lab (it starts empty), no namespace word that no line makes
    (a typo); None once what is wrong was said."""
    from ..base.results import Failure, Message
    from ..lang.labfile import mistyped_commands

    groups = parse_inputs(args.files, out, env)
    if groups is not None and not args.host:
        typos = [e for _, cmds in groups for e in mistyped_commands(cmds)]
        for e in typos:
            out(Failure(e.message, f"{e.loc.source}:{e.loc.line}:1", e.text.strip(), "^"))
        groups = None if typos else groups
    if groups is None:
        out(Message("nothing ran: fix the errors above", "error"))
    return groups


def cmd_run(args: Any, env: Environment) -> int:
    out = renderer(args, env, quiet=args.quiet, show_changes=args.verbose)
    groups = checked_inputs(args, env, out)
    if groups is None:
        return EXIT_USAGE
    commands = [cmd for _, cmds in groups for cmd in cmds]
    if args.dry_run:
        from ..lab import dry_run_report

        return dry_run_report(commands, out)
    from ..engine import needs

    if needs.refuse(groups, out, env.docker_host):  # `# needs: docker` and no root: before any step
        return EXIT_USAGE
    if args.step:
        from ..engine.stepper import run_stepped

        stepped = open_lab(args, env)
        try:
            bad = run_stepped(stepped, commands, renderer(args, env, show_changes=True), env.key_reader())
        finally:
            stepped.close()
        needs.after_run(commands, bad, out, env.docker_host)
        return EXIT_FAILED if bad else EXIT_OK
    from .grading import open_exercise

    lab, exercise, bad = replay_files(args, env, groups, out, commands)
    if args.interactive and not bad:
        if exercise is not None:
            open_exercise(lab, exercise, out)
        return cmd_repl(args, env, lab=lab)
    if lab is not None:
        lab.close(remove=False)
    needs.after_run(commands, bad, out, env.docker_host)  # a failed lab leaves none of its containers
    return EXIT_FAILED if bad else EXIT_OK


def replay_files(args: Any, env: Environment, groups: list[tuple[str, list[Any]]], out: Any, commands: list[Any],
                 serve: bool = False) -> tuple[Any, Any, bool]:
    """Replay each file: (the last one's lab, its exercise under `-i`, whether one failed).  SERVE: the web
    view follows on the last lab, so the replay stops at the first file that failed."""
    from ..base.results import Message
    from ..engine import needs
    from ..lab import Lab
    from .grading import exercise_in

    interactive = getattr(args, "interactive", False)
    verbose = getattr(args, "verbose", False)
    bad = False
    lab = exercise = None
    for n, (name, cmds) in enumerate(groups):
        last = n == len(groups) - 1
        if lab is None or not args.host:
            # each file replays in a lab of its own; the last in the process's namespace (`nslab attach` and `-i` see it)
            if last and not args.host and not interactive and not serve:  # no REPL follows: no web view to serve,
                isolate.enter(outside_helper=needs.may_outlive(commands))  # and the helper is only the reaper
            lab = open_lab(args, env) if last or args.host else Lab(root="new", run_dir=env.netns_dir, read_changes=verbose)
        # `-i` on an exercise: its setup runs; its goals are listed, unmet, when the shell opens
        lab.captures.sink = out  # `capture start` in a .lab: its lines as they come (the REPL's own, once it opens)
        exercise = exercise_in(name, cmds) if last and interactive else None
        label = f"{name} (setup)" if exercise else (name if len(groups) > 1 else None)
        with needs.removed_on_interrupt(commands, out, env.docker_host):
            ok, failed = replay(lab, exercise.setup if exercise else cmds, out, label, env)
        bad |= not ok
        if not ok and not failed and not interactive and not serve and exercise_in(name, cmds):
            out(Message(f"{name} is an exercise: nslab run -i {name} opens the shell on it, goals listed", "dim"))
        if not last and not args.host:
            lab.close()
        if (failed and interactive) or (bad and serve):
            break
    return lab, exercise, bad


def replay(lab: Any, commands: list[Any], out: Any, name: str | None, env: Environment) -> tuple[bool, bool]:
    """Run one file's commands; print a summary. (all held, a step failed)."""
    from ..base.results import ExpectResult, Failure

    t0 = time.perf_counter()
    held = unmet = steps = 0
    failed = False
    progress = env.stderr_isatty and len(commands) > 50
    for i, cmd in enumerate(commands, 1):
        if progress and i % 10 == 0:
            print(f"\r[{i}/{len(commands)}] {cmd.text.strip()[:60]:<60}", end="", file=env.stderr, flush=True)
        steps += 1
        for event in lab.stream(cmd):
            if isinstance(event, ExpectResult):
                held += event.ok
                unmet += not event.ok
            if isinstance(event, Failure):
                event.line = cmd.text.strip()
                failed = True
            out(event)
        if failed:
            break
    if progress:
        print("\r" + " " * 75 + "\r", end="", file=env.stderr)
    took = time.perf_counter() - t0
    status = "failed" if failed or unmet else "ok"
    label = f"{name}: " if name else ""
    summary = f"{label}{status}: {steps}/{count(len(commands), 'step')}, {count(held, 'expect')} held" + (f", {unmet} unmet" if unmet else "") + f", {took:.2f} s"
    out.line(summary, "bold green" if status == "ok" else "bold red")
    return status == "ok", failed


def cmd_check(args: Any, env: Environment) -> int:
    from .grading import check_file

    return check_file(args, env, open_lab, parse_inputs, renderer)


def cmd_web(args: Any, env: Environment) -> int:
    """`nslab web [FILE...]`: replay the files, then serve the last one's lab (faces/web/) until Ctrl-C or
    SIGTERM; the lab ends then (isolated: nothing is left; --host: as `run` leaves it).  A replay that
    failed is said and not served."""
    from ..base.results import Message, WebRequested
    from ..engine import needs
    from . import web

    out = renderer(args, env, quiet=args.quiet)
    groups = checked_inputs(args, env, out)
    if groups is None:
        return EXIT_USAGE
    commands = [cmd for _, cmds in groups for cmd in cmds]
    if needs.refuse(groups, out, env.docker_host):
        return EXIT_USAGE
    lab, _, bad = replay_files(args, env, groups, out, commands, serve=True)
    lab = lab if lab is not None else open_lab(args, env)  # no file: an empty lab
    try:
        if bad:
            out(Message("not serving: the replay failed (above)", "error"))
            return EXIT_FAILED
        said = web.serve(lab, WebRequested(args.listen, args.port or 0, args.open))
        loud = renderer(args, env)  # the URL, -q or not
        for message in said:
            loud(message)
        if any(m.style == "error" for m in said):
            return EXIT_FAILED
        loud(Message("serving until Ctrl-C (or SIGTERM); the lab ends then", "dim"))
        env.stdout.flush()  # a pipe holds the URL back otherwise, while this waits
        _wait_for_stop()
        return EXIT_OK
    finally:
        lab.close()
        needs.after_run(commands, bad or not args.host, out, env.docker_host)  # isolated: its containers go with it


def _wait_for_stop() -> None:
    """Until Ctrl-C or SIGTERM (both end the wait the same way)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, before)
