"""Handlers for the lab's background programs: `exec -d` (programs.exec calls `start`), `ps`,
`logs ID`, `kill ID`.  Each start is an op (nslab/ops/background.py) so undo stops it."""

from __future__ import annotations

import os
import shutil
from typing import Any

from ..base.errors import CommandError
from ..base.results import Message, Output, Table
from ..engine.context import Ctx
from ..ops import background as bg


def _log_dir(ctx: Ctx) -> str:
    """Where the programs' output goes: the host lab's state dir, or an isolated lab's own temporary one
    (never the namespaces' run dir: everything there is taken for a namespace)."""
    assert ctx.lab is not None
    if ctx.host_mode:
        return os.path.join(ctx.lab.state_dir, "programs")
    return bg.log_dir(ctx.lab.kernel)


def start(ctx: Ctx, ns: str, argv: list[str], **more: Any) -> Message:
    """A background program (`more`: what else its op keeps, as a server's `serve` words)."""
    if ctx.dry or ctx.lab is None:
        if shutil.which(argv[0]) is None:
            raise CommandError(f"no program {argv[0]!r} (not found on PATH)")
        ctx.apply({"op": "prog_start", "ns": ns, "id": "p?", "argv": list(argv), "log": "", **more})
        return Message(f"{bg.shown({'argv': argv, **more})} would start in the background in {ns}", "ok")
    _programs(ctx)  # (host mode: what earlier processes started keeps its id)
    pid_id = bg.next_id(ctx.lab.kernel)
    op = {"op": "prog_start", "ns": ns, "id": pid_id, "argv": list(argv),
          "log": os.path.join(_log_dir(ctx), f"{pid_id}.log"), **more}
    ctx.apply(op)
    return Message(f"{pid_id}: {bg.shown(op)} runs in {ns} (pid {op.get('pid')}); `logs {pid_id}`, `kill {pid_id}`", "ok")


def _programs(ctx: Ctx) -> dict[str, dict[str, Any]]:
    if ctx.lab is None:
        return {}
    found = bg.programs(ctx.lab.kernel)
    if ctx.host_mode:  # a later process of a host lab: the journal's live steps say what earlier ones started
        for step in ctx.lab.journal.live():
            for op in step.ops:
                if op["op"] == "prog_start" and "pid" in op:
                    found.setdefault(op["id"], op)
                elif op["op"] == "prog_stop" and found.get(op["id"], {}).get("pid") == op["pid"]:
                    del found[op["id"]]
    return found


def _one(ctx: Ctx, pid_id: str) -> dict[str, Any]:
    found = _programs(ctx).get(pid_id)
    if found is None:
        known = ", ".join(_programs(ctx)) or "none"
        raise CommandError(f"no background program {pid_id!r} (this lab's: {known})")
    return found


def ps(ctx: Ctx) -> Table:
    assert ctx.lab is not None or not _programs(ctx)
    rows = [[op["id"], op["ns"], op["pid"], bg.state(ctx.lab.kernel, op), bg.shown(op)]  # type: ignore[union-attr]
            for op in _programs(ctx).values()]
    return Table("programs", ["id", "ns", "pid", "state", "command"], rows, key="programs")


def logs(ctx: Ctx, id: str) -> list[Output]:  # noqa: A002 - the command's word
    op = _one(ctx, id)
    try:
        with open(op["log"], errors="replace") as f:
            return [Output(line.rstrip("\n")) for line in f]
    except FileNotFoundError:
        return []


def kill(ctx: Ctx, id: str) -> Message:  # noqa: A002
    op = _one(ctx, id)
    ctx.apply({"op": "prog_stop", **bg.carried(op, "pid", "start")})
    return Message(f"{id} ({bg.shown(op)}) stopped", "ok")
