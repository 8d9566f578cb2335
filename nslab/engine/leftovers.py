"""What a host lab left in the kernel: the undo of a step nslab died in, and what still
carries the lab's tag.  Read by `reset` (undo.py) and `clean` (clean.py); it changes nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..base.errors import NslabError

if TYPE_CHECKING:
    from .session import Session as Lab


def _alias(lab: "Lab", ns: str, name: str) -> str | None:
    """The interface's alias ("" for none), or None when there is no such interface."""
    try:
        link = lab.nss.get(ns).nl.link(name=name)
    except (NslabError, OSError):
        return None
    return None if link is None else (link.alias or "")


def tagged_ns(lab: "Lab", name: str) -> bool:
    """The namespace's lo carries this lab's tag."""
    return _alias(lab, name, "lo") == lab.kernel.tag


def tagged_links(lab: "Lab") -> list[str]:
    """Interfaces in the host namespace that carry this lab's tag."""
    return [m.name for m in lab.nss.host.nl.links() if m.alias == lab.kernel.tag]


# a creation killed between its netlink call and its log record: the name was checked free just before
def _unsure_undo(lab: "Lab", op: dict[str, Any]) -> dict[str, Any] | None:
    """The undo of a creation that may or may not have happened when nslab died."""
    kind = op["op"]
    if kind == "ns_add":
        path = lab.nss.path(op["ns"])
        # tagged, not yet tagged, or only the mount point's file made (killed before the mount)
        if os.path.exists(path) and (_alias(lab, op["ns"], "lo") in ("", lab.kernel.tag) or not os.path.ismount(path)):
            return {"op": "ns_del", "ns": op["ns"]}
        return None
    if kind in ("veth", "bridge"):
        # created but maybe not yet tagged; a refused creation is logged as failed, so an
        # intent still open means nslab died within the op.  A veth must also have the other
        # end the op named: somebody's own eth0 of the same name does not.
        alias = _alias(lab, op["ns"], op["name"])
        if alias == lab.kernel.tag or (alias == "" and (kind == "bridge" or _has_peer(lab, op))):
            return {"op": "link_del", "ns": op["ns"], "name": op["name"]}
    return None


def _has_peer(lab: "Lab", op: dict[str, Any]) -> bool:
    """The veth op's other end is there, as a veth, with the name the op gave it."""
    try:
        peer = lab.nss.get(op["peer_ns"]).nl.link(name=op["peer"])
        mine = lab.nss.get(op["ns"]).nl.link(name=op["name"])
    except (NslabError, OSError):
        return False
    return peer is not None and mine is not None and peer.kind == "veth" and mine.kind == "veth"


def crashed_step_undo(lab: "Lab") -> list[dict[str, Any]]:
    """The undo of a step nslab died in (it never reached the journal), from the op log: the
    ops that ran, newest first, after the creations that may or may not have happened."""
    if lab.hostlog is None:
        return []
    pending = lab.hostlog.pending({s.n for s in lab.journal.steps})
    unsure = [u for u in (_unsure_undo(lab, op) for op in pending.unsure) if u is not None]
    return unsure + pending.undo


def leftovers(lab: "Lab") -> list[str]:
    """What this lab made that is still there: namespaces it made (same inode) or that carry
    its tag, and interfaces in the host namespace that carry its tag."""
    left: list[str] = []
    made = {op["ns"]: op.get("ino") for s in lab.journal.steps for op in s.ops if op["op"] == "ns_add"}
    for name in lab.nss.names():
        try:
            ino = os.stat(lab.nss.path(name)).st_ino
        except OSError:
            continue
        if (name in made and made[name] == ino) or tagged_ns(lab, name):
            left.append(f"namespace {name}")
    left += [f"interface {name}" for name in tagged_links(lab)]
    return left
