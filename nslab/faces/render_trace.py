"""`trace`'s result as text (a tree of packets, each with its path) or JSON."""

from __future__ import annotations

import json
from typing import Any

from ..base.results import TraceResult


def trace_lines(e: TraceResult) -> list[tuple[str, str]]:
    """(line, style) pairs: the probe, each packet with its hops, the verdict."""
    via = f" out of {e.iface}" if e.iface else ""
    out = [(f"trace {e.target} ({e.addr}) from {e.source}{via}, source {e.src_ip}; "
            f"{len(e.watched)} interfaces watched", "bold")]
    out += [(f"│  not watched: {line}", "yellow") for line in e.unwatched]
    for leg in e.legs:
        times = f" (sent {leg.sent} times)" if leg.sent > 1 else ""
        out.append((f"├─ {leg.what}{times}", "cyan"))
        out.append((f"│    {' → '.join(leg.hops)}", ""))
    mark = "└─ ✓ reached: " if e.reached else "└─ ✗ stopped: "
    out.append((mark + e.why, "green" if e.reached else "bold red"))
    return out


def render(renderer: Any, e: TraceResult) -> None:
    if e.as_json or renderer.json_mode:
        renderer.file.write(json.dumps({"trace": e.as_dict()}, indent=2) + "\n")
        return
    if renderer.quiet:
        return
    for text, style in trace_lines(e):
        renderer.plain(text, style)
