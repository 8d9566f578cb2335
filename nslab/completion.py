"""Completion: what fits at the cursor (pure, from the command table), then matches from the lab.

`fits(text, context)` reads only the command table and the line before the cursor
and says what may come next: literal words, typed arguments (with the namespace an
endpoint would be in) or options.  `candidates(fits, inv)` turns that into words
with short descriptions from an `Inventory`, a snapshot of the lab taken after
commands that change it — never on a keystroke — so completing stays far under
10 ms even with 1,000 interfaces.  `LabCompleter` is the prompt_toolkit face.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import commands
from .kinds import NS_RE
from .lexer import LexError, Token, tokenize
from .netns import HOST
from .patternwalk import walk as _next
from .spec import Arg, Form, Lit, split_options

if TYPE_CHECKING:
    from .session import Session as Lab

# -- what fits ------------------------------------------------------------


@dataclass(frozen=True)
class Want:
    """One thing that may come at the cursor.

    what: "word" (a literal or a command word), "arg" (a typed argument), "option" (a flag).
    """

    what: str
    word: str = ""  # the literal or the flag
    help: str = ""
    kind: str = ""  # for "arg": the kind's name
    name: str = ""  # for "arg": the argument's name in the pattern (NS, EP, NEW...)
    handler: str = ""  # the form's handler, for arguments whose meaning depends on it
    ep: str | None = None  # the endpoint seen earlier on the line (for `addr del EP CIDR`)
    bridge: str | None = None  # the bridge named earlier on the line (for `bridge BR add EP...`)


@dataclass
class Fits:
    word: str  # the partial word under the cursor ('' after a space)
    start: int  # where that word starts: the completion replaces text[start:]
    context: str  # the namespace a bare interface name refers to
    wants: list[Want] = field(default_factory=list)


def _split(text: str) -> tuple[list[Token], str, int]:
    """Complete words before the cursor, the partial word under it, and where it starts."""
    try:
        toks = tokenize(text)
    except LexError:
        # an open quote or a trailing backslash: complete the raw last word
        cut = max(text.rfind(" "), text.rfind("\t")) + 1
        try:
            toks = tokenize(text[:cut])
        except LexError:
            return [], text[cut:], cut
        return toks, text[cut:], cut
    cut = max(text.rfind(" "), text.rfind("\t"))
    if text and text[-1] not in " \t" and toks and toks[-1].col - 1 > cut:
        last = toks[-1]
        return toks[:-1], last.text, last.col - 1
    return toks, "", len(text)


def _without_options(frm: Form, toks: list[Token]) -> tuple[list[Token], set[str], Arg | None, bool]:
    """Drop options and their values; also say if the last word is a flag still waiting for its value."""
    rest, taken, pending = split_options(frm, toks)
    used = {opt.flag for opt, _, _ in taken}
    if pending is not None:
        return rest, used | {pending[0].flag}, pending[0].arg, True
    return rest, used, None, False


def _command_wants() -> list[Want]:
    return [Want("word", c.name, c.summary) for c in commands.TABLE]


def fits(text: str, context: str = HOST) -> Fits:
    """What may come at the end of `text` (the line up to the cursor), from the command table alone."""
    toks, word, start = _split(text)
    out = Fits(word, start, context)
    if not toks:
        out.wants = [*_command_wants(), Want("arg", kind="prefix", help="run the line in this namespace")]
        return out
    first = toks[0].text
    if first not in commands.BY_NAME:
        if not NS_RE.match(first):
            return out
        out.context = first  # a line prefix: `ns1 ...` runs in ns1
        toks = toks[1:]
        if not toks:
            out.wants = _command_wants()
            return out
        if toks[0].text not in commands.BY_NAME:
            return out  # `ns1 PROG ARGS`: a program's own arguments
    spec = commands.BY_NAME[toks[0].text]
    body = toks[1:]
    found: list[tuple[Want, tuple[tuple[int, str], ...]]] = []
    for frm in spec.forms:
        rest, used, pending, waiting = _without_options(frm, body)
        if waiting:
            assert pending is not None
            found.append((Want("arg", kind=pending.kind.name, name=pending.name, handler=frm.handler,
                               help=pending.kind.describe), ()))
            continue
        for item, trail, seen in _next(frm.items[1:], rest, 0, None, {}):
            ep = seen.get("ep") or seen.get("vend")
            if isinstance(item, Lit):
                found.append((Want("word", item.word, frm.help), trail))
            elif isinstance(item, Arg):
                if item.rest and frm.handler == "exec" and rest:
                    continue  # exec's program and its arguments: not ours to complete
                kind = "ns" if item.rest else item.kind.name
                found.append((Want("arg", kind=kind, name=item.name, handler=frm.handler, ep=ep,
                                   bridge=seen.get("bridge"), help=item.kind.describe), trail))
            for opt in frm.options:  # options may come anywhere after the command word
                if opt.flag not in used:
                    desc = f"{opt.arg.name} ({opt.arg.kind.describe})" if opt.arg else frm.help
                    found.append((Want("option", opt.flag, desc), trail))
    literal_at = {i for _, trail in found for i, how in trail if how == "lit"}
    wants: list[Want] = []
    for want, trail in found:
        if any(how == "arg" and i in literal_at for i, how in trail):
            continue  # `link del ` is the del form, not an interface named "del"
        if want not in wants:
            wants.append(want)
    if not word.startswith("-"):
        wants = [w for w in wants if w.what != "option"] + [w for w in wants if w.what == "option"]
    out.wants = wants
    return out


# -- the lab, as completion sees it -----------------------------------------


@dataclass(frozen=True)
class Iface:
    name: str
    desc: str  # "veth, up, 10.0.0.1/24"
    kind: str


@dataclass
class Inventory:
    """A snapshot of the lab for completion and the toolbar."""

    namespaces: dict[str, str] = field(default_factory=dict)  # name -> description
    links: dict[str, list[Iface]] = field(default_factory=dict)  # ns -> interfaces
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (address, "ns1:eth0")
    containers: list[tuple[str, str]] = field(default_factory=list)  # (name, description)

    @property
    def counts(self) -> tuple[int, int, int]:
        links = sum(1 for v in self.links.values() for x in v if x.kind != "loopback")
        bridges = sum(1 for v in self.links.values() for x in v if x.kind == "bridge")
        return len(self.namespaces), links, bridges


def read_inventory(lab: "Lab") -> Inventory:
    """One link and address dump per namespace; no peers (they cost a netnsid query each)."""
    from . import inventory

    inv = Inventory()
    names = [HOST, *lab.nss.names()]
    for ns in names:
        try:
            items = inventory.links(lab.nss.get(ns))
        except Exception:  # a namespace going away under us: leave it out
            continue
        inv.links[ns] = [Iface(x.name, _describe(x), x.kind) for x in items]
        n_if = sum(1 for x in items if x.kind != "loopback")
        if ns != HOST:
            inv.namespaces[ns] = f"namespace, {n_if} interface{'s' if n_if != 1 else ''}"
        for x in items:
            if x.kind == "loopback":
                continue
            for cidr in x.addrs:
                inv.addresses.append((cidr.split("/")[0], f"{ns}:{x.name}"))
    return inv


def _describe(link: Any) -> str:
    bits = [link.kind, "up" if link.up else "down", *link.addrs]
    if link.master:
        bits.append(f"on {link.master}")
    return ", ".join(bits)


def read_containers() -> list[tuple[str, str]]:
    """Running containers, or none at once when no engine is there (never blocks typing)."""
    from . import containers

    if not containers.engine_reachable():
        return []
    try:
        return [(c.name, f"container, pid {c.pid}") for c in containers.running()]
    except Exception:
        return []


# -- candidates -------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    text: str  # what replaces the partial word
    desc: str
    display: str = ""  # when it differs from text

# arguments that name something new: nothing in the lab fits them
_NEW = {("bridge_add", "bridge")}
_CIDR_OF_EP = {"addr_del", "expect_addr"}
_BY_HANDLER = {h for h, _ in _NEW} | _CIDR_OF_EP | {"ns_del", "expect_no_ns"}  # handlers that change a listing


def candidates(f: Fits, inv: Inventory) -> list[Candidate]:
    out: list[Candidate] = []
    done: set[tuple[Any, ...]] = set()
    for want in f.wants:
        # several forms may ask for the same thing here (`link EP ...` has six): list it once
        sig = (want.what, want.word, want.kind, want.name, want.ep,
               want.handler if want.handler in _BY_HANDLER else "")
        if sig not in done:
            done.add(sig)
            out.extend(_for_want(want, f, inv))
    word = f.word
    seen: set[str] = set()
    keep = []
    for c in out:
        if c.text.startswith(word) and c.text not in seen:
            seen.add(c.text)
            keep.append(c)
    return keep


def _ifaces(inv: Inventory, ns: str, prefix: str = "") -> Iterable[Candidate]:
    for x in inv.links.get(ns, ()):
        yield Candidate(prefix + x.name, x.desc, x.name if prefix else "")


def _ns_names(inv: Inventory, with_host: bool = False) -> Iterable[Candidate]:
    if with_host:
        yield Candidate(HOST, "the lab's root namespace")
    for name, desc in inv.namespaces.items():
        yield Candidate(name, desc)


def _endpoint(f: Fits, inv: Inventory, bare_ns: bool) -> Iterable[Candidate]:
    if ":" in f.word:
        ns = f.word.split(":", 1)[0]
        yield from _ifaces(inv, ns, ns + ":")
        return
    yield from _ifaces(inv, f.context)
    if bare_ns:
        for name, desc in inv.namespaces.items():
            yield Candidate(name, f"{desc} (first free ethN)")
    for name in (HOST, *inv.namespaces):
        yield Candidate(name + ":", f"an interface in {name}")


def _for_want(want: Want, f: Fits, inv: Inventory) -> Iterable[Candidate]:
    if want.what in ("word", "option"):
        return [Candidate(want.word, want.help)]
    kind = want.kind
    if (want.handler, kind) in _NEW or kind == "newns" or want.name == "NEW":
        return []
    if kind == "prefix":
        return _ns_names(inv, with_host=True)
    if kind == "ns":
        return _ns_names(inv, with_host=want.handler not in ("ns_del", "expect_no_ns"))
    if kind == "ep" and want.handler == "bridge_port_add" and want.bridge:
        # ports for this bridge: not the bridge itself, not ports it has already
        return [c for c in _endpoint(f, inv, bare_ns=False)
                if c.text != want.bridge and not c.desc.endswith(f"on {want.bridge}")]
    if kind == "ep":
        return _endpoint(f, inv, bare_ns=False)
    if kind == "vend":
        return _endpoint(f, inv, bare_ns=True)
    if kind == "ifname":
        return _ifaces(inv, f.context)
    if kind == "bridge":
        return [c for c in _ifaces(inv, f.context) if "bridge" in c.desc.split(",")[0]]
    if kind in ("target", "ip"):
        own = [Candidate(a, where) for a, where in inv.addresses]
        return own + (list(_ns_names(inv)) if kind == "target" else [])
    if kind == "dest":
        nets = {str(ipaddress.ip_interface(f"{a}/24").network) for a, _ in inv.addresses if ":" not in a}
        return [Candidate("default", "the default route"), *(Candidate(n, "a network") for n in sorted(nets))]
    if kind == "cidr" and want.handler in _CIDR_OF_EP and want.ep:
        ns, _, ifname = want.ep.rpartition(":")
        for x in inv.links.get(ns or f.context, ()):
            if x.name == ifname:
                return [Candidate(c, "an address of " + want.ep) for c in x.desc.split(", ") if "/" in c]
        return []
    if kind in ("container", "pid_or_container"):
        return [Candidate(n, d) for n, d in inv.containers]
    if kind == "cmd":
        return [Candidate(c.name, c.summary) for c in commands.TABLE]
    if kind == "file":
        return _files(f.word)
    return []


def _files(word: str) -> list[Candidate]:
    head, _, _ = word.rpartition("/")
    where = os.path.expanduser(head or ".") if head or not word.startswith("/") else "/"
    prefix = head + "/" if head else ""
    out = []
    try:
        with os.scandir(where) as it:
            for e in it:
                if e.name.startswith(".") and not word.rpartition("/")[2].startswith("."):
                    continue
                if e.is_dir():
                    out.append(Candidate(prefix + e.name + "/", "directory"))
                else:
                    out.append(Candidate(prefix + e.name, "lab file" if e.name.endswith(".lab") else "file"))
    except OSError:
        return []
    out.sort(key=lambda c: (not c.text.endswith((".lab", "/")), c.text))
    return out


def complete(text: str, context: str, inv: Inventory) -> list[Candidate]:
    """The whole path for one keystroke: what fits, then what in the lab matches."""
    return candidates(fits(text, context), inv)


# -- prompt_toolkit ---------------------------------------------------------


class LabCompleter:
    """A prompt_toolkit Completer over a callable returning (context, Inventory)."""

    def __new__(cls, source: Callable[[], tuple[str, Inventory]]) -> Any:
        from prompt_toolkit.completion import Completer, Completion

        class _Completer(Completer):
            def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
                context, inv = source()
                text = document.text_before_cursor.replace("\\\n", " ")
                f = fits(text, context)
                for c in candidates(f, inv):
                    yield Completion(c.text, start_position=-len(f.word), display=c.display or None,
                                     display_meta=c.desc)

        return _Completer()
