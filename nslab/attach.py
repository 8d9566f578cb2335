"""`nslab attach [NS]`: join a running isolated lab from a second terminal.

An isolated lab lives in namespaces only its process holds.  The REPL publishes
a small record (its PID and the fd of the lab's host namespace) in a per-user
directory; `attach` reads it, enters that process's mount namespace (so it sees
the lab's private /run/netns) and the lab's host network namespace, then opens a
shell in NS, runs a command there, or opens a REPL on the same lab.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import isolate, sysns


def runtime_dir() -> Path:
    # not under /run: an isolated process may have a private tmpfs there
    return Path(os.environ.get("NSLAB_RUNTIME_DIR") or f"/tmp/nslab-{os.getuid()}")


@dataclass
class Record:
    pid: int
    host_fd: int
    name: str
    started: float
    path: Path

    def alive(self) -> bool:
        return os.path.exists(f"/proc/{self.pid}/fd/{self.host_fd}") and _started_at(self.pid) <= self.started


def _started_at(pid: int) -> float:
    """When the process started (wall clock), so a reused PID is not taken for the lab."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return float("inf")
    return time.time() - up + ticks / os.sysconf("SC_CLK_TCK") - 1.0


def publish(lab: Any) -> Path | None:
    """Write this lab's record; None when the directory cannot be used (attach then finds nothing)."""
    d = runtime_dir()
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        if d.stat().st_uid != os.getuid():
            return None  # someone else's directory: do not write there
        path = d / f"{os.getpid()}.json"
        path.write_text(json.dumps({"pid": os.getpid(), "host_fd": lab.nss.host.fd, "name": lab.name,
                                    "started": time.time()}))
        return path
    except OSError:
        return None


def withdraw(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def records() -> list[Record]:
    """Running labs, newest first; records of ended processes are removed."""
    out = []
    for path in sorted(runtime_dir().glob("*.json")):
        try:
            data = json.loads(path.read_text())
            rec = Record(int(data["pid"]), int(data["host_fd"]), str(data.get("name", "")),
                         float(data["started"]), path)
        except (OSError, ValueError, KeyError):
            continue
        if rec.alive():
            out.append(rec)
        else:
            withdraw(path)
    return sorted(out, key=lambda r: r.started, reverse=True)


def join(rec: Record) -> None:
    """Move this (single-threaded) process into the lab: user (when not root), mount, then network."""
    cwd = os.getcwd()
    proc = f"/proc/{rec.pid}"
    net = os.open(f"{proc}/fd/{rec.host_fd}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.geteuid() != 0:
            _setns_path(f"{proc}/ns/user", sysns.CLONE_NEWUSER)
        _setns_path(f"{proc}/ns/mnt", sysns.CLONE_NEWNS)
        sysns.setns(net)
    finally:
        os.close(net)
    try:
        os.chdir(cwd)
    except OSError:
        os.chdir("/")
    os.environ[isolate.MARK] = str(os.getpid())  # already inside a lab: do not isolate again


def _setns_path(path: str, nstype: int) -> None:
    if os.stat(path).st_ino == os.stat(f"/proc/self/ns/{os.path.basename(path)}").st_ino:
        return  # already there (root attaching to a root lab needs no user namespace change)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sysns.setns(fd, nstype)
    finally:
        os.close(fd)


def cmd_attach(args: Any) -> int:
    found = records()
    if args.pid:
        found = [r for r in found if r.pid == args.pid]
    if not found:
        which = f"with PID {args.pid} " if args.pid else ""
        print(f"nslab attach: no running isolated lab {which}(start one with `nslab` first)", file=sys.stderr)
        return 2
    rec = found[0]
    try:
        join(rec)
    except OSError as e:
        print(f"nslab attach: cannot join the lab of PID {rec.pid}: {e.strerror or e}", file=sys.stderr)
        return 2
    argv = list(args.argv or [])
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if args.ns is None and not argv:
        from .repl import run_repl
        from .session import Lab

        lab = Lab(root="current", name=rec.name or "default")
        print(f"attached to the lab of PID {rec.pid}; leaving here leaves that lab as it is", file=sys.stderr)
        return run_repl(args, lab, attached=True)
    return _run_in(args.ns or "host", argv)


def _run_in(ns: str, argv: list[str]) -> int:
    """Exec a command (or $SHELL with a prompt showing NS) inside the lab's namespace NS."""
    from .repl import _shell_argv

    if ns != "host":
        try:
            fd = os.open(os.path.join(isolate.NETNS_DIR, ns), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            names = sorted(os.listdir(isolate.NETNS_DIR)) if os.path.isdir(isolate.NETNS_DIR) else []
            print(f"nslab attach: no namespace {ns!r} in that lab (it has: {', '.join(names) or 'none'})",
                  file=sys.stderr)
            return 2
        sysns.setns(fd)
        os.close(fd)
    env = dict(os.environ, NSLAB_NS=ns, PS1=f"(nslab:{ns}) \\u@\\h:\\w\\$ ")
    if not argv:
        argv, _ = _shell_argv(os.environ.get("SHELL") or "/bin/sh", ns)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        print(f"nslab attach: cannot run {argv[0]}: {e.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached
