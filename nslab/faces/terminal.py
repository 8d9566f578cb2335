"""A program on the terminal itself: nslab lends it the terminal and takes it back.

At a terminal `exec`, `NS PROG` and `shell` run the program with the terminal as its stdin,
stdout and stderr, in a process group of its own that is the terminal's foreground group while
it runs (tcsetpgrp), as a job-control shell runs a job.  So its output streams live, it reads
the keys (nc, less, a shell), and Ctrl-C, Ctrl-\\ and Ctrl-Z reach it, not nslab.  When it ends
nslab takes the terminal back and restores the terminal's modes, whatever the program left.

nslab learns of a Ctrl-C it no longer receives from a sentinel: a `sleep` in the program's
process group, which the terminal's SIGINT kills too.  The REPL is not prompting while a line
runs (prompt_toolkit has given the terminal back in its normal mode), which is all `shell` ever
needed; both come through `Terminal.run`.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import termios
import time
from collections.abc import Mapping
from typing import Any

from ..base.environment import Environment
from ..base.errors import CommandError
from ..base.results import Interactive
from ..kernel import procns


class Terminal:
    """The terminal on fds STDIN, STDOUT, STDERR; a program's environment is ENVIRON (or nslab's)."""

    def __init__(self, stdin: int = 0, stdout: int = 1, stderr: int = 2,
                 environ: Mapping[str, str] | None = None) -> None:
        self.fds = (stdin, stdout, stderr)
        self.tty = stdin if os.isatty(stdin) else None
        self.environ = environ

    @classmethod
    def of(cls, env: Environment) -> Terminal | None:
        """The environment's terminal when a person sits at it (stdin and stdout a tty); else None:
        programs then print through pipes, line by line."""
        if not (env.stdin_isatty and env.stdout_isatty):
            return None
        try:
            fds = env.stdin.fileno(), env.stdout.fileno(), env.stderr.fileno()
        except (AttributeError, ValueError, io.UnsupportedOperation):
            return None
        return cls(*fds, environ=env.environ)

    def run(self, argv: list[str], ns_fd: int, environ: Mapping[str, str] | None = None) -> procns.Ended:
        """Run argv in the namespace open as NS_FD on this terminal, wait for it, take the terminal
        back.  Raises CommandError when it cannot start."""
        lend = self.tty is not None and _foreground(self.tty)
        saved = _modes(self.tty)
        env = environ if environ is not None else self.environ
        with procns.CtrlC() as ctrl_c:  # not lent (nslab in the background): nslab's own Ctrl-C is noted
            try:
                proc = procns.popen_in(ns_fd, argv, setup=self._take if lend else None, stdin=self.fds[0],
                                       stdout=self.fds[1], stderr=self.fds[2],
                                       env=dict(env) if env is not None else None)
                code = _wait_group(proc, ctrl_c) if lend else proc.wait()
            finally:
                self._take_back(saved, lend)
        return procns.ended(code, ctrl_c.at, time.monotonic())

    def keys(self) -> "Keys":
        """The terminal waiting for a key while a live view (`watch`) redraws: see Keys."""
        assert self.tty is not None
        return Keys(self.tty)

    def _take(self) -> None:
        """In the child, before exec: its own process group, the terminal's foreground one."""
        assert self.tty is not None
        os.setpgid(0, 0)
        with _quiet_ttou():  # still a background group until the call returns
            os.tcsetpgrp(self.tty, os.getpgrp())

    def _take_back(self, saved: list[Any] | None, lent: bool) -> None:
        if self.tty is None:
            return
        with _quiet_ttou():  # nslab is the background group now: asking without this stops it
            if lent:
                try:
                    os.tcsetpgrp(self.tty, os.getpgrp())
                except OSError:
                    pass
            if saved is not None:
                try:
                    termios.tcsetattr(self.tty, termios.TCSADRAIN, saved)  # raw mode a killed program left
                except termios.error:
                    pass


class Keys:
    """A with-block in which the terminal hands over each key at once and echoes none (cbreak:
    Ctrl-C still interrupts); `wait(SEC)` says whether a key came within SEC, and eats it, so it
    does not turn up at the next prompt.  The modes are restored on leaving."""

    def __init__(self, tty: int) -> None:
        self.tty = tty
        self.saved: list[Any] | None = None

    def __enter__(self) -> "Keys":
        import tty as ttymod

        self.saved = _modes(self.tty)
        if self.saved is not None:
            ttymod.setcbreak(self.tty, termios.TCSANOW)
        return self

    def wait(self, seconds: float) -> bool:
        import select

        if not select.select([self.tty], [], [], seconds)[0]:
            return False
        os.read(self.tty, 256)
        return True

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            with _quiet_ttou():
                termios.tcsetattr(self.tty, termios.TCSADRAIN, self.saved)


def _foreground(tty: int) -> bool:
    """nslab holds the terminal's foreground (it is its controlling terminal): it can lend it."""
    try:
        return os.tcgetpgrp(tty) == os.getpgrp()
    except OSError:
        return False


def _modes(tty: int | None) -> list[Any] | None:
    if tty is None:
        return None
    try:
        return termios.tcgetattr(tty)
    except termios.error:
        return None


class _quiet_ttou:  # noqa: N801 - used as a statement
    """SIGTTOU blocked: a background process may then set the terminal's group and modes."""

    def __enter__(self) -> None:
        self._old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})

    def __exit__(self, *exc: object) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self._old)


def _sentinel(group: int) -> subprocess.Popen[bytes] | None:
    """A `sleep` in GROUP: the terminal's Ctrl-C kills it with the program, so nslab hears of it."""
    sleep = shutil.which("sleep")
    if sleep is None:
        return None

    def only_sigint() -> None:  # Ctrl-\ (SIGQUIT) must not dump its core, nor Ctrl-Z stop it
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
        signal.signal(signal.SIGTSTP, signal.SIG_IGN)

    try:
        return subprocess.Popen([sleep, "infinity"], process_group=group, preexec_fn=only_sigint,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None  # the group has gone already: the program ended


def _wait_group(proc: subprocess.Popen[Any], ctrl_c: procns.CtrlC) -> int:
    """Wait for PROC, noting each Ctrl-C its sentinel reports; Ctrl-Z only pauses it (nslab keeps no
    jobs: it is let run on).  Returns its exit code as Popen gives it."""
    group = proc.pid
    sentinel = _sentinel(group)
    try:
        while True:
            try:
                pid, status = os.waitpid(-group, os.WUNTRACED)
            except ChildProcessError:
                return proc.wait()
            if os.WIFSTOPPED(status):
                if pid == proc.pid:
                    os.killpg(group, signal.SIGCONT)
                continue
            if pid == proc.pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode
            if sentinel is not None and pid == sentinel.pid:
                sentinel.returncode = os.waitstatus_to_exitcode(status)
                if sentinel.returncode == -signal.SIGINT:
                    ctrl_c.note()
                sentinel = _sentinel(group)
    finally:
        if sentinel is not None:
            # a SIGINT queued for it before it could run (the program was quicker) is delivered
            # before this SIGTERM: the lower signal number goes first
            sentinel.terminate()  # our own child, by its handle
            if sentinel.wait() == -signal.SIGINT:
                ctrl_c.note()


def run_shell(lab: Any, event: Interactive, environment: Environment) -> int:
    """`shell NS`: an interactive $SHELL on this terminal inside the namespace; back to nslab on exit."""
    from . import attach

    fd = lab.nss.get(event.ns).fd
    argv, rc = attach.shell_argv(event.argv[0] if event.argv else environment.shell, event.ns)
    env = dict(environment.environ, NSLAB_NS=event.ns, PS1=f"(nslab:{event.ns}) \\u@\\h:\\w\\$ ")
    try:
        return (Terminal.of(environment) or Terminal()).run(argv, fd, env).code
    except CommandError as e:
        print(f"nslab: cannot start the shell: {e.message}", file=environment.stderr)
        return 127
    finally:
        if rc:
            os.unlink(rc)
