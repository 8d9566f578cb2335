"""Ownership by identity: what a host lab made is known by its inode and ifindex, not its name.

When the lab makes or changes an object it writes the object's identity into the ops
that will undo it (`ino`: the inode of the namespace's /run/netns file; `ifindex`: the
interface's index there) and into the creating op (`ids`: every interface it made, as
[namespace, inode, ifindex, name]). Undo, reset and clean act on an object only while that
identity still matches: a namespace or bridge the user deleted and made again under the
same name is theirs, and is reported and left alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..base.errors import DriftedError, GoneError
from ..kernel.netns import HOST
from . import opkinds
from .op_text import ep

if TYPE_CHECKING:
    from .apply import Kernel
    from .journal import Step

Op = dict[str, Any]

# undo ops that name an interface and may carry its index (the op registry's flag)
_ON_INTERFACE = opkinds.flagged("on_interface")


def _target(op: Op) -> str | None:
    return op.get("name") or op.get("dev")


def stamp(kernel: "Kernel", op: Op, undo: list[Op]) -> None:
    """Write the identities the undo ops will need, from what the op just looked up."""
    if "netns" in op:
        return  # a moved link may get another index in its new namespace: its name and namespace decide
    # the undo of a deletion makes the objects again: they will have new indexes (see `remade`)
    indexes = op["op"] not in ("link_del", "ns_del")
    for u in undo:
        ns = u.get("ns", HOST)
        if ns != HOST and "ino" not in u and kernel.nss.exists(ns):
            u["ino"] = kernel.nss.get(ns).ino
        if not indexes or u["op"] not in _ON_INTERFACE or "ifindex" in u or "netns" in u:
            continue
        name = u.get("rename") if u["op"] == "link_set" and "rename" in u else _target(u)
        index = kernel.seen.get((ns, name)) if name else None
        if index is not None:
            u["ifindex"] = index


def verify(kernel: "Kernel", op: Op) -> None:
    """Before an undo op runs: the object it names is the one the lab made, or the op is skipped."""
    ns = op.get("ns", HOST)
    ino = op.get("ino")
    if ino is not None and ns != HOST:
        path = kernel.nss.path(ns)
        try:
            now = os.stat(path).st_ino
        except FileNotFoundError:
            raise GoneError(f"namespace {ns} is gone already") from None
        if not os.path.ismount(path):
            # the empty mount point of a delete that was killed between its umount and its unlink
            if op["op"] == "ns_del" and os.stat(path).st_size == 0:
                os.unlink(path)
            raise GoneError(f"namespace {ns} is gone already")
        if now != ino:
            raise DriftedError(f"{ns} was re-created outside this lab; left as it is")
    index = op.get("ifindex")
    name = _target(op)
    if index is not None and name:
        now_index = kernel.nss.get(ns).nl.index(name)
        if now_index is None:
            raise GoneError(f"{ep(ns, name)} is gone already (deleted, renamed or moved outside this lab)")
        if now_index != index:
            raise DriftedError(f"{ep(ns, name)} was re-created outside this lab; left as it is")


def remade(kernel: "Kernel", op: Op) -> list[tuple[str, str | None, int]]:
    """What an undo op just created again, with its new identity: (namespace, interface or None, id)."""
    if op["op"] == "ns_add":
        return [(op["ns"], None, op["ino"])] if op.get("ino") else []
    ends = [(op.get("ns", HOST), op["name"])] + ([(op["peer_ns"], op["peer"])] if op["op"] == "veth" else [])
    return [(ns, name, kernel.seen[(ns, name)]) for ns, name in ends if (ns, name) in kernel.seen]


def rebind(steps: Iterable["Step"], made_again: list[tuple[str, str | None, int]]) -> list["Step"]:
    """Undo made an object again (the undo of `ns del` or `link del`): the earlier steps that
    made it now name its new identity, so a later reset still knows it as the lab's.
    Returns the steps it changed."""
    spaces = {ns: ino for ns, name, ino in made_again if name is None}
    links = {(ns, name): index for ns, name, index in made_again if name is not None}
    changed: list["Step"] = []
    for step in steps:
        touched = False
        for op in (*step.ops, *step.inverse):
            ns = op.get("ns", HOST)
            if ns in spaces and "ino" in op:
                touched |= op["ino"] != spaces[ns]
                op["ino"] = spaces[ns]
            key = (ns, _target(op))
            if key in links and "ifindex" in op:
                touched |= op["ifindex"] != links[key]
                op["ifindex"] = links[key]
            if op.get("ids"):
                ids = [[n, spaces.get(n, ino), links.get((n, name), index), name] for n, ino, index, name in op["ids"]]
                touched |= ids != op["ids"]
                op["ids"] = ids
        if touched:
            changed.append(step)
    return changed
