"""What a step changed: the lab's state before and after it, in the namespaces it touched.

Read only where it is shown (the REPL, `run -v`, `run --step`: `Session.read_changes`) and
around a program (it costs a dump of the program's namespace next to a fork and exec): each
namespace is read just before the step's first op names it (a deletion reads the namespaces of
the veth ends it takes along too), and again after the step, so the kernel's side effects are in
the list.  Elsewhere the ops say what they did (`change_words.of_ops`), with no read at all:
the 200-star stays at its requests per namespace (tests/test_requests.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..base.errors import NslabError
from ..kernel import inventory, labstate
from ..kernel.inventory import Link
from ..kernel.netns import HOST
from ..ops import change_words

if TYPE_CHECKING:
    from ..kernel.netns import Namespaces

Op = dict[str, Any]
_TAKES_ALONG = ("ns_del", "link_del")  # a veth's other end, in a namespace of its own, goes too


def namespaces_of(op: Op) -> list[str]:
    """The namespaces an op names (that the model knows: not a container's insides)."""
    if op.get("op") not in change_words.MODELLED:
        return []
    return [ns for ns in (op.get("ns", HOST), op.get("peer_ns"), op.get("netns")) if ns]


class Watch:
    """One step's before-state, namespace by namespace, and the words for its changes."""

    def __init__(self, nss: "Namespaces") -> None:
        self.nss = nss
        self.before = labstate.LabState()
        self.seen: set[str] = set()
        self.failed = False  # a read went wrong (a namespace gone meanwhile): the ops say what they did

    def touch(self, op: Op) -> None:
        """Before OP is applied: read the namespaces it names that this step has not read yet."""
        self._read(namespaces_of(op))
        if op.get("op") in _TAKES_ALONG:
            self._along(op)

    def touch_ns(self, ns: str) -> None:
        self._read([ns])

    def _read(self, names: list[str]) -> None:
        new = [n for n in dict.fromkeys(names) if n not in self.seen]
        if not new:
            return
        self.seen |= set(new)
        try:
            state = labstate.read(self.nss, new, peers=False)  # a host of 1,000 veths: no lookup per veth
        except (NslabError, OSError):
            self.failed = True  # a read for the words never fails the step: the ops' own words then
            return
        self.before.nss.update(state.nss)

    def _along(self, op: Op) -> None:
        """A deletion takes a veth's other end along: read its namespace too, before."""
        ns = op.get("ns", HOST)
        where = self.before.nss.get(ns)
        if where is None:
            return
        ends = [x for x in where.links.values() if op["op"] == "ns_del" or x.name == op.get("name")]
        try:
            inventory.resolve_peers(self.nss, {ns: ends})
        except (NslabError, OSError):
            self.failed = True
            return
        self._read([x.peer[0] for x in ends if x.peer])

    def lines(self, ops: list[Op], side: str = change_words.BY_KERNEL) -> list[str]:
        """The step's changes in words: the state now against the state before, plus the ops the
        model does not hold (sysctls, containers, OVS) in their own words."""
        try:
            return self._lines(ops, side)
        except (NslabError, OSError):
            self.failed = True
        return [] if not ops else change_words.of_ops(ops)

    def _lines(self, ops: list[Op], side: str) -> list[str]:
        if self.failed:
            raise NslabError("the lab could not be read around the step")
        after = labstate.read(self.nss, sorted(self.seen), peers=False)
        deltas = labstate.diff(self.before, after, scope=self.seen)
        ends = {(op.get("ns", HOST), op["name"]): (op["peer_ns"], op["peer"]) for op in ops if op.get("op") == "veth"}
        ends |= {b: a for a, b in ends.items()}
        came = [d.value for d in deltas if d.what == "link" and d.change == "+" and isinstance(d.value, Link)]
        for link in came:  # a new veth's other end says "a new veth pair": from its op, or looked up
            if link.kind == "veth" and link.peer is None:
                link.peer = ends.get((link.ns, link.name))
                if link.peer is None:
                    inventory.resolve_peers(self.nss, {link.ns: [link]})
        modelled = [op for op in ops if op.get("op") in change_words.MODELLED]
        rest = [op for op in ops if op.get("op") not in change_words.MODELLED]
        return change_words.sentences(deltas, modelled, side) + change_words.of_ops(rest)
