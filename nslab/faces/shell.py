"""`shell NS` at the REPL: the person's $SHELL on this terminal, inside the namespace."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

from ..base.environment import Environment
from ..base.results import Interactive
from . import attach


def run_shell(lab: Any, event: Interactive, environment: Environment) -> int:
    """`shell NS`: an interactive $SHELL on this terminal inside the namespace; back to nslab on exit."""
    from ..kernel import sysns

    fd = lab.nss.get(event.ns).fd
    argv, rc = attach.shell_argv(event.argv[0] if event.argv else environment.shell, event.ns)
    env = dict(environment.environ, NSLAB_NS=event.ns, PS1=f"(nslab:{event.ns}) \\u@\\h:\\w\\$ ")

    def child() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the shell's own Ctrl-C
        sysns.setns(fd)

    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the shell must not end nslab
    try:
        return subprocess.call(argv, preexec_fn=child, pass_fds=(fd,), env=env)
    except OSError as e:
        print(f"nslab: cannot start {argv[0]}: {e.strerror}", file=environment.stderr)
        return 127
    finally:
        signal.signal(signal.SIGINT, old)
        if rc:
            os.unlink(rc)
