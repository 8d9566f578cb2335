"""Network namespaces that only processes hold: what `ip netns ls` cannot see.

The tutorial's point about Docker: a namespace with no name under /run/netns is
invisible to `ip netns`, yet every process lives in one.  `ns ls --all` lists them by
the first process found in each, so it can be named with `ns link PID`.  What cannot be
read is said in words (a process that ended while it was read, one that is not ours).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

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
