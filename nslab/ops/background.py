"""Ops for programs the lab runs in the background (`exec -d`, `NS PROG ARGS &`, `kill ID`).

A program runs in a process group of its own with its output in a file (`logs ID`), and
dies with nslab (PR_SET_PDEATHSIG).  It is named by a short id and known by PID and start
time: stopping it signals that very process group, never a reused PID, never a name.
An isolated lab kills the programs still running as it ends; in host mode `clean` undoes
the steps that started them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError
from ..kernel import outside, procns
from ..services.docker import alive, start_time
from .shell_words import Expand, command

if TYPE_CHECKING:
    from .apply import Kernel

Op = dict[str, Any]
SERVE_WAIT = 5.0  # s for a server (`serve`) to listen


def programs(kernel: "Kernel") -> dict[str, Op]:
    """The lab's background programs by id (their start ops, with pid and start time)."""
    found: dict[str, Op] | None = getattr(kernel, "programs", None)
    if found is None:
        found = {}
        kernel.programs = found  # type: ignore[attr-defined]
        kernel.popens = {}  # type: ignore[attr-defined]  # (ours to reap)
        if kernel.tag is None:  # an isolated lab: its programs end with it
            kernel.on_close.append(lambda: _stop_all(found))
    return found


def log_dir(kernel: "Kernel") -> str:
    """An isolated lab's directory for its programs' output, made on first use; it goes with the lab
    (after a `kill -9`, removed by the helper outside, kernel/outside.py)."""
    where: str | None = getattr(kernel, "program_logs", None)
    if where is None:
        where = kernel.program_logs = tempfile.mkdtemp(prefix="nslab-programs-")  # type: ignore[attr-defined]
        outside.at_death_rmtree(f"logs:{where}", where)
        kernel.on_close.append(lambda: _remove_logs(where))
    return where


def _remove_logs(where: str) -> None:
    shutil.rmtree(where, ignore_errors=True)
    outside.forget(f"logs:{where}")


def _stop_all(found: dict[str, Op]) -> None:
    for op in list(found.values()):
        _stop(op)


def next_id(kernel: "Kernel") -> str:
    taken = {int(k[1:]) for k in programs(kernel) if k[1:].isdigit()}
    return f"p{max(taken, default=0) + 1}"


def state(kernel: "Kernel", op: Op) -> str:
    proc = getattr(kernel, "popens", {}).get(op["id"])
    if proc is not None and proc.poll() is not None:
        return f"exited ({proc.returncode})"
    return "running" if alive(op["pid"], op.get("start")) else "exited"


def apply_prog_start(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    fd = kernel.nss.get(op["ns"]).fd
    os.makedirs(os.path.dirname(op["log"]), mode=0o700, exist_ok=True)
    with open(op["log"], "ab") as log:
        offset = log.tell()  # (undoing `kill` appends: the new start's lines come after this)
        # an isolated lab's programs die with it; a host lab's outlive the process (`clean` stops them)
        setup = procns.die_with_parent if kernel.tag is None else None
        proc = procns.popen_in(fd, list(op["argv"]), setup=setup, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, process_group=0)
    op.update(pid=proc.pid, start=start_time(proc.pid))
    if op.get("serve"):
        _listening(proc, op, offset)
    programs(kernel)[op["id"]] = op
    kernel.popens[op["id"]] = proc  # type: ignore[attr-defined]
    return [{"op": "prog_stop", **carried(op, "pid", "start")}]


def _listening(proc: subprocess.Popen[Any], op: Op, offset: int) -> None:
    """A server (`serve`) is started once it listens: the step after it may connect at once.  One
    that cannot listen (the port is taken) fails the step with its own words."""
    deadline = time.monotonic() + SERVE_WAIT
    while True:
        ended = proc.poll() is not None  # (before the read: what it printed as it ended is then in the file)
        with open(op["log"], "rb") as f:
            f.seek(offset)
            said = f.read().decode(errors="replace")
        if said.startswith("listening on"):
            return
        if ended or time.monotonic() > deadline:
            _stop(op)
            proc.wait()
            why = said.strip() or f"it printed nothing in {SERVE_WAIT:g} s"
            raise CommandError(f"serve {op['serve'][0]} in {op['ns']}: {why}")
        time.sleep(0.005)


def _stop(op: Op) -> None:
    """SIGTERM to the program's process group, SIGKILL after a second: only while its leader is
    the process that was started (same PID, same start time)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive(op["pid"], op.get("start")) or _zombie(op["pid"]):
            return
        try:
            os.killpg(op["pid"], sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and alive(op["pid"], op.get("start")) and not _zombie(op["pid"]):
            time.sleep(0.01)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def apply_prog_stop(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    # the program this id names now: after `kill` and its undo that is a new process, not the op's
    current = programs(kernel).pop(op["id"], None)
    for target in (op, current) if current is not None and current["pid"] != op["pid"] else (op,):
        _stop(target)
    proc = kernel.popens.pop(op["id"], None)  # type: ignore[attr-defined]
    if proc is not None:
        try:
            proc.wait(timeout=2)  # reaped: it is ours
        except subprocess.TimeoutExpired:
            pass
    # undoing `kill ID` starts the same program again
    return [{"op": "prog_start", **carried(op)}]


def carried(op: Op, *more: str) -> Op:
    """What a program's start and stop ops hand on to each other (a server keeps its `serve` words)."""
    return {k: op[k] for k in ("ns", "id", "argv", "log", *more, "serve") if k in op}


def _var(op: Op) -> str:
    return f"NSLAB_PROG_{op['id']}"


def shown(op: Op) -> str:
    """The program as `ps` and the journal name it: a server by its `serve` words, not its Python."""
    return " ".join(["serve", *op["serve"]] if op.get("serve") else op["argv"])


def prog_start_lines(op: Op) -> list[str]:
    netns = ["ip", "netns", "exec", op["ns"]] if op["ns"] != "host" else []
    if op.get("serve"):  # the same server, its Python text inlined: bash needs no nslab to run it
        from ..services import servers

        with open(servers.__file__) as f:
            code = f.read()
        kind, port = op["serve"]
        run = [*netns, "python3", "-u", "-c", code, kind, port, op["ns"]]
        return [f"# serve {kind} {op['ns']} {port}: nslab's own server (nslab/services/servers.py), standard library only",
                command(*run) + f" >/dev/null 2>&1 & {_var(op)}=$!",
                "for _ in $(seq 100); do " + command(*netns, "ss", "-Hltn", f"sport = :{port}")
                + " | grep -q . && break; sleep 0.05; done  # until it listens"]
    return [command(*netns, *op["argv"]) + f" >/dev/null 2>&1 & {_var(op)}=$!"]


def prog_stop_lines(op: Op) -> list[str]:
    return [command("kill", Expand(f'"${_var(op)}"'))]


def prog_start_words(op: Op) -> str:
    return f"+ program {op['id']} in {op['ns']}: {shown(op)}"


def prog_stop_words(op: Op) -> str:
    return f"- program {op['id']} ({shown(op)})"


