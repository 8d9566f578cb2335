"""The op registry: every op kind declared once.

An op is a JSON object such as ``{"op": "addr_add", "ns": "ns1", "name": "eth0",
"cidr": "10.0.0.1/24"}`` (the journal stores ops as they are, in a versioned record
file, nslab/ops/records.py).  Its kind says, here and nowhere else: the fields it must
carry, how the kernel applies it (a `Kernel` method, nslab/ops/apply.py, or a container/OVS
function, nslab/ops/container_ops.py; each returns the ops that undo it), its effect on
the lab model (nslab/ops/model.py: what the dry run applies), its iproute2 lines
(nslab/ops/shell_words.py), its words (nslab/ops/op_text.py) and its flags, which undo,
clean, export and the host-mode identity checks read instead of lists of their own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..base.errors import CommandError
from . import model
from . import op_text as words
from . import shell_words as lines


class _Later:
    """An op module imported when one of its functions is first called: containers, OVS, shaping
    and the other link kinds stay off the start-up of a lab that uses none of them (15 ms)."""

    def __init__(self, module: str) -> None:
        self.module = module

    def __getattr__(self, fn: str) -> Callable[..., Any]:
        def call(*args: Any, **kw: Any) -> Any:
            return getattr(importlib.import_module(f"{__package__}.{self.module}"), fn)(*args, **kw)

        call.__name__ = call.__qualname__ = fn
        return call


ctr, kinds, shaping, shaping_spec, run, bg = (_Later(m) for m in ("container_ops", "link_kinds", "shaping",
                                                                  "shaping_spec", "container_run", "background"))

Op = dict[str, Any]
Apply = Callable[[Any, Op, bool], list[Op]]  # (kernel, op, inverse) -> the ops that undo it


@dataclass(frozen=True)
class OpKind:
    """An op kind, declared once: how it is applied, its model effect, its iproute2 lines and words, its flags."""

    name: str
    fields: tuple[str, ...]  # what undo, clean and the journal reader need (an op may carry more)
    apply: Apply
    model: Callable[[Any, Op], None]  # (LabState, op): raises what the kernel would refuse
    lines: Callable[[Op], list[str]]
    words: Callable[[Op], str]
    creates: bool = False  # makes an object with an identity (host mode stamps it: nslab/ops/identity.py)
    removes: bool = False  # takes an object away (what `clean` reports as removed)
    deletion: bool = False  # undoing it when a deleted namespace took the object along is no failure
    attribute: bool = False  # changes an object in place: pointless before its namespace is deleted
    skippable: bool = False  # reset may skip it when a later namespace deletion makes it pointless
    names: str = ""  # "made" / "removed": puts a name into /run/netns or takes one away
    on_interface: bool = False  # names an interface: host mode's undo carries its ifindex
    routes_traffic: bool = False  # adds FIB entries: host mode checks where the host's traffic goes then


def _method(name: str) -> Apply:
    return lambda kernel, op, inverse: getattr(kernel, name)(op, inverse)


def _in_ctr_lines(op: Op) -> list[str]:
    return [f"{ctr.in_ctr_prefix(op)} {line}" for line in ip_lines(op["inner"])]


def _in_ctr_words(op: Op) -> str:
    return f"{describe(op['inner'])} in {ctr.owner(op)}"


def _const(text: str) -> Callable[[Op], str]:
    return lambda op: text.format(**op)


_NS, _IF = ("ns",), ("ns", "name")
_ALL = [
    OpKind("ns_add", _NS, _method("_ns_add"), model.ns_add, lines.ns_add, words.ns_add, creates=True, names="made"),
    OpKind("ns_del", _NS, _method("_ns_del"), model.ns_del, lines.ns_del, words.ns_del, removes=True, names="removed"),
    OpKind("veth", ("ns", "name", "peer_ns", "peer"), _method("_veth"), model.veth, lines.veth, words.veth,
           creates=True, skippable=True),
    OpKind("bridge", _IF, _method("_bridge"), model.bridge, lines.bridge, words.bridge, creates=True, skippable=True),
    OpKind("macvlan", ("ns", "name", "link", "mode"), kinds.apply_macvlan, kinds.model_macvlan, kinds.macvlan_lines,
           kinds.macvlan_words, creates=True, skippable=True),
    OpKind("vxlan", ("ns", "name", "vni"), kinds.apply_vxlan, kinds.model_vxlan, kinds.vxlan_lines, kinds.vxlan_words,
           creates=True, skippable=True),
    OpKind("link_set", _IF, _method("_link_set"), model.link_set, lines.link_set, words.link_set, skippable=True, on_interface=True),
    OpKind("link_del", _IF, _method("_link_del"), model.link_del, lines.link_del, words.link_del,
           removes=True, deletion=True, skippable=True, on_interface=True),
    OpKind("addr_add", ("ns", "name", "cidr"), _method("_addr_add"), model.addr_add, lines.addr_add, words.addr_add,
           attribute=True, skippable=True, on_interface=True, routes_traffic=True),
    OpKind("addr_del", ("ns", "name", "cidr"), _method("_addr_del"), model.addr_del, lines.addr_del, words.addr_del,
           removes=True, deletion=True, attribute=True, skippable=True, on_interface=True),
    OpKind("route_add", ("ns", "dst"), _method("_route_add"), model.route_add, lines.route_add, words.route_add,
           attribute=True, skippable=True, on_interface=True, routes_traffic=True),
    OpKind("route_del", ("ns", "dst"), _method("_route_del"), model.route_del, lines.route_del, words.route_del,
           removes=True, deletion=True, attribute=True, skippable=True, on_interface=True),
    OpKind("sysctl", ("ns", "key", "value"), _method("_sysctl"), model.sysctl, lines.sysctl, words.sysctl,
           attribute=True, skippable=True),
    # shaping and faults (nslab/ops/shaping.py, nslab/ops/shaping_spec.py)
    OpKind("tc_rate", ("ns", "name", "rate", "burst", "latency"), shaping.apply_rate, shaping_spec.rate,
           shaping_spec.rate_lines, shaping_spec.rate_words, attribute=True, skippable=True, on_interface=True),
    OpKind("tc_delay", ("ns", "name", "delay"), shaping.apply_delay, shaping_spec.delay, shaping_spec.delay_lines,
           shaping_spec.delay_words, attribute=True, skippable=True, on_interface=True),
    OpKind("tc_clear", _IF, shaping.apply_clear, shaping_spec.clear, shaping_spec.clear_lines,
           shaping_spec.clear_words, attribute=True, skippable=True, on_interface=True),
    OpKind("tc_restore", ("ns", "name", "kind", "options"), shaping.apply_restore, shaping_spec.restore,
           shaping_spec.restore_lines, shaping_spec.restore_words, attribute=True, skippable=True, on_interface=True),
    OpKind("link_flap", _IF, shaping.apply_flap, shaping_spec.flap, shaping_spec.flap_lines, shaping_spec.flap_words,
           on_interface=True),
    OpKind("flap_stop", _IF, shaping.apply_flap_stop, shaping_spec.flap_stop, shaping_spec.flap_stop_lines,
           shaping_spec.flap_stop_words, on_interface=True),
    OpKind("ns_link", ("ns", "pid"), ctr.apply_ns_link, model.ns_link, ctr.ns_link_lines, ctr.ns_link_words,
           names="made"),
    OpKind("ns_unlink", _NS, ctr.apply_ns_unlink, model.ns_unlink, ctr.ns_unlink_lines, ctr.ns_unlink_words,
           names="removed"),
    # containers the lab starts (nslab/ops/container_run.py): the container and its namespace's name
    OpKind("ctr_run", ("ns", "container", "image"), run.apply_ctr_run, model.ns_link, run.ctr_run_lines,
           run.ctr_run_words, names="made"),
    OpKind("ctr_rm", ("ns", "container", "id", "label"), run.apply_ctr_rm, model.ctr_rm, run.ctr_rm_lines,
           run.ctr_rm_words, removes=True, deletion=True, names="removed"),
    # `--network lab` (Podman): a container in a namespace of the lab's, which it neither names nor removes
    OpKind("ctr_run_lab", ("ns", "container", "image"), run.apply_ctr_run_lab, model.in_lab_ns, run.ctr_run_lines,
           run.ctr_run_words),
    OpKind("ctr_rm_lab", ("ns", "container", "id", "label"), run.apply_ctr_rm, model.outside_model, run.ctr_rm_lines,
           run.ctr_rm_words, removes=True, deletion=True),
    # programs in the background (nslab/ops/background.py)
    OpKind("prog_start", ("ns", "id", "argv", "log"), bg.apply_prog_start, model.prog_start, bg.prog_start_lines,
           bg.prog_start_words),
    OpKind("prog_stop", ("id", "pid", "start"), bg.apply_prog_stop, model.prog_stop, bg.prog_stop_lines,
           bg.prog_stop_words, removes=True, deletion=True),
    OpKind("in_ctr", ("pid", "inner"), ctr.apply_in_ctr, model.unknown_inside, _in_ctr_lines, _in_ctr_words),
    OpKind("ctr_veth", ("ns", "name", "peer"), ctr.apply_ctr_veth, model.ctr_veth, ctr.ctr_veth_lines,
           ctr.ctr_veth_words, creates=True),
    OpKind("ovs_br_add", ("name",), ctr.apply_ovs_br_add, model.ovs_br_add, ctr.ovs_br_add_lines,
           _const("+ ovs bridge {name}")),
    OpKind("ovs_br_del", ("name",), ctr.apply_ovs_br_del, model.ovs_br_del,
           lambda op: [lines.command("ovs-vsctl", "del-br", op["name"])], _const("- ovs bridge {name}")),
    OpKind("ovs_port_add", ("bridge", "name"), ctr.apply_ovs_port_add, model.unknown_inside, ctr.ovs_port_add_lines,
           ctr.ovs_port_words),
    OpKind("ovs_port_del", ("bridge", "name"), ctr.apply_ovs_port_del, model.unknown_inside,
           lambda op: [lines.command("ovs-vsctl", "del-port", op["bridge"], op["name"])], ctr.ovs_port_words),
]
KINDS: dict[str, OpKind] = {k.name: k for k in _ALL}


def kind(op: Op) -> OpKind:
    found = KINDS.get(op.get("op", ""))
    if found is None:
        raise CommandError(f"unknown operation {op.get('op')!r}")
    return found


def flagged(flag: str) -> frozenset[str]:
    """The kinds with a flag set, e.g. flagged("removes")."""
    return frozenset(k.name for k in _ALL if getattr(k, flag))


def describe(op: Op) -> str:
    """What an op did, in words, for `history` and the step's list of changes."""
    found = KINDS.get(op.get("op", ""))
    return found.words(op) if found else str(op.get("op"))


def ip_lines(op: Op) -> list[str]:
    """The iproute2 commands that do what `op` does, every word quoted for bash."""
    found = KINDS.get(op.get("op", ""))
    return found.lines(op) if found else [f"# {lines.comment_text(str(op.get('op')))}"]

