"""`nslab --host clean`: remove exactly what this host lab made, after a crash too.

Three sources, in order: the op log of a step that never finished (the newest),
the journal's steps (newest first), and finally whatever still carries this lab's tag
(interfaces by alias, namespaces by their lo's alias).  Nothing untagged that
the records do not name is touched.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import NslabError
from .netns import HOST
from .ops import describe

if TYPE_CHECKING:
    from .session import Lab

# ops whose undo removes an object; the report lists these (state put back is not "removed")
REMOVES = ("ns_del", "link_del", "addr_del", "route_del")
# a creation killed between its netlink call and its log record: the name was checked free just before


def _alias(lab: "Lab", ns: str, name: str) -> str | None:
    """The interface's alias ("" for none), or None when there is no such interface."""
    try:
        link = lab.nss.get(ns).nl.link(name=name)
    except (NslabError, OSError):
        return None
    return None if link is None else (link.alias or "")


def _tagged_ns(lab: "Lab", name: str) -> bool:
    return _alias(lab, name, "lo") == lab.kernel.tag


def _tagged_links(lab: "Lab") -> list[str]:
    return [m.name for m in lab.nss.host.nl.links() if m.alias == lab.kernel.tag]


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
        if (name in made and made[name] == ino) or _tagged_ns(lab, name):
            left.append(f"namespace {name}")
    left += [f"interface {name}" for name in _tagged_links(lab)]
    return left


def clean(lab: "Lab") -> tuple[list[str], list[str]]:
    """Remove this lab's objects; return what was removed and what was left alone, in words."""
    from .errors import DriftedError
    from .undo import doomed, start_afresh

    removed: list[str] = []
    skipped: list[str] = []

    def run(ops: list[dict[str, Any]]) -> None:
        skip = doomed(ops, lab.kernel.gone)  # interfaces that go with a namespace: let the kernel batch them
        for k, op in enumerate(ops):
            try:
                if k not in skip:
                    lab.kernel.apply(op, inverse=False)
            except DriftedError as e:
                if e.message not in skipped:
                    skipped.append(e.message)
                continue
            except NslabError:
                continue  # already gone (or put back already)
            if op["op"] in REMOVES and (k not in skip or op["op"] == "link_del"):
                removed.append(describe(op))

    # the step nslab died in is the newest: undo it first, before the journal's steps
    run(crashed_step_undo(lab))
    run([op for step in reversed(lab.journal.live()) for op in step.inverse])
    sweep = [{"op": "ns_del", "ns": name} for name in lab.nss.names() if _tagged_ns(lab, name)]
    run(sweep)
    lab.kernel.settle()
    run([{"op": "link_del", "ns": HOST, "name": name} for name in _tagged_links(lab)])
    lab.kernel.settle()
    start_afresh(lab)
    return removed, skipped
