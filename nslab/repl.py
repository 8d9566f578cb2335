"""The interactive shell: a prompt_toolkit prompt over the same parser and session."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from .netns import HOST
from .results import Interactive


def prompt_text(lab: Any) -> str:
    mark = "#" if lab.host_mode else ""
    ctx = "" if lab.context == HOST else f"({lab.context})"
    return f"nslab{mark}{ctx}> "


def run_shell(lab: Any, event: Interactive) -> None:
    """`shell NS`: an interactive $SHELL on this terminal inside the namespace."""
    fd = lab.nss.get(event.ns).fd
    from . import sysns

    env = dict(os.environ, NSLAB_NS=event.ns, PS1=f"[{event.ns}] \\u@\\h:\\w\\$ ")
    subprocess.call(event.argv, preexec_fn=lambda: sysns.setns(fd), pass_fds=(fd,), env=env)


def handle(lab: Any, out: Any, line: str) -> None:
    for event in lab.stream_line(line):
        if isinstance(event, Interactive):
            run_shell(lab, event)
        out(event)


def run_repl(args: Any, lab: Any = None) -> int:
    from prompt_toolkit import PromptSession

    from .cli import open_lab, renderer

    lab = lab or open_lab(args)
    out = renderer(args)
    session: PromptSession[str] = PromptSession()
    try:
        while True:
            try:
                line = session.prompt(prompt_text(lab))
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            if line.strip() in ("exit", "quit", "exit!"):
                break
            try:
                handle(lab, out, line)
            except KeyboardInterrupt:
                out.line("interrupted", "yellow")
    finally:
        lab.close()
    print(file=sys.stderr)
    return 0
