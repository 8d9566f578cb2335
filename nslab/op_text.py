"""An op in words, for `history` and a step's list of changes."""

from __future__ import annotations

from typing import Any

from .netns import HOST

Op = dict[str, Any]


def ep(ns: str, name: str) -> str:
    return name if ns == HOST else f"{ns}:{name}"


def describe(op: Op) -> str:
    """What an op did, in words, for `history` and the step's list of changes."""
    k, ns = op["op"], op.get("ns", HOST)
    if k == "ns_add":
        return f"+ namespace {ns}"
    if k == "ns_del":
        return f"- namespace {ns}"
    if k == "veth":
        return f"+ veth {ep(ns, op['name'])} <-> {ep(op['peer_ns'], op['peer'])}"
    if k == "bridge":
        return f"+ bridge {ep(ns, op['name'])}"
    if k == "link_del":
        return f"- link {ep(ns, op['name'])}"
    if k == "link_set":
        parts = [f"{key}={'' if v is None else v}" for key, v in op.items() if key not in ("op", "ns", "name")]
        return f"~ link {ep(ns, op['name'])} {' '.join(parts)}"
    if k == "addr_add":
        return f"+ addr {op['cidr']} on {ep(ns, op['name'])}"
    if k == "addr_del":
        return f"- addr {op['cidr']} on {ep(ns, op['name'])}"
    if k == "route_add":
        return f"+ route {op['dst']} in {ns}"
    if k == "route_del":
        return f"- route {op['dst']} in {ns}"
    if k == "sysctl":
        return f"~ sysctl {op['key']}={op['value']} in {ns}"
    from . import container_ops

    if k in container_ops.DESCRIBE:
        return container_ops.DESCRIBE[k](op)
    return k
