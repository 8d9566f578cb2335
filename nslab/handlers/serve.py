"""`serve http NS [PORT]`, `serve echo NS PORT`: nslab's own small servers in a namespace; and
`connect A B PORT`, `expect connect A B PORT`, `expect no connect A B PORT`: TCP reachability.

A server is a background program of the lab (handlers/background.py): a child of nslab running
nslab/services/servers.py with nslab's own Python, in the namespace, so `ps`, `logs ID`, `kill ID`,
undo, the end of an isolated lab and host mode's `clean` treat it as any other program.  A child
and not a thread of nslab: a `kill` is a signal to a process group, the kernel ends it with the lab
(PR_SET_PDEATHSIG), and a host lab's server outlives the process as its other programs do.
"""

from __future__ import annotations

import sys

from ..base.errors import CommandError
from ..base.results import ExpectResult, Message
from ..engine.context import Ctx
from ..services import servers
from .background import start
from .look import resolve_target

CONNECT_WAIT = {"expect_connect": 2.0, "expect_no_connect": 1.0}  # s for the handshake


def _serve(ctx: Ctx, kind: str, ns: str, port: int) -> Message:
    ctx.view.require(ns)
    argv = [sys.executable, "-I", "-u", servers.__file__, kind, str(port), ns]  # -I: its directory is no import path
    return start(ctx, ns, argv, serve=[kind, str(port)])


def serve_http(ctx: Ctx, ns: str, port: int = 80) -> Message:
    return _serve(ctx, "http", ns, port)


def serve_echo(ctx: Ctx, ns: str, port: int) -> Message:
    return _serve(ctx, "echo", ns, port)


def _aim(ctx: Ctx, a: str, b: str) -> str:
    """B's address (B itself, or namespace B's first IPv4) as seen from A; an error when nothing can be sent."""
    ctx.view.require(a)
    addr = resolve_target(ctx, b)
    if (leaves := ctx.guard.outside(a, addr, None)) is not None:
        raise CommandError(leaves)
    return addr


def _connect(ctx: Ctx, a: str, b: str, port: int, wait: float) -> tuple[bool, str]:
    from ..kernel.connect import connect as tcp

    return tcp(ctx.view.fd(a), _aim(ctx, a, b), port, wait)


def connect(ctx: Ctx, a: str, b: str, port: int) -> Message | None:
    if ctx.dry:  # resolved, not sent
        _aim(ctx, a, b)
        return None
    ok, found = _connect(ctx, a, b, port, CONNECT_WAIT["expect_connect"])
    if not ok:
        raise CommandError(f"connect from {a}: {found}")
    return Message(f"from {a}: {found}", "ok")


def _expect(handler: str, ctx: Ctx, a: str, b: str, port: int) -> ExpectResult:
    want = (f"a TCP connection from {a} to {b} port {port} accepted" if handler == "expect_connect"
            else f"no TCP connection from {a} to {b} port {port}")
    try:
        ok, found = _connect(ctx, a, b, port, CONNECT_WAIT[handler])
    except CommandError as e:  # nothing could be sent: neither goal holds
        return ExpectResult(False, want, e.message)
    return ExpectResult(ok == (handler == "expect_connect"), want, found)


def expect_connect(ctx: Ctx, a: str, b: str, port: int) -> ExpectResult:
    return _expect("expect_connect", ctx, a, b, port)


def expect_no_connect(ctx: Ctx, a: str, b: str, port: int) -> ExpectResult:
    return _expect("expect_no_connect", ctx, a, b, port)
