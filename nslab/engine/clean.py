"""`nslab --host clean`: remove exactly what this host lab made, after a crash too.

Three sources, in order: the op log of a step that never finished (the newest),
the journal's steps (newest first), and finally whatever still carries this lab's tag
(interfaces by alias, namespaces by their lo's alias).  Nothing untagged that
the records do not name is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..base.errors import DriftedError, NslabError
from ..kernel.netns import HOST
from ..ops import opkinds
from ..ops.apply import describe
from .leftovers import crashed_step_undo, tagged_links, tagged_ns
from .undo import doomed, start_afresh

if TYPE_CHECKING:
    from .session import Session as Lab

# ops whose undo removes an object; the report lists these (state put back is not "removed")
REMOVES = opkinds.flagged("removes")  # what clean reports as removed


def clean(lab: "Lab") -> tuple[list[str], list[str]]:
    """Remove this lab's objects; return what was removed and what was left alone, in words."""
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
    sweep = [{"op": "ns_del", "ns": name} for name in lab.nss.names() if tagged_ns(lab, name)]
    run(sweep)
    lab.kernel.settle()
    run([{"op": "link_del", "ns": HOST, "name": name} for name in tagged_links(lab)])
    lab.kernel.settle()
    start_afresh(lab)
    return removed, skipped
