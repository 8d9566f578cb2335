"""The bash that `export sh` writes: each op's iproute2 lines, their words, and comments.

Names in a lab may hold anything the kernel accepts in a name (`$(id)`, `a;b`, a
backquote, a leading `-`), so every word of a script line is quoted, and the few
words bash must expand (`$$`, a container's PID found through docker) are marked
as such by their type, never recognised by their text: an interface really named
`$$` is quoted like any other.
"""

from __future__ import annotations

import ipaddress
import shlex
from typing import Any

from ..kernel.netns import HOST

Op = dict[str, Any]


class Expand(str):
    """A word bash must expand when the script runs: written as it is, never quoted."""


# The script's own network namespace (moves back to the host, a veth's far end there).
SCRIPT_NS = Expand("$$")


def command(*words: object) -> str:
    """One shell command line: each word quoted (a plain name stays as it is) except `Expand` words."""
    return " ".join(w if isinstance(w, Expand) else quote(str(w)) for w in words)


def quote(word: str) -> str:
    """shlex.quote, except that a word with control characters (an ESC in an `exec` argument) is
    written in bash's $'...' with them escaped, so the script stays plain text on a terminal."""
    if word.isprintable():
        return shlex.quote(word)
    out = []
    for c in word:
        if c in "\\'":
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        else:
            out += [f"\\x{b:02x}" for b in c.encode()]
    return "$'" + "".join(out) + "'"


def comment_text(text: str) -> str:
    """Text made fit for one `#` comment line: control characters, line breaks included, escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def ip_words(ns: str) -> list[str]:
    """`ip`, or `ip -n NS` inside a namespace."""
    return ["ip"] if ns == HOST else ["ip", "-n", ns]


def netns_word(target: str) -> str:
    """A namespace as `ip link set ... netns` takes it: the script's own for the lab's host."""
    return SCRIPT_NS if target == HOST else target


# The iproute2 lines of each op kind (the op registry, nslab/ops/opkinds.py, names which), every word
# quoted for bash.  Interfaces are named after `dev`/`name`, so a name like `-x` or `help` is
# never read as an option or keyword.
def ns_add(op: Op) -> list[str]:
    return [command("ip", "netns", "add", op["ns"])]


def ns_del(op: Op) -> list[str]:
    return [command("ip", "netns", "del", op["ns"])]


def veth(op: Op) -> list[str]:
    ns, pns = op.get("ns", HOST), op["peer_ns"]
    words = [*ip_words(ns), "link", "add", "name", op["name"]]
    if op.get("mac"):
        words += ["address", op["mac"]]
    words += ["type", "veth", "peer", "name", op["peer"]]
    if pns != ns:
        words += ["netns", netns_word(pns)]
    if op.get("peer_mac"):
        words += ["address", op["peer_mac"]]
    return [command(*words)]


def bridge(op: Op) -> list[str]:
    ip = ip_words(op.get("ns", HOST))
    return [command(*ip, "link", "add", "name", op["name"], "type", "bridge"),
            command(*ip, "link", "set", "dev", op["name"], "up")]


def link_set(op: Op) -> list[str]:
    ip = ip_words(op.get("ns", HOST))
    name, lines = op["name"], []
    dev = [*ip, "link", "set", "dev", name]
    if "master" in op:
        lines.append(command(*dev, *(["master", op["master"]] if op["master"] else ["nomaster"])))
    if "mtu" in op:
        lines.append(command(*dev, "mtu", op["mtu"]))
    if "mac" in op:
        lines.append(command(*dev, "address", op["mac"]))
    if "rename" in op:
        lines.append(command(*dev, "name", op["rename"]))
    if "netns" in op:
        lines.append(command(*dev, "netns", netns_word(op["netns"])))
    if "up" in op:
        lines.append(command(*ip, "link", "set", "dev", op.get("rename", name), "up" if op["up"] else "down"))
    return lines


def link_del(op: Op) -> list[str]:
    return [command(*ip_words(op.get("ns", HOST)), "link", "del", "dev", op["name"])]


def addr_add(op: Op) -> list[str]:
    iface = ipaddress.ip_interface(op["cidr"])
    # Kernel._addr_add sets the broadcast address; `brd +` makes ip do the same
    brd = ["brd", "+"] if iface.version == 4 and iface.network.prefixlen < 31 else []
    return [command(*ip_words(op.get("ns", HOST)), "addr", "add", op["cidr"], *brd, "dev", op["name"])]


def addr_del(op: Op) -> list[str]:
    return [command(*ip_words(op.get("ns", HOST)), "addr", "del", op["cidr"], "dev", op["name"])]


def _route(op: Op, verb: str) -> list[str]:
    words = [*ip_words(op.get("ns", HOST)), "route", verb, op["dst"]]
    if op.get("gw"):
        words += ["via", op["gw"]]
    if op.get("dev"):
        words += ["dev", op["dev"]]
    return [command(*words)]


def route_add(op: Op) -> list[str]:
    return _route(op, "add")


def route_del(op: Op) -> list[str]:
    return _route(op, "del")


def sysctl(op: Op) -> list[str]:
    ns = op.get("ns", HOST)
    pre = [] if ns == HOST else ["ip", "netns", "exec", ns]
    return [command(*pre, "sysctl", "-qw", f"{op['key']}={op['value']}")]
