"""Network namespaces that only processes hold: what `ip netns ls` cannot see.

The tutorial's point about Docker: a namespace with no name under /run/netns is
invisible to `ip netns`, yet every process lives in one.  `ns ls` lists them by
the first process found in each, so it can be named with `ns link PID`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class ProcNs:
    inode: int
    pid: int
    comm: str
    links: int | str


def _links(pid: int) -> int | str:
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            return max(0, len(f.readlines()) - 2)
    except OSError:
        return "-"


def other_namespaces(known: set[int]) -> list[ProcNs]:
    """One entry per network namespace a process is in whose inode is not in `known`."""
    seen: dict[int, ProcNs] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            inode = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            continue  # gone, or not ours to look at
        if inode in known or inode in seen:
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            comm = "?"
        seen[inode] = ProcNs(inode, pid, comm, _links(pid))
    return sorted(seen.values(), key=lambda p: p.pid)


def inode_of_pid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None
