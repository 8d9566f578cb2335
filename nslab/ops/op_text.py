"""Ops in words, for `history` and a step's list of changes: one function per op kind
(the op registry, nslab/ops/opkinds.py, names which)."""

from __future__ import annotations

from typing import Any

from ..kernel.netns import HOST

Op = dict[str, Any]


def ep(ns: str, name: str) -> str:
    return name if ns == HOST else f"{ns}:{name}"


def _where(op: Op) -> str:
    return op.get("ns", HOST)


def ns_add(op: Op) -> str:
    return f"+ namespace {_where(op)}"


def ns_del(op: Op) -> str:
    return f"- namespace {_where(op)}"


def veth(op: Op) -> str:
    return f"+ veth {ep(_where(op), op['name'])} <-> {ep(op['peer_ns'], op['peer'])}"


def bridge(op: Op) -> str:
    return f"+ bridge {ep(_where(op), op['name'])}"


def link_del(op: Op) -> str:
    return f"- link {ep(_where(op), op['name'])}"


def link_set(op: Op) -> str:
    parts = [f"{key}={'' if v is None else v}" for key, v in op.items() if key not in ("op", "ns", "name", "keep_inet6")]
    return f"~ link {ep(_where(op), op['name'])} {' '.join(parts)}"


def addr_add(op: Op) -> str:
    return f"+ addr {op['cidr']} on {ep(_where(op), op['name'])}"


def addr_del(op: Op) -> str:
    return f"- addr {op['cidr']} on {ep(_where(op), op['name'])}"


def route_add(op: Op) -> str:
    return f"+ route {op['dst']} in {_where(op)}"


def route_del(op: Op) -> str:
    return f"- route {op['dst']} in {_where(op)}"


def sysctl(op: Op) -> str:
    return f"~ sysctl {op['key']}={op['value']} in {_where(op)}"
