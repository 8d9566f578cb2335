"""The `nslab` command: its options, and which runner each subcommand has (faces/subcommands.py,
faces/replaying.py)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from ..base.environment import Environment
from ..base.errors import NslabError
from . import labnames
from .replaying import cmd_check, cmd_run, cmd_web
from .subcommands import EXIT_USAGE, cmd_attach, cmd_clean, cmd_image, cmd_labs, cmd_repl, cmd_reset


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
    web = sub.add_parser("web", help="replay .lab files (like run), then serve the lab's live picture until Ctrl-C")
    web.add_argument("files", nargs="*", metavar="FILE", help="a .lab file, a bundled lab's name, or -")
    web.add_argument("-q", "--quiet", action="store_true", help="print only failures, the summary and the URL")
    web.add_argument("--port", type=_kind("port"), default=0, metavar="N", help="the port (default: a free one)")
    web.add_argument("--listen", type=_kind("ip"), default="127.0.0.1", metavar="ADDR", help="the address (default 127.0.0.1; another one is reachable by other machines)")
    web.add_argument("--open", action="store_true", help="open the page in the browser")
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


def _kind(name: str) -> Callable[[str], str | int]:
    """An option's word checked as the language checks an argument of that kind (lang/kinds.py)."""
    from ..lang.kinds import KINDS

    def check(word: str) -> str | int:
        try:
            value = KINDS[name].check(word)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value if isinstance(value, int) else str(value)

    return check


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


# `nslab SUBCOMMAND`: each one's runner (no subcommand: the REPL)
SUBCOMMANDS: dict[str, Callable[[Any, Environment], int]] = {
    "image": cmd_image, "labs": cmd_labs, "run": cmd_run, "check": cmd_check, "web": cmd_web, "reset": cmd_reset,
    "clean": cmd_clean, "attach": cmd_attach, "completion": labnames.cmd_completion,
}
