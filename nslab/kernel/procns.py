"""Network namespaces that only processes hold: what `ip netns ls` cannot see.

The tutorial's point about Docker: a namespace with no name under /run/netns is
invisible to `ip netns`, yet every process lives in one.  `ns ls --all` lists them by
the first process found in each, so it can be named with `ns link PID`.  What cannot be
read is said in words (a process that ended while it was read, one that is not ours).

And the processes a lab starts in its namespaces: how they start, and how they ended.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..base.errors import CommandError
from . import sysns

GONE = "gone (the process ended)"
DENIED = "not readable (permission denied)"


@dataclass
class ProcNs:
    inode: int
    pid: int
    comm: str
    links: int | str
    uid: int


def links_of(pid: int) -> int | str:
    """How many interfaces the namespace of PID has, or why that cannot be read, in words."""
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            return max(0, len(f.readlines()) - 2)
    except (FileNotFoundError, ProcessLookupError):
        return GONE
    except PermissionError:
        return DENIED
    except OSError as e:
        return f"not readable ({e.strerror or 'error'})"


def owner_uid(pid: int) -> int | None:
    """The uid PID runs as, as this process's user namespace sees it; None once it has ended."""
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _kernel_thread(pid: int) -> bool:
    """kthreadd (PID 2) and its threads: always in the machine's namespace, which PID 1 stands for."""
    if pid == 2:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[1] == "2"  # the parent's PID, after the command name


def other_namespaces(known: set[int], uid: int | None = None) -> list[ProcNs]:
    """One entry per network namespace a process is in whose inode is not in `known`; with UID
    only processes running as that uid (an ordinary user sees only their own)."""
    seen: dict[int, ProcNs] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        owner = owner_uid(pid)
        if owner is None or (uid is not None and owner != uid) or _kernel_thread(pid):
            continue
        try:
            inode = os.stat(f"/proc/{pid}/ns/net").st_ino
            if inode in known or inode in seen:
                continue
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue  # ended while read, or not ours to look at: nothing of it to show
        seen[inode] = ProcNs(inode, pid, comm, links_of(pid), owner)
    return sorted(seen.values(), key=lambda p: p.pid)


def inode_of_pid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


# -- programs a lab runs (`exec`, `NS PROG`, `shell`) ------------------------------------------

GRACE = 2.0  # seconds: a program that ends this soon after a Ctrl-C ended because of it


@dataclass
class Ended:
    """How a program ended: `code` as Popen gives it (negative: the signal that killed it)."""

    code: int
    interrupted: bool = False  # Ctrl-C ended it


def ended(code: int, ctrl_c_at: float | None, at: float) -> Ended:
    """A program was interrupted when SIGINT killed it, or when it ended right after a Ctrl-C:
    iputils ping and tcpdump catch SIGINT, print their summary and exit 0.  One that lives on
    after the Ctrl-C (a REPL clearing its line) is judged by its exit status when it ends."""
    by_ctrl_c = ctrl_c_at is not None and at - ctrl_c_at <= GRACE
    return Ended(code, code == -signal.SIGINT or by_ctrl_c)


def popen_in(fd: int, argv: list[str], setup: Callable[[], None] | None = None,
             **kw: Any) -> subprocess.Popen[Any]:
    """Start argv inside the namespace open as fd (argv only: no shell unless argv names one),
    with SIGINT as a program expects it; `setup` runs in the child after that (a terminal's
    process group).  A program that cannot start is a CommandError in words."""
    def child() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # nslab ignores it while it waits; the program must not
        sysns.setns(fd)
        if setup is not None:
            setup()

    try:
        return subprocess.Popen(argv, preexec_fn=child, pass_fds=(fd, *kw.pop("pass_fds", ())), **kw)
    except FileNotFoundError:
        raise CommandError(f"no program {argv[0]!r} (not found on PATH)") from None
    except PermissionError:
        raise CommandError(f"cannot run {argv[0]!r}: Permission denied") from None
    except subprocess.SubprocessError as e:
        raise CommandError(f"cannot start {argv[0]!r} in its namespace: {e}") from None


class CtrlC:
    """While a program runs, a Ctrl-C nslab receives is noted (and passed on to the program's
    process group when it has one of its own) instead of raising KeyboardInterrupt in nslab.
    The third one kills the group: a program deaf to SIGINT cannot hold nslab forever."""

    def __init__(self, group: int | None = None) -> None:
        self.group = group
        self.at: float | None = None
        self.count = 0
        self._old: Any = None
        self._installed = False

    def attach(self, group: int) -> None:
        """The program's group, once it has started: a Ctrl-C that came while it started reaches it too."""
        self.group = group
        if self.count:
            self._pass_on()

    def note(self, at: float | None = None) -> None:
        self.at = time.monotonic() if at is None else at
        self.count += 1

    def _handler(self, signum: int, frame: Any) -> None:
        self.note()
        self._pass_on()

    def _pass_on(self) -> None:
        if self.group is not None:
            try:
                os.killpg(self.group, signal.SIGKILL if self.count >= 3 else signal.SIGINT)
            except ProcessLookupError:
                pass  # it has ended; its end is being read

    def __enter__(self) -> CtrlC:
        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        except ValueError:
            pass  # not the main thread: signals go to the main thread's handler anyway
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._old)


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before exec: the kernel kills it when nslab dies, even by `kill -9`."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
