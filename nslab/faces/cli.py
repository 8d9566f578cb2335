"""The `nslab` command: the REPL, `run`, `check`, `labs`, and host-mode `reset`/`clean`."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from ..base.environment import Environment
from ..base.errors import NslabError
from ..base.words import count
from ..kernel import isolate
from ..lang.bundled import near_bundled, resolve_lab
from . import labnames

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser(env: Environment | None = None) -> argparse.ArgumentParser:
    """The options; with ENV, help and usage errors go to its streams (argparse would use sys's)."""
    p = _parser_class(env)(
        prog="nslab",
        description="An interactive shell for Linux network labs. With no command: the REPL on an isolated lab.",
    )
    p.add_argument("--host", action="store_true", help="work on the real root namespace and /run/netns (root); the lab outlives nslab")
    p.add_argument("--lab", default="default", metavar="NAME", help="host mode: the lab's name (its journal is /run/nslab/NAME)")
    p.add_argument("--allow-host-changes", action="store_true", help="host mode: allow changing interfaces and namespaces nslab did not make")
    p.add_argument("--allow-outside", action="store_true",
                   help="let ping and expect reach/noreach send through interfaces the lab did not make (the real network)")
    p.add_argument("--no-color", action="store_true", help="plain output (also when NO_COLOR is set or output is not a terminal)")
    p.add_argument("--json", action="store_true", help="listings (ns/link/addr/route/bridge ls, show, history) as JSON on stdout; other output goes to stderr")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    run = sub.add_parser("run", help="replay .lab files (or - for stdin)")
    run.add_argument("files", nargs="+", metavar="FILE", help="a .lab file, a bundled lab's name, or -")
    run.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    run.add_argument("-v", "--verbose", action="store_true", help="also print what each step changed")
    run.add_argument("-i", "--interactive", action="store_true", help="open the REPL on the result")
    run.add_argument("--step", action="store_true",
                     help="teaching replay: show each step (narration, iproute2) and wait: Enter runs, s skips, q quits, c runs the rest")
    run.add_argument("--dry-run", action="store_true",
                     help="parse and resolve every line against a model of the lab; no kernel, no privileges")
    chk = sub.add_parser("check", help="evaluate only the expect lines of FILE against the host lab (--host)")
    chk.add_argument("file", metavar="FILE")
    sub.add_parser("labs", help="list the bundled labs and exercises").add_argument(
        "--names", action="store_true", help="only their names, one a line (shell completion)")
    sub.add_parser("completion", help="a bash completion script: eval \"$(nslab completion bash)\"").add_argument("shell", choices=["bash"])
    img = sub.add_parser("image", help="build the labs' small container image with no registry (docker import of busybox-static)")
    img.add_argument("--name", default=None, metavar="IMAGE", help="image name (default nslab/busybox:latest)")
    img.add_argument("--if-missing", action="store_true", help="do nothing when the image exists")
    sub.add_parser("reset", help="host mode: undo everything the lab made, in reverse order")
    sub.add_parser("clean", help="host mode: remove what a crashed session of this lab left (only what nslab made)")
    sub.add_parser("repl", help="the interactive shell (the default)")
    att = sub.add_parser("attach", help="join a running isolated lab from another terminal: a REPL, or a shell (or CMD) in NS")
    att.add_argument("ns", nargs="?", metavar="NS", help="open $SHELL (or run CMD) in this namespace of the lab ('host' for its root)")
    att.add_argument("--pid", type=int, help="the nslab process to join (default: the newest)")
    att.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD", help="run CMD in NS instead of a shell")
    return p


def entry() -> None:
    """The `nslab` command.  Leaves with os._exit once everything is flushed and closed: the kernel removes an
    isolated lab with the process, and Python's teardown of a big lab would only add some 50 ms to every run."""
    env = Environment.from_process()
    code = main(env=env)
    env.stdout.flush()
    env.stderr.flush()
    os._exit(code)


def _parser_class(env: Environment | None) -> type[argparse.ArgumentParser]:
    if env is None:
        return argparse.ArgumentParser
    streams = env

    class Parser(argparse.ArgumentParser):
        def print_help(self, file: Any = None) -> None:
            self._print_message(self.format_help(), file or streams.stdout)

        def error(self, message: str) -> Any:
            self.print_usage(streams.stderr)
            self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

        def exit(self, status: int = 0, message: str | None = None) -> Any:
            if message:
                self._print_message(message, streams.stderr)
            raise SystemExit(status)

    return Parser


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """`nslab ARGV` in this process; ENV is what it was started with (the real one when None)."""
    env = env or Environment.from_process()
    try:
        args = build_parser(env).parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already said
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if args.no_color:
        env = env.replace(no_color=True)
    if args.host and os.geteuid() != 0:
        print("nslab: --host needs root (the isolated default does not)", file=env.stderr)
        return EXIT_USAGE
    try:
        from ..lang.kinds import check_ns

        check_ns(args.lab)  # it names a directory under /run/nslab: no '/', no '..'
    except ValueError as e:
        print(f"nslab: --lab: {e}", file=env.stderr)
        return EXIT_USAGE
    try:
        return SUBCOMMANDS.get(args.cmd, cmd_repl)(args, env)
    except KeyboardInterrupt:
        return 130
    except NslabError as e:
        print(f"nslab: {e.message}", file=env.stderr)
        return EXIT_USAGE
    except OSError as e:
        # isolation needs user namespaces (or root); say so instead of a traceback
        print(f"nslab: cannot set up the lab: {e.strerror or e}", file=env.stderr)
        return EXIT_USAGE


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


def cmd_run(args: Any, env: Environment) -> int:
    from ..base.results import Message

    out = renderer(args, env, quiet=args.quiet, show_changes=args.verbose)
    groups = parse_inputs(args.files, out, env)
    if groups is None:
        out(Message("nothing ran: fix the errors above", "error"))
        return EXIT_USAGE
    commands = [cmd for _, cmds in groups for cmd in cmds]
    if not args.host:  # an isolated lab starts empty: a namespace word no line makes is a typo
        from ..base.results import Failure
        from ..lang.labfile import mistyped_commands

        typos = [e for _, cmds in groups for e in mistyped_commands(cmds)]
        for e in typos:
            out(Failure(e.message, f"{e.loc.source}:{e.loc.line}:1", e.text.strip(), "^"))
        if typos:
            out(Message("nothing ran: fix the errors above", "error"))
            return EXIT_USAGE
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
    from ..lab import Lab
    from .grading import exercise_in, open_exercise

    bad = False
    lab = exercise = None
    for n, (name, cmds) in enumerate(groups):
        last = n == len(groups) - 1
        if lab is None or not args.host:
            # each file replays in a lab of its own; the last in the process's namespace (`nslab attach` and `-i` see it)
            if last and not args.host and not args.interactive:  # no REPL follows: no web view to serve, and the
                isolate.enter(outside_helper=needs.may_outlive(commands))  # helper is only the reaper (kernel/outside.py)
            lab = open_lab(args, env) if last or args.host else Lab(root="new", run_dir=env.netns_dir, read_changes=args.verbose)
        # `-i` on an exercise: its setup runs; its goals are listed, unmet, when the shell opens
        lab.captures.sink = out  # `capture start` in a .lab: its lines as they come (the REPL's own, once it opens)
        exercise = exercise_in(name, cmds) if last and args.interactive else None
        label = f"{name} (setup)" if exercise else (name if len(groups) > 1 else None)
        with needs.removed_on_interrupt(commands, out, env.docker_host):
            ok, failed = replay(lab, exercise.setup if exercise else cmds, out, label, env)
        bad |= not ok
        if not ok and not failed and not args.interactive and exercise_in(name, cmds):
            out(Message(f"{name} is an exercise: nslab run -i {name} opens the shell on it, goals listed", "dim"))
        if not last and not args.host:
            lab.close()
        if failed and args.interactive:
            break
    if args.interactive and not bad:
        if exercise is not None:
            open_exercise(lab, exercise, out)
        return cmd_repl(args, env, lab=lab)
    if lab is not None:
        lab.close(remove=False)
    needs.after_run(commands, bad, out, env.docker_host)  # a failed lab leaves none of its containers
    return EXIT_FAILED if bad else EXIT_OK


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


# `nslab SUBCOMMAND`: each one's runner (no subcommand: the REPL)
SUBCOMMANDS: dict[str, Callable[[Any, Environment], int]] = {
    "image": cmd_image, "labs": cmd_labs, "run": cmd_run, "check": cmd_check, "reset": cmd_reset,
    "clean": cmd_clean, "attach": cmd_attach, "completion": labnames.cmd_completion,
}
