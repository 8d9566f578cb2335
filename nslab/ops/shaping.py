"""The kernel side of shaping and faults: tbf rate limits, netem impairments, clearing, putting a
qdisc back, and background link flaps.  Each function is an op kind's apply (the op registry,
nslab/ops/opkinds.py): (kernel, op, inverse) -> the ops that undo it.

The undo of any qdisc change is what the interface carried before, read from the kernel: the
default (undone by `tc_clear`) or a root qdisc put back by `tc_restore` with its kind and its
options exactly as the kernel dumped them, so a tbf (or a netem, or a qdisc someone set with
`tc`) comes back byte for byte.  A qdisc tree (children below the root) is not the lab's to
replace, nor is a classful root (htb, hfsc...: its classes are not in its dump): the command
refuses rather than leave an undo that cannot put it back.

New tbf and netem options are encoded by pyroute2's tc message classes (nslab/kernel/tc.py:
imported only when a shaping op runs) and sent on the namespace's own rtnetlink socket.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError
from ..kernel import tc
from ..kernel.flap import Flap
from ..kernel.rtnl import open_in
from .op_text import ep

if TYPE_CHECKING:
    from .apply import Kernel

Op = dict[str, Any]


def _before(kernel: "Kernel", ns: str, name: str, index: int) -> list[Op]:
    """The ops that put back what the interface carries now."""
    found = tc.qdiscs(kernel.nss.get(ns).nl, index)
    top, below = tc.root(found, index), tc.children(found, index)
    what = (f"a qdisc tree ({top.kind if top else '?'} with {', '.join(q.kind for q in below)} below)" if below
            else f"a classful {top.kind} (its classes are not kept)" if top is not None and top.kind in tc.CLASSFUL
            else "")
    if what:
        raise CommandError(f"{ep(ns, name)} carries {what} that nslab cannot put back; "
                           f"remove it first (tc qdisc del dev {name} root)")
    now = tc.root(found, index)
    if now is None:
        return [{"op": "tc_clear", "ns": ns, "name": name}]
    return [{"op": "tc_restore", "ns": ns, "name": name, "kind": now.kind, "handle": now.handle,
             "options": now.options.hex()}]


def require(kernel: "Kernel", ns: str, kind: str) -> None:
    """Refuse, before anything changes, a qdisc kind this kernel does not have."""
    if not tc.has_kind(kernel.nss.get(ns).nl, kind):
        raise CommandError(tc.NEEDS.get(kind, f"this kernel has no {kind} qdisc (sch_{kind})"))


def apply_rate(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    ns, name = op["ns"], op["name"]
    index = kernel.index(ns, name)
    undo = _before(kernel, ns, name, index) if inverse else []
    tc.create(kernel.nss.get(ns).nl, tc.tbf_message(index, op["rate"], op["burst"], op["latency"]))
    return undo


NETEM_KEYS = {"delay": "delay", "jitter": "jitter", "loss": "loss", "duplicate": "duplicate",
              "corrupt": "prob_corrupt", "reorder": "prob_reorder"}


def apply_delay(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    """netem as the root qdisc.  Only the refusal is tested here: this kernel has no sch_netem."""
    ns, name = op["ns"], op["name"]
    require(kernel, ns, "netem")
    index = kernel.index(ns, name)
    undo = _before(kernel, ns, name, index) if inverse else []
    args = {NETEM_KEYS[k]: op[k] for k in NETEM_KEYS if op.get(k) is not None}
    try:
        tc.create(kernel.nss.get(ns).nl, tc.encode(index, "netem", tc.netem_options(**args)))
    except OSError as e:
        if e.errno == errno.ENOENT:  # the probe could not tell (lo carried a qdisc): the kernel says it now
            raise CommandError(tc.NO_NETEM) from None
        raise
    return undo


def apply_clear(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    ns, name = op["ns"], op["name"]
    index = kernel.index(ns, name)
    undo = _before(kernel, ns, name, index)
    if undo[0]["op"] == "tc_clear":  # the kernel's default qdisc: nothing to take away
        return []
    tc.delete_root(kernel.nss.get(ns).nl, index)
    return undo if inverse else []


def apply_restore(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    ns, name = op["ns"], op["name"]
    index = kernel.index(ns, name)
    undo = _before(kernel, ns, name, index) if inverse else []
    tc.restore(kernel.nss.get(ns).nl, index, op["kind"], bytes.fromhex(op["options"]), op.get("handle", tc.HANDLE))
    return undo


def apply_flap(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    """Start toggling the link in the background; the undo stops it and leaves the link as it was."""
    ns, name = op["ns"], op["name"]
    flaps = kernel.nss.flaps
    if flaps.running(ns, name):
        raise CommandError(f"{ep(ns, name)} is flapping already (link {ep(ns, name)} flap stop)")
    where = kernel.nss.get(ns)
    index = kernel.index(ns, name)
    link = where.nl.link(index=index)
    was_up = bool(link is not None and link.up)
    flaps.pop(ns, name)  # one that ran its count out
    # the flap's own socket, opened here (this thread enters the namespace; the flap's thread never does)
    flap = Flap(ns, name, index, op.get("count"), op.get("down_s", 1.0), op.get("up_s", 1.0), open_in(where.fd), was_up=was_up)
    flaps.add(flap)
    return [{"op": "flap_stop", "ns": ns, "name": name, "up": was_up}]


def apply_flap_stop(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    ns, name = op["ns"], op["name"]
    flap = kernel.nss.flaps.pop(ns, name)
    up = op.get("up", flap.was_up if flap is not None else None)
    if flap is None and "up" not in op:
        raise CommandError(f"{ep(ns, name)} is not flapping")
    if up is not None:
        index = kernel.index(ns, name)
        kernel.nss.get(ns).nl.set_link(index, up=bool(up))
    return []
