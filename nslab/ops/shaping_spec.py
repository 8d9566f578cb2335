"""Shaping and flap ops on paper: their effect on the lab model (what `--dry-run` applies, with the
refusals the kernel would give), their `tc`/iproute2 lines for `export sh`, and their words.
The kernel side is nslab/ops/shaping.py; the op registry (nslab/ops/opkinds.py) joins them.

The model keeps, per namespace, what each interface carries (`NsState.shaping`: the same
description `link ls` reads from the kernel) and which links flap; the model contract test
(tests/test_model_contract.py) does not compare qdiscs, tests/test_shaping_model.py does.
"""

from __future__ import annotations

from typing import Any

from ..base.errors import CommandError
from ..kernel import tc
from ..kernel.labstate import LabState
from ..kernel.netns import HOST
from ..lang.units import show_percent, show_rate, show_size, show_time
from . import model
from .op_text import ep
from .shell_words import command, comment_text

Op = dict[str, Any]
IMPAIRMENTS = ("jitter", "loss", "duplicate", "corrupt", "reorder")


def carried(kind: str, options: bytes) -> dict[str, Any]:
    """What a root qdisc does, as `link ls` shows it: its kind and, for a tbf, its figures."""
    params = tc.tbf_params(options) if kind == "tbf" else None
    return {"kind": kind, **(params or {})}


def describe(q: dict[str, Any]) -> str:
    """`tbf rate 10mbit burst 12500b latency 50ms`, `netem delay 10ms loss 1%`, or the kind."""
    if q["kind"] == "tbf" and "rate" in q:
        return f"tbf rate {show_rate(q['rate'])} burst {show_size(q['burst'])} latency {show_time(q['latency'])}"
    if q["kind"] == "netem" and "delay" in q:
        return " ".join(["netem", *_netem_words(q)])
    return q["kind"]


def _netem_words(op: Op) -> list[str]:
    words = ["delay", show_time(op["delay"])]
    if op.get("jitter") is not None:
        words.append(show_time(op["jitter"]))  # tc netem reads `delay TIME JITTER`
    for key in IMPAIRMENTS[1:]:
        if op.get(key) is not None:
            words += [key, show_percent(op[key])]
    return words


# -- the model ----------------------------------------------------------------
def _where(state: LabState, op: Op) -> Any:
    model.link_of(state, op["ns"], op["name"])
    return state.nss[op["ns"]]


def rate(state: LabState, op: Op) -> None:
    _where(state, op).shaping[op["name"]] = {"kind": "tbf", "rate": op["rate"], "burst": op["burst"],
                                             "latency": op["latency"]}


def delay(state: LabState, op: Op) -> None:
    model.ns_of(state, op["ns"])
    if tc.configured("netem") is False:  # the real run asks the kernel; the dry run reads its configuration
        raise CommandError(tc.NO_NETEM)
    _where(state, op).shaping[op["name"]] = {"kind": "netem", **{k: op.get(k) for k in ("delay", *IMPAIRMENTS)}}


def clear(state: LabState, op: Op) -> None:
    _where(state, op).shaping.pop(op["name"], None)


def restore(state: LabState, op: Op) -> None:
    _where(state, op).shaping[op["name"]] = carried(op["kind"], bytes.fromhex(op["options"]))


def flap(state: LabState, op: Op) -> None:
    where = _where(state, op)
    if op["name"] in where.flaps:
        raise CommandError(f"{ep(op['ns'], op['name'])} is flapping already (link {ep(op['ns'], op['name'])} flap stop)")
    where.flaps.add(op["name"])


def flap_stop(state: LabState, op: Op) -> None:
    where = _where(state, op)
    if op["name"] not in where.flaps and "up" not in op:
        raise CommandError(f"{ep(op['ns'], op['name'])} is not flapping")
    where.flaps.discard(op["name"])
    if "up" in op:
        model.link_set(state, {"ns": op["ns"], "name": op["name"], "up": op["up"]})


# -- lines and words ----------------------------------------------------------
def _tc(op: Op, *words: object) -> str:
    ns = op.get("ns", HOST)
    return command(*(["tc"] if ns == HOST else ["tc", "-n", ns]), *words)


def _root(op: Op, handle: int = tc.HANDLE) -> list[object]:
    return ["qdisc", "replace", "dev", op["name"], "root", "handle", f"{handle >> 16:x}:"]


def rate_lines(op: Op) -> list[str]:
    return [_tc(op, *_root(op), "tbf", "rate", show_rate(op["rate"]), "burst", show_size(op["burst"]),
                "latency", show_time(op["latency"]))]


def delay_lines(op: Op) -> list[str]:
    return [_tc(op, *_root(op), "netem", *_netem_words(op))]


def clear_lines(op: Op) -> list[str]:
    return [_tc(op, "qdisc", "del", "dev", op["name"], "root")]


def restore_lines(op: Op) -> list[str]:
    q = carried(op["kind"], bytes.fromhex(op["options"]))
    if q["kind"] == "tbf" and "rate" in q:
        return rate_lines({**op, **q})
    text = f"put {op['kind']} back on {_on(op)} (its options as the kernel dumped them)"
    return [f"# {comment_text(text)}"]


def flap_lines(op: Op) -> list[str]:
    return [f"# {comment_text(f'{flap_words(op)}: not exported (a script builds the lab, not its faults)')}"]


def flap_stop_lines(op: Op) -> list[str]:
    if "up" not in op:
        return [f"# {comment_text(flap_stop_words(op))}"]
    ip = ["ip"] if op.get("ns", HOST) == HOST else ["ip", "-n", op["ns"]]
    return [command(*ip, "link", "set", "dev", op["name"], "up" if op["up"] else "down")]


def _on(op: Op) -> str:
    return ep(op.get("ns", HOST), op["name"])


def rate_words(op: Op) -> str:
    return f"~ {describe({'kind': 'tbf', **op})} on {_on(op)}"


def delay_words(op: Op) -> str:
    return f"~ netem {' '.join(_netem_words(op))} on {_on(op)}"


def clear_words(op: Op) -> str:
    return f"~ no shaping on {_on(op)}"


def restore_words(op: Op) -> str:
    return f"~ {describe(carried(op['kind'], bytes.fromhex(op['options'])))} back on {_on(op)}"


def flap_words(op: Op) -> str:
    times = "until stopped" if op.get("count") is None else f"{op['count']} times"
    return f"~ {_on(op)} flaps {times} (down {op.get('down_s', 1.0):g}s, up {op.get('up_s', 1.0):g}s)"


def flap_stop_words(op: Op) -> str:
    state = "" if "up" not in op else f", left {'up' if op['up'] else 'down'}"
    return f"~ {_on(op)} stops flapping{state}"
