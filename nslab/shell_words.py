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

from .netns import HOST

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


def ip_lines(op: Op) -> list[str]:
    """The iproute2 commands that do what `op` does, every word quoted for bash.  Interfaces are
    named after `dev`/`name`, so a name like `-x` or `help` is never read as an option or keyword."""
    k, ns = op["op"], op.get("ns", HOST)
    ip = ip_words(ns)

    def netns(target: str) -> str:
        return SCRIPT_NS if target == HOST else target

    if k == "ns_add":
        return [command("ip", "netns", "add", ns)]
    if k == "ns_del":
        return [command("ip", "netns", "del", ns)]
    if k == "veth":
        pns = op["peer_ns"]
        words = [*ip, "link", "add", "name", op["name"]]
        if op.get("mac"):
            words += ["address", op["mac"]]
        words += ["type", "veth", "peer", "name", op["peer"]]
        if pns != ns:
            words += ["netns", netns(pns)]
        if op.get("peer_mac"):
            words += ["address", op["peer_mac"]]
        return [command(*words)]
    if k == "bridge":
        return [command(*ip, "link", "add", "name", op["name"], "type", "bridge"),
                command(*ip, "link", "set", "dev", op["name"], "up")]
    if k == "link_set":
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
            lines.append(command(*dev, "netns", netns(op["netns"])))
        if "up" in op:
            lines.append(command(*ip, "link", "set", "dev", op.get("rename", name), "up" if op["up"] else "down"))
        return lines
    if k == "link_del":
        return [command(*ip, "link", "del", "dev", op["name"])]
    if k == "addr_add":
        iface = ipaddress.ip_interface(op["cidr"])
        # Kernel._addr_add sets the broadcast address; `brd +` makes ip do the same
        brd = ["brd", "+"] if iface.version == 4 and iface.network.prefixlen < 31 else []
        return [command(*ip, "addr", "add", op["cidr"], *brd, "dev", op["name"])]
    if k == "addr_del":
        return [command(*ip, "addr", "del", op["cidr"], "dev", op["name"])]
    if k in ("route_add", "route_del"):
        words = [*ip, "route", "add" if k == "route_add" else "del", op["dst"]]
        if op.get("gw"):
            words += ["via", op["gw"]]
        if op.get("dev"):
            words += ["dev", op["dev"]]
        return [command(*words)]
    if k == "sysctl":
        pre = [] if ns == HOST else ["ip", "netns", "exec", ns]
        return [command(*pre, "sysctl", "-qw", f"{op['key']}={op['value']}")]
    from . import container_ops

    if k in container_ops.IP_LINES:
        return container_ops.IP_LINES[k](op)
    return [f"# {comment_text(k)}"]
