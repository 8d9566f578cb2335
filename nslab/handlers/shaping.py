"""Handlers that shape or fault a link: `link EP rate`, `delay`, `clear` (each with `--both`: a
qdisc shapes only what leaves its interface, so a veth's two directions are two qdiscs) and
`link EP flap` / `flap stop`.  The ops are nslab/ops/shaping.py's; the step is atomic, so with
`--both` a refusal at the second end takes the first back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError
from ..base.lazy import Lazy
from ..base.results import Message
from ..engine.context import Ctx
from ..lang.kinds import Endpoint
from ..lang.units import show_size
from ..ops.op_text import ep as show_ep
from .build import found

if TYPE_CHECKING:
    from ..ops import shaping_spec
else:  # imported when a shaping command first runs (its qdisc words and tc's units)
    shaping_spec = Lazy("nslab.ops.shaping_spec")

ETH_HEADER = 14
DEFAULT_LATENCY = 50_000  # us: how long a packet may wait in the tbf, as Mininet's TCLink and tc examples use


def _ends(ctx: Ctx, e: Endpoint, both: bool) -> list[tuple[str, Any]]:
    """The interface (and with --both its veth peer), each checked for the lab to change."""
    ns, link = found(ctx, e)
    ends = [(ns, link)]
    if both:
        # the veth's other end, found by its link-netnsid (a single lookup does not follow it)
        link = next((x for x in ctx.view.lab_links([ns])[ns] if x.name == link.name), link)
        ends = [(ns, link)]
        if link.peer is None:
            raise CommandError(f"--both: {show_ep(ns, link.name)} has no other end (only a veth has two)")
        pns, pname = link.peer
        peer = ctx.view.link(pns, pname, with_addrs=False)
        if peer is None:
            raise CommandError(f"--both: no interface {show_ep(pns, pname)}")
        ends.append((pns, peer))
    for where, link in ends:
        ctx.guard.interface(where, link.name, "change")
    return ends


def _names(ends: list[tuple[str, Any]]) -> str:
    return " and ".join(show_ep(ns, link.name) for ns, link in ends)


def _replacing(ctx: Ctx, ns: str, name: str, kind: str) -> list[Message]:
    now = ctx.view.shaping(ns).get(name)
    if now is None or now["kind"] == kind:
        return []
    why = " (a netem delay stacked before a rate limit collapses throughput, Mininet #1129)" if "netem" in (
        kind, now["kind"]) else ""
    return [Message(f"{show_ep(ns, name)} carried {shaping_spec.describe(now)}: an interface carries one root qdisc here, "
                    f"so {kind} replaces it{why}", "warn")]


def link_rate(ctx: Ctx, ep: Endpoint, rate: int, burst: int | None = None, latency: int | None = None,
              both: bool = False) -> list[Message]:
    out: list[Message] = []
    ends = _ends(ctx, ep, both)
    shaped: dict[str, Any] = {}
    for ns, link in ends:
        frame = link.mtu + ETH_HEADER
        size = burst if burst is not None else max(rate // 800, 2 * frame)  # 10 ms of the rate, two frames at least
        if size < frame:
            out.append(Message(f"burst {show_size(size)} is below one full frame on {show_ep(ns, link.name)} "
                               f"(MTU {link.mtu} + {ETH_HEADER}): tbf drops every packet larger than its burst",
                               "warn"))
        out += _replacing(ctx, ns, link.name, "tbf")
        shaped = {"kind": "tbf", "rate": rate, "burst": size, "latency": DEFAULT_LATENCY if latency is None else latency}
        ctx.apply({"op": "tc_rate", "ns": ns, "name": link.name, **{k: v for k, v in shaped.items() if k != "kind"}})
    return [*out, Message(f"{_names(ends)}: {shaping_spec.describe(shaped)}", "ok")]


def link_delay(ctx: Ctx, ep: Endpoint, delay: int, jitter: int | None = None, loss: float | None = None,
               duplicate: float | None = None, corrupt: float | None = None, reorder: float | None = None,
               both: bool = False) -> list[Message]:
    out: list[Message] = []
    ends = _ends(ctx, ep, both)
    for ns, link in ends:
        out += _replacing(ctx, ns, link.name, "netem")
        ctx.apply({"op": "tc_delay", "ns": ns, "name": link.name, "delay": delay, "jitter": jitter, "loss": loss,
                   "duplicate": duplicate, "corrupt": corrupt, "reorder": reorder})
    shown = shaping_spec.describe({"kind": "netem", "delay": delay, "jitter": jitter, "loss": loss, "duplicate": duplicate,
                      "corrupt": corrupt, "reorder": reorder})
    return [*out, Message(f"{_names(ends)}: {shown}", "ok")]


def link_clear(ctx: Ctx, ep: Endpoint, both: bool = False) -> Message:
    ends = _ends(ctx, ep, both)
    cleared = []
    for ns, link in ends:
        if link.name in ctx.view.shaping(ns):
            ctx.apply({"op": "tc_clear", "ns": ns, "name": link.name})
            cleared.append((ns, link))
    if not cleared:
        return Message(f"{_names(ends)} carried no shaping: nothing to clear", "warn")
    return Message(f"{_names(cleared)}: shaping cleared", "ok")


def link_flap(ctx: Ctx, ep: Endpoint, count: int | None = None, down: float | None = None,
              up: float | None = None) -> Message:
    ns, link = found(ctx, ep)
    ctx.guard.interface(ns, link.name, "change")
    op: dict[str, Any] = {"op": "link_flap", "ns": ns, "name": link.name, "down_s": down or 1.0, "up_s": up or 1.0}
    if count is not None:
        op["count"] = count
    ctx.apply(op)
    times = "until `flap stop`" if count is None else f"{count} times"
    return Message(f"{show_ep(ns, link.name)} flaps {times} in the background "
                   f"(down {op['down_s']:g}s, up {op['up_s']:g}s); `link ls` shows it", "ok")


def link_flap_stop(ctx: Ctx, ep: Endpoint) -> Message:
    ns, link = found(ctx, ep)
    ctx.guard.interface(ns, link.name, "change")
    ctx.apply({"op": "flap_stop", "ns": ns, "name": link.name})
    return Message(f"{show_ep(ns, link.name)} stopped flapping and is as it was before", "ok")
