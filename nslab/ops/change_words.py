"""What a step changed, in words: a lab-state diff (nslab/kernel/labstate.py `diff`) becomes
sentences (`eth0 is up`, `ns1:eth0 has 10.0.0.1/24`), and what the step's ops did not name
(the kernel's side effects: a route that went with its address, a veth's other end) is
marked `(by the kernel)`.  Undo's words (`removed veth0 and veth1`) are here too, from the
inverse ops it ran.  The one place these sentences are written."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..kernel.inventory import Link, Route, same_dest
from ..kernel.labstate import Delta
from ..kernel.netns import HOST
from .op_text import ep
from .opkinds import describe

Op = dict[str, Any]
BY_KERNEL = " (by the kernel)"
BY_PROGRAM = " (by the program)"
MODELLED = frozenset({"ns_add", "ns_del", "veth", "bridge", "link_set", "link_del", "addr_add", "addr_del",
                      "route_add", "route_del"})  # the rest (sysctls, containers, OVS) are said as their ops


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_interface(text))
    except ValueError:
        return text


def _route(r: Route) -> str:
    dest = "the default route" if r.dst == "default" else f"the route to {r.dst}"
    return dest + (f" via {r.gw}" if r.gw else f" dev {r.dev}" if r.dev else "")


def _route_new(r: Route) -> str:
    dest = "the default route" if r.dst == "default" else f"the route to {r.dst}"
    if r.gw:
        return f"{dest} goes via {r.gw}" + (f" (dev {r.dev})" if r.dev else "")
    return f"{dest} goes out of {r.dev}"


def _in(ns: str, text: str) -> str:
    return text if ns == HOST else f"in {ns}, {text}"


def _named(d: Delta, ops: list[Op]) -> bool:
    """Whether one of the step's ops names what changed (else the kernel did it on its own)."""
    for op in ops:
        kind, ns = op.get("op"), op.get("ns", HOST)
        if d.what == "ns" and kind in ("ns_add", "ns_del") and ns == d.ns:
            return True
        if d.what == "link" and _names_link(op, d):
            return True
        if (d.what == "addr" and kind in ("addr_add", "addr_del") and (ns, op.get("name")) == (d.ns, d.name)
                and _cidr(op.get("cidr", "")) == d.value):
            return True
        if (d.what == "route" and kind in ("route_add", "route_del") and ns == d.ns and isinstance(d.value, Route)
                and same_dest(d.value, op["dst"], op.get("gw"))):
            return True
    return False


def _names_link(op: Op, d: Delta) -> bool:
    kind, ns, name = op.get("op"), op.get("ns", HOST), op.get("name")
    ends = {(ns, name)} | ({(op["peer_ns"], op["peer"])} if kind == "veth" else set())
    if kind == "link_set":
        ends |= {(op["netns"], name)} if "netns" in op else set()
        ends |= {(ns, op["rename"])} if "rename" in op else set()
    if (d.ns, d.name) not in ends:
        return False
    if d.change in ("+", "-"):
        return kind in ("veth", "bridge", "link_del", "link_set")
    if kind in ("veth", "bridge"):
        return True
    return kind == "link_set" and d.change in op


def sentences(deltas: list[Delta], ops: list[Op], side: str = BY_KERNEL) -> list[str]:
    """The deltas in words, the step's own first, each side effect marked with SIDE."""
    moved = _moves(deltas, ops)
    seconds = {(op["peer_ns"], op["peer"]) for op in ops if op.get("op") == "veth"}  # said as the line says them
    own: list[str] = []
    theirs: list[str] = []
    paired: set[tuple[str, str]] = set()
    for d in deltas:
        if (d.ns, d.name) in paired and d.what == "link":
            continue
        text = _sentence(d, deltas, moved, paired, seconds)
        if text is None:
            continue
        if _named(d, ops):
            own.append(text)
        else:
            theirs.append((_gone_along(d) if side == BY_KERNEL else None) or text)
    return own + [t + side for t in theirs]


def _moves(deltas: list[Delta], ops: list[Op]) -> dict[tuple[str, str], tuple[str, str]]:
    """(ns, name) a link left -> (ns, name) it arrived as: a move to a namespace, or a rename."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for op in ops:
        if op.get("op") != "link_set":
            continue
        if "netns" in op:
            out[(op.get("ns", HOST), op["name"])] = (op["netns"], op["name"])
        elif "rename" in op:
            out[(op.get("ns", HOST), op["name"])] = (op.get("ns", HOST), op["rename"])
    return out


def _sentence(d: Delta, deltas: list[Delta], moved: dict[tuple[str, str], tuple[str, str]],
              paired: set[tuple[str, str]], seconds: set[tuple[str, str]]) -> str | None:
    if d.what == "ns":
        return f"{d.ns} is a new namespace" if d.change == "+" else f"namespace {d.ns} is gone{_contents(d.value)}"
    if d.what == "addr":
        return f"{ep(d.ns, d.name)} {'has' if d.change == '+' else 'no longer has'} {d.value}"
    if d.what == "route":
        assert isinstance(d.value, Route)
        if d.change == "-":
            return _in(d.ns, f"{_route(d.value)} is gone")
        return _in(d.ns, _route_new(d.value))
    here = ep(d.ns, d.name)
    if d.change == "-":
        to = moved.get((d.ns, d.name))
        if to is not None and any(x.what == "link" and x.change == "+" and (x.ns, x.name) == to for x in deltas):
            paired.add(to)
            return _moved(d, to, deltas)
        return f"{here} is gone"
    if d.change == "+":
        if (d.ns, d.name) in moved.values():
            return None  # said with the link it was
        link = d.value
        assert isinstance(link, Link)
        if link.kind == "veth" and link.peer and any(x.what == "link" and x.change == "+" and (x.ns, x.name) == link.peer
                                                     for x in deltas):
            paired.add(link.peer)
            first, second = (ep(*link.peer), here) if (d.ns, d.name) in seconds else (here, ep(*link.peer))
            return f"{first} and {second} are a new veth pair" + _state(link)
        return f"{here} is a new {link.kind}" + _state(link)
    if d.change == "up":
        return f"{here} is {'up' if d.value else 'down'}"
    if d.change == "master":
        return f"{here} is on {d.value}" if d.value else f"{here} left {d.old or 'its bridge'}"
    what = "MTU" if d.change == "mtu" else "MAC"
    return f"{here}'s {what} is {d.value}"


def _state(link: Link) -> str:
    bits = (["up"] if link.up else []) + ([f"on {link.master}"] if link.master else [])
    return (", " + ", ".join(bits)) if bits else ""


def _contents(ns: Any) -> str:
    names = [name for name, link in getattr(ns, "links", {}).items() if link.kind != "loopback"]
    return f", with {_and(names)}" if names else ""


def _moved(d: Delta, to: tuple[str, str], deltas: list[Delta]) -> str:
    old = d.value
    assert isinstance(old, Link)
    text = (f"{ep(d.ns, d.name)} is in {to[0]} now: {ep(*to)}" if to[0] != d.ns
            else f"{ep(d.ns, d.name)} is now called {to[1]}")
    if to[0] != d.ns and (old.up or old.addrs):  # the kernel resets a moved link
        lost = (["down"] if old.up else []) + ([f"without {_and(old.addrs)}"] if old.addrs else [])
        text += f"; it arrived {' and '.join(lost)}{BY_KERNEL}"
    return text


def _gone_along(d: Delta) -> str | None:
    """A side effect that took something away: it went with what the step removed."""
    if d.change != "-" or d.what not in ("link", "route"):
        return None
    what = ep(d.ns, d.name) if d.what == "link" else _in(d.ns, _route(d.value)) if isinstance(d.value, Route) else ""
    return f"{what} went with it"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def of_ops(ops: list[Op]) -> list[str]:
    """What the ops themselves say they did, in the same words, without reading the lab (no
    side effects: a library caller that did not ask for the state to be read)."""
    deltas: list[Delta] = []
    for op in ops:
        if op.get("op") in MODELLED:
            deltas += _op_deltas(op)
    modelled = [op for op in ops if op.get("op") in MODELLED]
    return sentences(deltas, modelled) + [_unmodelled(op) for op in ops if op.get("op") not in MODELLED]


def _unmodelled(op: Op) -> str:
    if op.get("op") == "sysctl":
        return _in(op.get("ns", HOST), f"{op['key']} is {op['value']}")
    return describe(op)  # containers, OVS: their own words


def _bare(ns: str, name: str, kind: str = "", up: bool = False, peer: tuple[str, str] | None = None) -> Link:
    return Link(ns, 0, name, kind, up, "", "", 0, peer=peer)


def _op_deltas(op: Op) -> list[Delta]:
    kind, ns = op["op"], op.get("ns", HOST)
    if kind in ("ns_add", "ns_del"):
        return [Delta("ns", ns, "+" if kind == "ns_add" else "-", ns)]
    if kind == "veth":
        a = _bare(ns, op["name"], "veth", bool(op.get("up")), (op["peer_ns"], op["peer"]))
        a.master = op.get("master")
        b = _bare(op["peer_ns"], op["peer"], "veth", peer=(ns, op["name"]))
        return [Delta("link", ns, "+", a.name, a), Delta("link", b.ns, "+", b.name, b)]
    if kind == "bridge":
        return [Delta("link", ns, "+", op["name"], _bare(ns, op["name"], "bridge", bool(op.get("up", True))))]
    if kind == "link_del":
        return [Delta("link", ns, "-", op["name"], _bare(ns, op["name"]))]
    if kind in ("addr_add", "addr_del"):
        return [Delta("addr", ns, "+" if kind == "addr_add" else "-", op["name"], _cidr(op["cidr"]))]
    if kind in ("route_add", "route_del"):
        dst = "default" if op["dst"] in ("default", "0.0.0.0/0", "::/0") else op["dst"]
        family = 10 if ":" in op["dst"] or ":" in (op.get("gw") or "") else 2
        r = Route(ns, dst, op.get("gw"), op.get("dev"), 3, family)
        return [Delta("route", ns, "+" if kind == "route_add" else "-", dst, r)]
    out = []  # link_set
    if "netns" in op or "rename" in op:
        to = (op["netns"], op["name"]) if "netns" in op else (ns, op["rename"])
        out += [Delta("link", ns, "-", op["name"], _bare(ns, op["name"])),
                Delta("link", to[0], "+", to[1], _bare(*to))]
    out += [Delta("link", ns, key, op["name"], op[key]) for key in ("up", "master", "mtu", "mac") if key in op]
    return out


# -- undo ----------------------------------------------------------------------------
def undid(inverse: list[Op], limit: int = 6) -> str:
    """What undoing a step did, from the inverse ops it ran: `removed veth0 and veth1`."""
    phrases: list[tuple[str, str]] = []
    for op in inverse:
        phrase = _undo_phrase(op)
        if phrase is None:
            continue
        if phrases and phrases[-1][0] == phrase[0] and phrase[0]:
            phrases[-1] = (phrase[0], phrases[-1][1] + "\0" + phrase[1])
        else:
            phrases.append(phrase)
    words = [(verb + " " if verb else "") + _and(obj.split("\0")) for verb, obj in phrases]
    if len(words) > limit:
        words = [*words[:limit], f"{len(words) - limit} more"]
    return ", ".join(words)


def _undo_phrase(op: Op) -> tuple[str, str] | None:
    kind, ns = op.get("op"), op.get("ns", HOST)
    here = ep(ns, op["name"]) if "name" in op else ns
    if kind == "ns_add":
        return "put back namespace", ns
    if kind == "ns_del":
        return "removed namespace", ns
    if kind == "link_del":
        return "removed", (f"{here}\0{ep(op['peer_ns'], op['peer'])}" if op.get("peer") else here)
    if kind == "veth":
        return "put back", f"{here}\0{ep(op['peer_ns'], op['peer'])}"
    if kind == "bridge":
        return "put back bridge", here
    if kind == "addr_add":
        return "", f"put {op['cidr']} back on {here}"
    if kind == "addr_del":
        return "", f"took {op['cidr']} off {here}"
    if kind in ("route_add", "route_del"):
        dest = "the default route" if op["dst"] in ("default", "0.0.0.0/0", "::/0") else f"the route to {op['dst']}"
        return ("put back" if kind == "route_add" else "removed"), _in(ns, dest)
    if kind == "sysctl":
        return "", _in(ns, f"set {op['key']} back to {op['value']}")
    if kind == "link_set":
        said = _link_set_phrases(op, here)
        return ("", "; ".join(said)) if said else None
    return "", describe(op)  # containers, OVS: their own words


def _link_set_phrases(op: Op, here: str) -> list[str]:
    out = []
    if "rename" in op:
        out.append(f"renamed {here} back to {op['rename']}")
    if "netns" in op:
        out.append(f"moved {here} back to {op['netns']}")
    if "master" in op:
        out.append(f"put {here} back on {op['master']}" if op["master"] else f"took {here} off its bridge")
    if "mtu" in op:
        out.append(f"set {here}'s MTU back to {op['mtu']}")
    if "mac" in op:
        out.append(f"set {here}'s MAC back to {op['mac']}")
    if "up" in op:
        out.append(f"brought {here} up" if op["up"] else f"took {here} down")
    return out
