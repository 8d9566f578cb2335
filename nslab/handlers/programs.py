"""`exec [NS] PROG ARGS...` and `NS PROG ARGS...`: a program inside a namespace of the lab.

At a terminal the face lends the program the terminal itself (`ctx.terminal`, see
nslab/faces/terminal.py): it prints straight to the screen, reads the keys and gets Ctrl-C.
Elsewhere (a pipe, a file, a test, the library) its output comes back line by line as
`Output` events while it runs.  Either way the step is `interrupted` when Ctrl-C ended it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Generator, Iterator
from typing import Any

from ..base.errors import CommandError
from ..base.results import Exited, Output, ProgramOnTerminal, ProgramStarted
from ..engine.context import Ctx
from ..kernel import procns
from ..kernel.netns import HOST


def exec(ctx: Ctx, argv: list[str]) -> Iterator[Any]:  # noqa: A001 - the command's name
    ns = ctx.ns
    detached = bool(argv) and (argv[0] == "-d" or (argv[-1] == "&" and len(argv) > 1))
    if detached:  # `exec -d [NS] PROG ARGS...` or `NS PROG ARGS... &`: a background program
        argv = argv[1:] if argv[0] == "-d" else argv[:-1]
    if ctx.cmd.prefix is None and len(argv) > 1 and argv[0] != HOST and ctx.view.exists(argv[0]):
        ns, argv = argv[0], argv[1:]
    elif argv and argv[0] == HOST and len(argv) > 1:
        ns, argv = HOST, argv[1:]
    if not argv:
        raise CommandError("exec needs a program to run")
    ctx.view.require(ns)
    if detached:
        from .background import start

        yield start(ctx, ns, argv)
        return
    if ctx.dry:  # resolved, not run: the program must be there to run
        if shutil.which(argv[0]) is None:
            raise CommandError(f"no program {argv[0]!r} (not found on PATH)")
        return
    yield ProgramStarted(ns, list(argv))  # what ran where: `save` and `export sh` keep it
    if ctx.terminal is not None:
        yield ProgramOnTerminal(ns, list(argv))  # nslab prints nothing more until it ends
        end = ctx.terminal.run(argv, ctx.view.fd(ns))
    else:
        end = yield from piped(ctx.view.fd(ns), argv)
    yield Exited(argv, end.code)
    if end.interrupted:
        raise KeyboardInterrupt  # the session records the step as interrupted
    if end.code < 0:
        raise CommandError(f"{argv[0]} was killed by {_signal_name(-end.code)}")
    if end.code != 0:
        raise CommandError(f"{argv[0]} exited with status {end.code}")


def piped(fd: int, argv: list[str]) -> Generator[Output, None, procns.Ended]:
    """Run argv with its output on a pipe, yielding each line as it comes.  It runs in a process
    group of its own, so a Ctrl-C reaches it once, from nslab (procns.CtrlC), and nslab reads on
    to the end of what it prints (ping's and tcpdump's summaries come after the Ctrl-C)."""
    with procns.CtrlC() as ctrl_c:
        proc = procns.popen_in(fd, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               text=True, errors="replace", process_group=0)
        ctrl_c.attach(proc.pid)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                yield Output(line.rstrip("\n"))
            code = proc.wait()
        finally:
            if proc.poll() is None:  # the reader went away (GeneratorExit): the program goes too
                _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()
    return procns.ended(code, ctrl_c.at, time.monotonic())


def _stop(proc: subprocess.Popen[Any]) -> None:
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            proc.send_signal(sig)
            proc.wait(timeout=1.0)
            return
        except subprocess.TimeoutExpired:
            continue


def _signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"
