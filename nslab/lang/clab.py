"""A containerlab topology (`FILE.clab.yml`) read as nslab lines, so `nslab run` and `source` replay
it through the same session path as a `.lab`: journaled, with undo, save and export.

Nodes of kind `linux` become namespaces (lo up, as a container has it), nodes of kind `bridge`
bridges in the lab's host, a `kind: host` node's lines run in the lab's host, each link a veth
whose ends come up (as containerlab brings them up), then each node's `exec` lines run there: an
`ip` line containerlab would run becomes the nslab line that does the same (undoable), `sysctl -w`
nslab's sysctl, anything else the program itself, argv-split, and through `sh -c` only when the
line needs a shell (said so in its narration).  The whole file is read and checked before a line
runs: another kind, or a link type nslab cannot make, is refused by name and nothing is made.

A linux node labelled `nslab.container: "true"` (containerlab's own node `labels:`, which
containerlab only puts on its container) becomes a Docker container started by `container run`
instead, from the node's `image` (nslab's default image when it has none) and `cmd`.
"""

from __future__ import annotations

import shlex
from typing import Any

from ..base.errors import Loc, ParseError
from .iproute2 import translate
from .kinds import check_ifname, check_image, check_ns
from .lexer import quote
from .parser import Needs

KINDS = ("linux", "bridge", "host")
UNQUOTED = set("|&;<>()$`*?[]{}~!#\n")  # what only a shell reads outside quotes
IN_DOUBLE = set("$`")  # and inside double quotes
SPECIAL = {"macvlan", "mgmt-net"}  # endpoint nodes containerlab makes itself
AS_CONTAINER = "nslab.container"  # the node label asking for a container rather than a namespace


class _Lines:
    """Lines collected with the YAML line they come from, and the problems found."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: list[tuple[str, int, list[str]]] = []
        self.errors: list[ParseError] = []
        self.needs: dict[str, None] = {}  # "docker" when a node is a container, "image" for the default one

    def add(self, text: str, line: int, narration: list[str] | None = None) -> None:
        self.lines.append((text, line, narration or []))

    def error(self, message: str, line: int) -> None:
        self.errors.append(ParseError(message, Loc(self.path, line, 1)))


def _lines_of(tree: Any) -> dict[tuple[str, ...], int]:
    """Each key path of the YAML document -> its 1-based line (a list item's index is its key)."""
    out: dict[tuple[str, ...], int] = {}

    def walk(node: Any, at: tuple[str, ...]) -> None:
        out[at] = node.start_mark.line + 1
        if node.id == "mapping":
            for key, value in node.value:
                out[(*at, str(key.value))] = key.start_mark.line + 1
                walk(value, (*at, str(key.value)))
        elif node.id == "sequence":
            for i, item in enumerate(node.value):
                walk(item, (*at, str(i)))
    if tree is not None:
        walk(tree, ())
    return out


Lines = list[tuple[str, Loc, list[str]]]


def parse_topology(text: str, path: str) -> tuple[Lines, str | None, list[ParseError], Needs]:
    """The nslab lines (text, where in the YAML, narration), the topology's name, a ParseError
    for every problem found (all of them: the caller runs nothing when there is one), and what
    the replay needs (Docker, when a node is a container), checked before its first step."""
    import yaml

    try:
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        loc = Loc(path, mark.line + 1, mark.column + 1) if mark is not None else Loc(path, 1, 1)
        return [], None, [ParseError(f"not a containerlab topology: {getattr(e, 'problem', None) or e}", loc)], Needs()
    where = _lines_of(tree)
    out = _Lines(path)
    topo = data.get("topology") if isinstance(data, dict) else None
    if not isinstance(topo, dict) or not isinstance(topo.get("nodes"), dict):
        return [], None, [ParseError("not a containerlab topology: no topology.nodes", Loc(path, 1, 1))], Needs()
    nodes = _nodes(topo, where, out)
    _links(topo, nodes, where, out)
    _execs(topo, nodes, where, out)
    name = data.get("name")
    lines = [(t, Loc(path, line, 1), n) for t, line, n in out.lines]
    return lines, str(name) if name else None, out.errors, Needs(tuple(out.needs))


def _setting(topo: dict[str, Any], node: dict[str, Any], key: str) -> Any:
    """A node's value, else its group's, its kind's, the defaults' (containerlab's order)."""
    group = (topo.get("groups") or {}).get(node.get("group") or "") or {}
    kind = node.get("kind") or group.get("kind") or (topo.get("defaults") or {}).get("kind")
    for source in (node, group, (topo.get("kinds") or {}).get(kind or "") or {}, topo.get("defaults") or {}):
        if isinstance(source, dict) and source.get(key) is not None:
            return source[key]
    return None


def _labels(topo: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A node's labels: the defaults', its kind's, its group's, then its own (containerlab merges them)."""
    group = (topo.get("groups") or {}).get(node.get("group") or "") or {}
    kind = node.get("kind") or group.get("kind") or (topo.get("defaults") or {}).get("kind")
    merged: dict[str, Any] = {}
    for source in (topo.get("defaults"), (topo.get("kinds") or {}).get(kind or ""), group, node):
        labels = source.get("labels") if isinstance(source, dict) else None
        merged.update(labels if isinstance(labels, dict) else {})
    return merged


def _as_container(topo: dict[str, Any], node: dict[str, Any], name: str, kind: str) -> bool:
    """Whether the node asks to be a container; raises ValueError for an ask nslab cannot follow."""
    asked = _labels(topo, node).get(AS_CONTAINER)
    if asked is None or str(asked).lower() == "false":
        return False
    if str(asked).lower() != "true":
        raise ValueError(f"label {AS_CONTAINER} is \"true\" or \"false\", got {asked!r}")
    if kind != "linux":  # a topology-wide ask (defaults, groups) is for its linux nodes; a node's own is refused
        own = node.get("labels")
        if not isinstance(own, dict) or AS_CONTAINER not in own:
            return False
        raise ValueError(f"label {AS_CONTAINER}: only a linux node can be a container (this one is kind {kind})")
    if len(name) < 2:
        raise ValueError("a container's name has at least 2 characters (Docker's rule)")
    image = _setting(topo, node, "image")
    if image is not None:
        check_image(str(image))
    return True


def _container_run(topo: dict[str, Any], node: dict[str, Any], name: str, out: _Lines, line: int) -> None:
    image, cmd = _setting(topo, node, "image"), _setting(topo, node, "cmd")
    words = [quote(name)] + ([quote(str(image))] if image is not None else [])
    try:
        argv = shlex.split(str(cmd)) if cmd is not None else []
    except ValueError as e:
        out.error(f"node {name}: cmd {cmd!r}: {e}", line)
        return
    words += ["--", *(quote(w) for w in argv)] if argv else []
    out.needs.update(dict.fromkeys(["docker"] + ([] if image is not None else ["image"])))
    said = image if image is not None else "nslab's default (the node has none)"
    out.add("container run " + " ".join(words), line, [f"node {name}: a container (label {AS_CONTAINER}), image {said}"])


def _nodes(topo: dict[str, Any], where: dict[tuple[str, ...], int], out: _Lines) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    for name, node in topo["nodes"].items():
        node = node or {}
        name = str(name)
        line = where.get(("topology", "nodes", name), 1)
        kind = _setting(topo, node, "kind")
        if kind not in KINDS:
            out.error(f"node {name}: kind {kind} needs containerlab itself (nslab replays kinds {', '.join(KINDS)})"
                      if kind else f"node {name}: no kind", line)
            continue
        try:
            if kind == "host":
                nodes[name] = {"kind": kind, "node": node, "container": _as_container(topo, node, name, kind)}
                continue
            (check_ns if kind == "linux" else check_ifname)(name)
            if name == "host":
                raise ValueError("host is the lab's own namespace")
            container = _as_container(topo, node, name, kind)
        except ValueError as e:
            out.error(f"node {name}: {e}", line)
            continue
        nodes[name] = {"kind": kind, "node": node, "container": container}
    linux = [n for n, v in nodes.items() if v["kind"] == "linux" and not v["container"]]
    if linux:
        out.add("ns add " + " ".join(linux), where.get(("topology", "nodes"), 1), ["the linux nodes, as namespaces"])
    for n, v in nodes.items():
        line = where.get(("topology", "nodes", n), 1)
        if v["kind"] == "bridge":
            out.add(f"bridge add {quote(n)}", line, [f"kind bridge: containerlab expects {n} on its host; nslab makes it in the lab's"])
        elif v["container"]:
            _container_run(topo, v["node"], n, out, line)  # Docker brings its lo up
        elif v["kind"] == "linux":
            out.add(f"{n} link lo up", line)
    return nodes


def _endpoint(link: dict[str, Any], i: int, at: tuple[str, ...], where: dict[tuple[str, ...], int],
              out: _Lines) -> tuple[str, str] | None:
    ends = link.get("endpoints")
    line = where.get((*at, "endpoints", str(i)), where.get(at, 1))
    end = ends[i] if isinstance(ends, list) and len(ends) == 2 else None
    if isinstance(end, dict):
        node, iface = str(end.get("node", "")), str(end.get("interface", ""))
    elif isinstance(end, str) and ":" in end:
        node, iface = end.split(":", 1)
    else:
        out.error("a link needs two endpoints like node:iface", line)
        return None
    try:
        check_ifname(iface)
    except ValueError as e:
        out.error(f"endpoint {node}:{iface}: {e}", line)
        return None
    return node, iface


def _links(topo: dict[str, Any], nodes: dict[str, dict[str, Any]], where: dict[tuple[str, ...], int], out: _Lines) -> None:
    for n, link in enumerate(topo.get("links") or []):
        at = ("topology", "links", str(n))
        line = where.get(at, 1)
        if not isinstance(link, dict):
            out.error("a link is a mapping with endpoints", line)
            continue
        if link.get("type", "veth") != "veth":
            out.error(f"link type {link['type']} needs containerlab itself (nslab makes veth links)", line)
            continue
        ends = [_endpoint(link, i, at, where, out) for i in (0, 1)]
        a, b = ends
        if a is None or b is None:
            continue
        words, ups, ports = [], [], []
        for node, iface in ends:  # type: ignore[misc]
            kind = "host" if node == "host" else nodes.get(node, {}).get("kind")
            if node in SPECIAL or kind is None:
                out.error(f"endpoint {node}:{iface}: {'containerlab makes ' + node + ' itself' if node in SPECIAL else 'no node ' + node}", line)
                break
            if kind == "bridge":
                words.append(quote(f"host:{iface}"))
                ports.append(f"bridge {quote(node)} add {quote(iface)}")
            else:
                words.append(quote(f"{'host' if kind == 'host' else node}:{iface}"))
                ups.append(f"link {words[-1]} up")
        else:
            out.add(f"veth {words[0]} {words[1]}", line, [f"link {a[0]}:{a[1]} - {b[0]}:{b[1]}"])
            for extra in ups + ports:
                out.add(extra, line)
            if link.get("mtu"):
                for w in words:
                    out.add(f"link {w} mtu {int(link['mtu'])}", line)
            for fam in ("ipv4", "ipv6"):
                for w, cidr in zip(words, link.get(fam) or [], strict=False):
                    if cidr:
                        out.add(f"addr add {w} {cidr}", line)


def _execs(topo: dict[str, Any], nodes: dict[str, dict[str, Any]], where: dict[tuple[str, ...], int], out: _Lines) -> None:
    for name, v in nodes.items():
        lines = _setting(topo, v["node"], "exec") or []
        if not isinstance(lines, list):
            out.error(f"node {name}: exec is a list of command lines", where.get(("topology", "nodes", name), 1))
            continue
        for i, raw in enumerate(lines):
            line = where.get(("topology", "nodes", name, "exec", str(i)), where.get(("topology", "nodes", name), 1))
            prefix = "" if v["kind"] in ("host", "bridge") else f"{name} "
            for text, narration in exec_line(str(raw), name, out, line):
                out.add(prefix + text, line, narration)


def exec_line(raw: str, node: str, out: _Lines, line: int) -> list[tuple[str, list[str]]]:
    """One `exec` line as nslab lines (without the node's prefix), with narration."""
    said = [f"{node}: {raw}"]
    shell = needs_shell(raw)
    if shell:
        why = shell.strip() or "a line break"
        return [("exec sh -c " + quote(raw), [*said, f"through sh -c: the line needs a shell ({why!r})"])]
    try:
        words = shlex.split(raw)
    except ValueError as e:
        out.error(f"node {node}: exec line {raw!r}: {e}", line)
        return []
    if not words:
        return []
    done = translate([quote(w) for w in words]) or _link_kind(words)  # its lines copy the words: quoted
    if done:
        return [(text, said if i == 0 else []) for i, text in enumerate(done)]
    if words[0] == "sysctl":
        pairs = [w for w in words[1:] if not w.startswith("-")]
        if pairs and all("=" in w for w in pairs):
            return [(f"sysctl {quote(k)} {quote(v)}", said if i == 0 else [])
                    for i, (k, v) in enumerate(w.split("=", 1) for w in pairs)]
    return [("exec " + " ".join(quote(w) for w in words), said)]


def needs_shell(raw: str) -> str:
    """The first character of RAW that only a shell would read (outside quotes, or `$` and a
    backquote inside double quotes), or "" when splitting it into words runs it as a shell would."""
    quote_char = ""
    escaped = False
    for i, c in enumerate(raw):
        if escaped:
            escaped = False
        elif c == "\\" and quote_char != "'":
            escaped = True
        elif quote_char:
            if c == quote_char:
                quote_char = ""
            elif quote_char == '"' and c in IN_DOUBLE:
                return c
        elif c in "'\"":
            quote_char = c
        elif c in UNQUOTED:
            return c
        elif c == "=" and i and " " not in raw[:i].strip():
            return "="  # VAR=value before the program
    return ""


def _link_kind(words: list[str]) -> list[str] | None:
    """`ip link add ... type vxlan|macvlan ...` (as `export clab` writes it) as nslab's vxlan or
    macvlan line, so the step is undoable; None for any other form."""
    if words[:3] != ["ip", "link", "add"] or len(words) % 2 == 0:
        return None
    pairs = dict(zip(words[3::2], words[4::2], strict=True))
    name, kind = pairs.pop("name", None), pairs.pop("type", None)
    if name is None:
        return None
    if kind == "macvlan" and set(pairs) <= {"link", "mode"} and "link" in pairs:
        return [f"macvlan {quote(name)} {quote(pairs['link'])}" + (f" mode {quote(pairs['mode'])}" if "mode" in pairs else "")]
    if kind == "vxlan" and {"id"} <= set(pairs) <= {"id", "remote", "group", "dev", "dstport"} and len({"remote", "group"} & set(pairs)) == 1:
        where = "remote" if "remote" in pairs else "group"
        line = f"vxlan {quote(name)} id {quote(pairs['id'])} {where} {quote(pairs[where])}"
        line += f" dev {quote(pairs['dev'])}" if "dev" in pairs else ""
        return [line + (f" port {quote(pairs['dstport'])}" if "dstport" in pairs else "")]
    return None
