"""Undo and reset: the journal's inverse ops, newest step first, acting only on what the lab made.

An object the lab made may have gone meanwhile (deleted, renamed or moved by hand) or
been made again by somebody under the same name: undo skips it and says so once, in
words, instead of stopping halfway. In host mode each step is marked undone on disk as
soon as its ops have run, so a reset that is interrupted (Ctrl-C, `kill -9`) resumes
where it stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..base.errors import DriftedError, GoneError, NslabError
from ..kernel.netns import HOST
from ..ops import identity, opkinds
from ..ops.journal import Op, Step
from .leftovers import crashed_step_undo, leftovers

if TYPE_CHECKING:
    from .session import Session as Lab


@dataclass
class Undone:
    """What an undo or reset did: the steps it undid, and what it had to leave."""

    steps: list[Step] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already gone, or re-created by somebody: in words, once each
    problems: list[str] = field(default_factory=list)  # ops that failed for another reason (reset goes on)
    left: list[str] = field(default_factory=list)  # reset: what the lab made that is still there

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def note(self, message: str) -> None:
        if message not in self.skipped:
            self.skipped.append(message)


def undo(lab: "Lab", n: int = 1, save: bool = True, lenient: bool = False) -> Undone:
    """Undo the last n steps that changed the lab, newest first.  `lenient` (reset): an op that
    fails is reported and the rest goes on; otherwise the first such failure is raised."""
    steps = list(reversed(lab.journal.live()))[:n]
    lab.undo_epoch += 1
    seq = [(i, op) for i, step in enumerate(steps) for op in step.inverse]
    skip = doomed([op for _, op in seq], lab.kernel.gone)
    out = Undone()

    def finish(upto: int) -> None:
        while len(out.steps) < upto:
            step = steps[len(out.steps)]
            step.outcome = "undone"
            out.steps.append(step)
            if lab.host_mode:
                lab.journal.append_disk(step)  # progress: an interrupted reset resumes after it

    try:
        for k, (i, op) in enumerate(seq):
            finish(i)
            if k not in skip:
                _undo_op(lab, op, out, lenient)
        finish(len(steps))
    finally:
        lab.kernel.settle()
        if lab.host_mode and out.steps and save:
            lab.journal.save()
    return out


def _undo_op(lab: "Lab", op: Op, out: Undone, lenient: bool) -> None:
    from .tx import no_sigint

    kernel = lab.kernel
    with no_sigint():  # an op and its bookkeeping finish together
        try:
            ns = op.get("ns", HOST)
            # an op that carries the namespace's inode is checked by identity.verify instead; one that
            # makes the name (ns_add, and ctr_run when `container rm` is undone) finds none, rightly
            if "ino" not in op and opkinds.kind(op).names != "made" and ns != HOST and not lab.nss.exists(ns):
                raise GoneError(f"namespace {ns} is gone already")
            if op["op"] == "ns_del":  # undoing `ns add`: a capture's socket would keep the namespace alive
                lab.captures.stop_in(ns)
            kernel.apply(op, inverse=False)
        except DriftedError as e:
            out.note(e.message)
        except GoneError as e:
            if not _other_end(lab, op):
                out.note(e.message)
        except NslabError as e:
            if _other_end(lab, op) or _already_gone(op):
                pass
            elif lenient:
                out.problems.append(e.message)
            else:
                raise
        if kernel.remade:
            # undo made something again (the undo of `ns del`): the steps that made it know it anew
            changed = identity.rebind(lab.journal.live(), kernel.remade)
            kernel.remade.clear()
            if lab.host_mode:
                for step in changed:  # on disk too: an interrupted reset must know them as the lab's
                    lab.journal.append_disk(step)


def _other_end(lab: "Lab", op: Op) -> bool:
    """A veth end renamed or moved outside nslab: the pair goes by its other end, when that is there."""
    if op["op"] != "link_del" or not op.get("peer") or not _exists(lab, op["peer_ns"], op["peer"]):
        return False
    try:
        lab.kernel.apply({"op": "link_del", "ns": op["peer_ns"], "name": op["peer"]}, inverse=False)
    except NslabError:
        return False
    return True


def reset(lab: "Lab") -> Undone:
    """Undo every step, going on past what is gone; the records start afresh once nothing the
    lab made is left (host mode: on disk too, and its directory goes)."""
    out = Undone()
    if lab.hostlog is not None:
        # a step nslab died in never reached the journal: its ops are in the op log, newest first
        for op in crashed_step_undo(lab):
            _undo_op(lab, op, out, lenient=True)
        lab.kernel.settle()
    done = undo(lab, len(lab.journal.steps), save=False, lenient=True)
    out.steps, out.problems = done.steps, out.problems + done.problems
    for message in done.skipped:
        out.note(message)
    if lab.host_mode:
        out.left = leftovers(lab)
        deadline = time.monotonic() + 2.0
        while out.left and time.monotonic() < deadline:  # veth ends the kernel removes a little later
            time.sleep(0.01)
            out.left = leftovers(lab)
    if out.left:
        lab.journal.save()  # every step marked undone; the op log stays for `clean`
        return out
    start_afresh(lab)
    return out


def start_afresh(lab: "Lab") -> None:
    """Nothing of the lab is left: its records start afresh, and in host mode its directory
    under /run/nslab goes (the records, then the directory, under the lock: nslab/engine/lablock.py)."""
    lab.journal.steps = []
    if lab.hostlog is not None:
        lab.hostlog.clear()
    if not lab.host_mode or not lab.journal.path:
        return
    try:
        os.unlink(lab.journal.path)  # an empty journal is no journal: written only to be removed
    except FileNotFoundError:
        pass
    if lab.lock is not None:
        lab.lock.remove_dir()


SKIPPABLE = opkinds.flagged("skippable")


def doomed(ops: list[Op], gone: list[tuple[str, str]]) -> set[int]:
    """Indexes of undo ops that a later `ns_del` makes pointless.

    Tearing a lab down by deleting its namespaces lets the kernel batch the
    veth cleanup; deleting veths one by one waits an RCU grace period each.
    Veth ends outside a dying namespace go with it; they are put in `gone`
    so the caller waits for the kernel to finish.
    """
    dies: set[str] = set()
    skip: set[int] = set()
    escapes: set[tuple[str, str]] = set()  # (ns, name) of interfaces moved out of a dying namespace
    outside: set[tuple[str, str]] = set()  # veth ends outside dying namespaces: they die with them
    for k in range(len(ops) - 1, -1, -1):
        op = ops[k]
        kind, ns = op["op"], op.get("ns", HOST)
        if kind == "ns_del":
            dies.add(ns)
        elif kind == "ns_add":
            dies.discard(ns)
        elif kind not in SKIPPABLE:
            continue
        elif "netns" in op:
            if ns in dies:
                escapes.add((ns, op["name"]))  # moved out before the namespace goes: ops on it must run
            continue
        elif "name" in op and (ns, op.get("rename", op["name"])) in escapes:
            escapes.add((ns, op["name"]))
            continue
        elif ns in dies and kind == "veth" and op.get("peer_ns") not in dies:
            continue  # its other end lives in a namespace that stays: later ops there need it
        elif ns in dies:
            skip.add(k)
            if kind == "link_del" and op.get("peer") and op.get("peer_ns") not in dies:
                gone.append((op["peer_ns"], op["peer"]))  # its other end goes later, with the namespace
        elif kind == "link_del" and op.get("peer_ns") in dies:
            skip.add(k)
            outside.add((ns, op["name"]))
            gone.append((ns, op["name"]))
        elif kind == "link_set" and (ns, op["name"]) in outside and not {"rename", "netns", "mac"} & set(op):
            skip.add(k)  # releasing a port or taking it down: pointless for an end about to go
        # ops on an outside end that dies later still run: a route through its address needs the address
    return skip


def _exists(lab: "Lab", ns: str, name: str) -> bool:
    try:
        return lab.kernel.has(ns, name)
    except NslabError:
        return False


def _already_gone(op: Op) -> bool:
    # deleting what a deleted namespace already took with it is not a failure
    return opkinds.kind(op).deletion
