"""`nslab attach [NS]`: join a running isolated lab from a second terminal.

An isolated lab lives in namespaces only its process holds.  The REPL publishes
a small record (its PID, the fd of the lab's host namespace and the identities
of its namespaces) in a per-user directory; `attach` reads it, enters that
process's mount namespace (so it sees the lab's private /run/netns) and the
lab's host network namespace, then opens a shell in NS, runs a command there,
or opens a REPL on the same lab.

attach runs with the caller's privileges inside another process's namespaces,
so it trusts only what the caller owns (see `records` and `join`): a directory
or record that fails a check is an error that says so, never skipped.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..base.environment import Environment
from ..kernel import isolate, sysns
from .anchor import anchor_imports

RECORD_MAX = 4096  # a record is ~200 bytes; anything bigger is not ours
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_RECORD = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not hang us


class AttachError(Exception):
    """A runtime directory, record or recorded process that attach must not trust."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def open_runtime_dir(path: Path) -> int:
    """An fd on the runtime directory PATH, made 0700 if missing, after checking it is the caller's own.

    mkdir then open+fstat: whoever made the path first, the checks are on the directory
    the fd holds, and every later access goes through that fd."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise AttachError(f"cannot make {path}: {e.strerror}") from None
    try:
        fd = os.open(path, _OPEN_DIR)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):  # the words only: the open refused it
            raise AttachError(f"{path} is a symlink, not a directory of yours; remove it") from None
        if e.errno == errno.ENOTDIR:
            raise AttachError(f"{path} is not a directory; remove it") from None
        raise AttachError(f"cannot open {path}: {e.strerror}") from None
    st = os.fstat(fd)
    problem = _not_mine(st, "directory")
    if problem is None and st.st_mode & 0o077:
        problem = f"has mode {stat.S_IMODE(st.st_mode):04o}, not 0700 (other users could read or change it)"
    if problem is not None:
        os.close(fd)
        raise AttachError(f"{path} {problem}; remove it")
    return fd


def publish_dir(path: Path, err: TextIO) -> int | None:
    """The checked directory for a REPL's record; when it cannot be trusted the REPL says so
    once on ERR (before its prompt) and goes on without attach."""
    try:
        return open_runtime_dir(path)
    except AttachError as e:
        print(f"nslab: {e.message}; `nslab attach` cannot reach this lab", file=err)
        return None


def _not_mine(st: os.stat_result, kind: str) -> str | None:
    """Why a directory or record is not the caller's own, or None."""
    want = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
    if not want(st.st_mode):
        return f"is not a {'directory' if kind == 'directory' else 'regular file'}"
    if st.st_uid != os.geteuid():
        return f"is owned by uid {st.st_uid}, not you (uid {os.geteuid()})"
    return None


def _ns_id(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino]


def _open_in(proc: int, rel: str) -> int:
    return os.open(rel, os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)


@dataclass
class Record:
    pid: int
    host_fd: int
    name: str
    started: float
    start_ticks: int  # the process's start time in clock ticks (/proc/PID/stat): a reused PID differs
    net: list[int]  # [dev, ino] of the lab's host network namespace
    mnt: list[int]  # [dev, ino] of the process's mount namespace
    user: list[int]  # [dev, ino] of its user namespace
    path: Path


def _start_ticks(proc_fd: int) -> int:
    with open(_open_in(proc_fd, "stat")) as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def _self_proc() -> int:
    return os.open(f"/proc/{os.getpid()}", _OPEN_DIR & ~os.O_NOFOLLOW)


def publish(lab: Any, dir_fd: int) -> str:
    """Write this lab's record into the checked directory; its file name, for `withdraw`.

    Written to a temporary name (O_EXCL, 0600) and renamed, so attach never reads half a record."""
    proc = _self_proc()
    try:
        data = {"pid": os.getpid(), "host_fd": lab.nss.host.fd, "name": lab.name, "started": time.time(),
                "start_ticks": _start_ticks(proc), "net": _ns_id(os.fstat(lab.nss.host.fd)),
                "mnt": _ns_id(os.stat("ns/mnt", dir_fd=proc)), "user": _ns_id(os.stat("ns/user", dir_fd=proc))}
    finally:
        os.close(proc)
    name = f"{os.getpid()}.json"
    tmp = f".{name}.tmp"
    withdraw(tmp, dir_fd)  # one a crash of this PID's predecessor left
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        os.write(fd, json.dumps(data).encode())
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    return name


def withdraw(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _read_record(dir_fd: int, name: str, where: Path) -> Record:
    path = where / name
    try:
        fd = os.open(name, _OPEN_RECORD, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise AttachError(f"record {path} is a symlink; remove it") from None
        raise AttachError(f"cannot open record {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        problem = _not_mine(st, "record")
        if problem is None and st.st_size > RECORD_MAX:
            problem = f"is {st.st_size} bytes, larger than any record ({RECORD_MAX})"
        if problem is not None:
            raise AttachError(f"record {path} {problem}; remove it")
        raw = os.read(fd, RECORD_MAX + 1)
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
        return Record(int(data["pid"]), int(data["host_fd"]), str(data.get("name", "")), float(data["started"]),
                      int(data["start_ticks"]), _pair(data["net"]), _pair(data["mnt"]), _pair(data["user"]), path)
    except (ValueError, KeyError, TypeError) as e:
        raise AttachError(f"record {path} is not an nslab record ({type(e).__name__}: {e}); remove it") from None


def _pair(value: Any) -> list[int]:
    dev, ino = value
    return [int(dev), int(ino)]


def records(where: Path) -> list[Record]:
    """Running labs published in WHERE, newest first.  A record whose process has ended is removed
    (it is the caller's own, checked); any other record that fails a check raises AttachError."""
    dir_fd = open_runtime_dir(where)
    try:
        out = []
        for name in sorted(os.listdir(dir_fd)):
            if not name.endswith(".json"):
                continue
            rec = _read_record(dir_fd, name, where)
            proc = _open_proc(rec)
            if proc is None:
                withdraw(name, dir_fd)
                continue
            try:
                alive = _check_process(rec, proc)
            finally:
                os.close(proc)
            if alive:
                out.append(rec)
            else:
                withdraw(name, dir_fd)
    finally:
        os.close(dir_fd)
    return sorted(out, key=lambda r: r.started, reverse=True)


def _open_proc(rec: Record) -> int | None:
    """An fd on /proc/PID: reads through it fail once that process is gone, even if the PID is reused."""
    try:
        return os.open(f"/proc/{rec.pid}", _OPEN_DIR & ~os.O_NOFOLLOW)
    except FileNotFoundError:
        return None


def _check_process(rec: Record, proc: int) -> bool:
    """The recorded process is the caller's, is nslab, is the one that wrote the record, and holds
    the recorded namespaces; False when it has just ended."""
    pid, path = rec.pid, rec.path
    try:
        try:
            with open(_open_in(proc, "status")) as f:
                uids = next(line.split()[1:] for line in f if line.startswith("Uid:"))
        except ProcessLookupError:
            return False
        if uids[0] != str(os.getuid()) or uids[1] != str(os.geteuid()):
            raise AttachError(f"PID {pid} (named by {path}) belongs to uid {uids[0]}, not you; remove {path}")
        if _start_ticks(proc) != rec.start_ticks:
            raise AttachError(f"PID {pid} is not the process that wrote {path} (it started at another time: "
                              f"a reused PID); remove {path}")
        with open(_open_in(proc, "cmdline"), "rb") as f:
            argv = f.read(65536).decode(errors="replace").split("\0")
        if not _is_nslab(argv):
            raise AttachError(f"PID {pid} ({argv[0]}) is not an nslab process; remove {path}")
        for what, rel, want in (("lab network", f"fd/{rec.host_fd}", rec.net), ("mount", "ns/mnt", rec.mnt)):
            try:
                found = _ns_id(os.stat(rel, dir_fd=proc))
            except FileNotFoundError:
                raise AttachError(f"PID {pid} does not hold the {what} namespace {path} names "
                                  f"(it has no {rel}); remove {path}") from None
            if found != want:
                raise AttachError(f"PID {pid} does not hold the {what} namespace {path} names "
                                  f"(inode {want[1]} recorded, {found[1]} found); remove {path}")
    except OSError as e:
        raise AttachError(f"cannot check PID {pid} named by {path}: {e.strerror}") from None
    return True


def _is_nslab(argv: list[str]) -> bool:
    """`nslab ...`, `python3 /path/to/nslab ...` or `python3 [opts] -m nslab ...`."""
    if any(os.path.basename(a) == "nslab" for a in argv[:2]):
        return True
    return any(a == "-m" and b == "nslab" for a, b in zip(argv, argv[1:], strict=False))


def _open_checked(proc: int, rel: str, want: list[int], what: str, rec: Record) -> int:
    """Open a namespace of the recorded process once and check the fd itself: the fd is what
    setns enters, so nothing can be swapped between the check and the join."""
    fd = _open_in(proc, rel)
    found = _ns_id(os.fstat(fd))
    if found != want:
        os.close(fd)
        raise AttachError(f"PID {rec.pid} does not hold the {what} namespace {rec.path} names "
                          f"(inode {want[1]} recorded, {found[1]} found); remove {rec.path}")
    return fd


_OWNER: list[int] = []  # a pidfd on the lab's process, once joined


def owner_pidfd() -> int | None:
    """A pidfd on the process whose lab this one joined: it turns readable when that process ends."""
    return _OWNER[0] if _OWNER else None


def _pidfd(pid: int) -> int:
    try:
        return os.pidfd_open(pid)
    except OSError:  # a kernel before 5.3: the attached REPL cannot tell when the lab ends
        return -1


def join(rec: Record) -> None:
    """Move this (single-threaded) process into the lab: user (when not root), mount, then network."""
    cwd = os.getcwd()
    proc = _open_proc(rec)
    if proc is None:
        raise AttachError(f"PID {rec.pid} has ended")
    fds: list[int] = []
    try:
        if not _check_process(rec, proc):
            raise AttachError(f"PID {rec.pid} has ended")
        wanted = [(f"fd/{rec.host_fd}", rec.net, "lab network"), ("ns/mnt", rec.mnt, "mount")]
        if os.geteuid() != 0:
            wanted.append(("ns/user", rec.user, "user"))
        for rel, want, what in wanted:
            fds.append(_open_checked(proc, rel, want, what, rec))
        owner = _pidfd(rec.pid)
        net, mnt, user = (*fds, -1)[:3]
        if not _check_process(rec, proc):  # still the same process, after the opens (the pidfd's too)
            if owner >= 0:
                os.close(owner)
            raise AttachError(f"PID {rec.pid} has ended")
        _OWNER[:] = [owner] if owner >= 0 else []
        anchor_imports()
        if user >= 0 and not _same_ns(user, "user"):
            sysns.setns(user, sysns.CLONE_NEWUSER)
        if not _same_ns(mnt, "mnt"):
            sysns.setns(mnt, sysns.CLONE_NEWNS)
        sysns.setns(net)
    finally:
        for fd in fds:
            os.close(fd)
        os.close(proc)
    try:
        os.chdir(cwd)
    except OSError:
        os.chdir("/")
    os.environ[isolate.MARK] = str(os.getpid())  # already inside a lab: do not isolate again


def _same_ns(fd: int, kind: str) -> bool:
    # root attaching to a root lab needs no user namespace change (and may not re-enter its own)
    return os.fstat(fd).st_ino == os.stat(f"/proc/self/ns/{kind}").st_ino


def cmd_attach(args: Any, env: Environment, repl: Any) -> int:
    """`nslab attach`: REPL(lab) runs the REPL on the joined lab (the face above makes it)."""
    err = env.stderr
    try:
        found = records(env.runtime_dir)
    except AttachError as e:
        print(f"nslab attach: {e.message}", file=err)
        return 2
    if args.pid:
        found = [r for r in found if r.pid == args.pid]
    if not found:
        which = f"with PID {args.pid} " if args.pid else ""
        print(f"nslab attach: no running isolated lab {which}(start one with `nslab` first)", file=err)
        return 2
    rec = found[0]
    argv = list(args.argv or [])
    if argv[:1] == ["--"]:
        argv = argv[1:]
    repl_wanted = args.ns is None and not argv
    if repl_wanted:  # imported before joining, from this mount namespace (later ones: anchor_imports)
        from ..lab import Lab
    try:
        join(rec)
    except AttachError as e:
        print(f"nslab attach: {e.message}", file=err)
        return 2
    except OSError as e:
        print(f"nslab attach: cannot join the lab of PID {rec.pid}: {e.strerror or e}", file=err)
        return 2
    if repl_wanted:
        lab = Lab(root="current", name=rec.name or "default", run_dir=env.netns_dir)
        print(f"attached to the lab of PID {rec.pid}; leaving here leaves that lab as it is", file=err)
        return int(repl(lab))
    return _run_in(args.ns or "host", argv, env)


def _run_in(ns: str, argv: list[str], environment: Environment) -> int:
    """Exec a command (or $SHELL with a prompt showing NS) inside the lab's namespace NS."""
    if ns != "host":
        netns_dir = environment.netns_dir
        try:
            fd = os.open(os.path.join(netns_dir, ns), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            names = sorted(os.listdir(netns_dir)) if os.path.isdir(netns_dir) else []
            print(f"nslab attach: no namespace {ns!r} in that lab (it has: {', '.join(names) or 'none'})",
                  file=environment.stderr)
            return 2
        sysns.setns(fd)
        os.close(fd)
    env = dict(environment.environ, NSLAB_NS=ns, PS1=f"(nslab:{ns}) \\u@\\h:\\w\\$ ")
    if not argv:
        argv, _ = shell_argv(environment.shell, ns)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        print(f"nslab attach: cannot run {argv[0]}: {e.strerror}", file=environment.stderr)
        return 127
    return 0  # not reached


def shell_argv(shell: str, ns: str) -> tuple[list[str], str | None]:
    """$SHELL with a prompt showing the namespace; bash needs an rc file, since ~/.bashrc sets PS1."""
    if os.path.basename(shell) != "bash":
        return [shell], None
    fd, rc = tempfile.mkstemp(prefix="nslab-rc.", suffix=".bash")
    with os.fdopen(fd, "w") as f:
        f.write('[ -f ~/.bashrc ] && . ~/.bashrc\n'
                f'PS1="(nslab:{ns}) ${{PS1:-\\\\u@\\\\h:\\\\w\\\\$ }}"\n')
    return [shell, "--rcfile", rc, "-i"], rc
