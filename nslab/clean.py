"""`nslab --host clean`: remove exactly what this host lab made, after a crash too.

Three sources, in order: the journal's steps (newest first), the op log of a
step that never finished, and finally whatever still carries this lab's tag
(interfaces by alias, namespaces by their lo's alias).  Nothing untagged that
the records do not name is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import NslabError
from .netns import HOST
from .ops import describe

if TYPE_CHECKING:
    from .session import Lab


def _tagged_ns(lab: "Lab", name: str) -> bool:
    try:
        links = lab.nss.get(name).ipr.get_links()
    except NslabError:
        return False
    lo = [m for m in links if m.get("ifname") == "lo"]
    tagged = bool(lo) and lo[0].get("IFLA_IFALIAS") == lab.kernel.tag
    return tagged


def _tagged_links(lab: "Lab") -> list[str]:
    return [m.get("ifname") for m in lab.nss.host.ipr.get_links() if m.get("IFLA_IFALIAS") == lab.kernel.tag]


def clean(lab: "Lab") -> list[str]:
    """Remove this lab's objects; return what was removed, in words."""
    removed: list[str] = []

    def run(op: dict) -> None:
        try:
            lab.kernel.apply(op, inverse=False)
            removed.append(describe(op))
        except NslabError:
            pass  # already gone

    for step in reversed(lab.journal.live()):
        for op in step.inverse:
            run(op)
    if lab.hostlog is not None:
        pending = lab.hostlog.pending({s.n for s in lab.journal.steps})
        for op in pending.undo:
            run(op)
        for op in pending.unsure:
            if op["op"] == "ns_add" and lab.nss.exists(op["ns"]) and _tagged_ns(lab, op["ns"]):
                run({"op": "ns_del", "ns": op["ns"]})
    for name in lab.nss.names():
        if _tagged_ns(lab, name):
            run({"op": "ns_del", "ns": name})
    lab.kernel.settle()
    for name in _tagged_links(lab):
        run({"op": "link_del", "ns": HOST, "name": name})
    lab.journal.steps = []
    lab.journal.save()
    if lab.hostlog is not None:
        lab.hostlog.clear()
    return removed
