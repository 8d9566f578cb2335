"""What fits at the cursor, as typed suggestions: read from the grammar walk and the line alone.

`fits(text, context)` walks the line up to the cursor (grammar.py) and says what may come there:
a `Keyword`, a `Flag`, or an argument typed by what it names (`Namespace`, `Endpoint`, `Interface`,
`Bridge`, `Address`, `File`, `Container`...), as pgcli's `sqlcompletion.suggest_type` returns
`Table`, `Column`... types.  completion.py dispatches each type to a matcher over the lab's
inventory.  Pure: no kernel, no inventory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import commands
from .grammar import More, Took, firsts, form_walk, line_head
from .kinds import HOST
from .lexer import Token, scan
from .near import close, did_you_mean  # noqa: F401  (the completer's and the handlers' too)
from .spec import Arg, CommandSpec, Form, Lit


@dataclass(frozen=True)
class Keyword:
    """A command word, or a literal word of a form."""

    word: str
    help: str = field(default="", compare=False)


@dataclass(frozen=True)
class Flag:
    flag: str
    help: str = field(default="", compare=False)


@dataclass(frozen=True)
class Wanted:
    """An argument: its kind (kinds.py; `prefix` for a line's namespace) and its name in the pattern."""

    kind: str
    name: str = ""
    help: str = field(default="", compare=False)


@dataclass(frozen=True)
class NewName(Wanted):
    """A name for something new (a namespace, a bridge, an interface's new name): nothing in the lab fits."""


@dataclass(frozen=True)
class Value(Wanted):
    """Typed by hand (a count, an MTU, a MAC, a sysctl key...)."""


@dataclass(frozen=True)
class Namespace(Wanted):
    with_host: bool = True


@dataclass(frozen=True)
class Endpoint(Wanted):
    """IF in `ns`, or NS:IF; with `bare_ns`, a namespace alone too (a veth end)."""

    ns: str = HOST
    bare_ns: bool = False
    bridge: str | None = None  # ports for this bridge: not the bridge itself, not its ports


@dataclass(frozen=True)
class Interface(Wanted):
    ns: str = HOST


@dataclass(frozen=True)
class Bridge(Wanted):
    ns: str = HOST


@dataclass(frozen=True)
class Address(Wanted):
    namespaces: bool = False  # a namespace stands for its first address (a ping target)


@dataclass(frozen=True)
class Destination(Wanted):
    pass


@dataclass(frozen=True)
class AddressOf(Wanted):
    """An address the interface `ep` holds (`addr del EP CIDR`)."""

    ep: str = ""
    ns: str = HOST


@dataclass(frozen=True)
class Container(Wanted):
    pass


@dataclass(frozen=True)
class CommandName(Wanted):
    pass


@dataclass(frozen=True)
class File(Wanted):
    labs: bool = False  # a bundled lab's or exercise's name fits too (`source`, `check`)


Suggestion = Keyword | Flag | Wanted


@dataclass
class Fits:
    word: str  # what the completion replaces: text[start:] (inside an open quote, from its last blank)
    start: int
    context: str  # the namespace a bare interface name refers to
    wants: list[Any] = field(default_factory=list)  # Suggestions, the likeliest first
    value: str = ""  # the word being typed as its argument reads it (quotes and escapes undone)
    quote: str = ""  # the quote it is open in


def literal_words(f: Fits) -> list[str]:
    """The words that fit as they are written: command words, literals and flags."""
    return [w.word if isinstance(w, Keyword) else w.flag for w in f.wants if isinstance(w, (Keyword, Flag))]


def _split(text: str) -> tuple[list[Token], str, int, str, str] | None:
    """Complete words before the cursor; the text replaced, where it starts, the partial word as read
    and its open quote.  None when nothing can be completed (a NUL on the line)."""
    read = scan(text)
    cut = max(text.rfind(" "), text.rfind("\t")) + 1
    if read.open is not None:  # an open quote or a trailing backslash: its word so far
        start = max(cut, read.open.col - 1)
        return read.tokens, text[start:], start, read.open.text, read.quote
    if read.error is not None:
        return None
    toks = read.tokens
    if toks and toks[-1].end == len(text):  # the cursor is at the end of the last word
        last = toks[-1]
        return toks[:-1], text[last.col - 1:], last.col - 1, last.text, ""
    return toks, "", len(text), "", ""


def _command_words() -> list[Any]:
    return [Keyword(c.name, c.summary) for c in commands.TABLE]


def fits(text: str, context: str = HOST) -> Fits:
    """What may come at the end of `text` (the line up to the cursor), from the command table alone."""
    split = _split(text)
    if split is None:
        return Fits("", len(text), context)
    toks, word, start, value, quote = split
    out = Fits(word, start, context, value=value, quote=quote)
    out.wants = _wants(toks, out)
    if quote:  # a quoted word is an argument's, never a command word or a flag
        out.wants = [w for w in out.wants if isinstance(w, Wanted)]
    return out


def _wants(toks: list[Token], out: Fits) -> list[Any]:
    if not toks:
        return [*_command_words(), Namespace("prefix", help="run the line in this namespace")]
    head = line_head(toks)
    if head is None:
        return []
    if head.prefix is not None:
        out.context = head.prefix.text  # a line prefix: `ns1 ...` runs in ns1
    if head.spec is None:
        return [] if head.program else _command_words()  # `ns1 PROG ARGS`: the program's own words
    return _after(head.spec, toks[head.start:], out)


def _after(spec: CommandSpec, body: list[Token], out: Fits) -> list[Any]:
    found: list[tuple[Any, list[Took]]] = []
    for frm in spec.forms:
        fw = form_walk(frm, body)
        if fw.waiting is not None:
            arg = fw.waiting[0].arg
            assert arg is not None
            found.append((typed(arg, frm.handler, {}, out.context), []))
            continue
        used = {opt.flag for opt, _, _, _ in fw.taken}
        for stop in fw.stops():
            if stop.error is not None or stop.at != len(fw.words):
                continue
            took = stop.took()
            seen = {t.item.kind.name: fw.words[t.index].text for t in took if isinstance(t.item, Arg)}
            for item in firsts(stop.pending):
                want = _suggestion(item, frm, took, seen, out.context)
                if want is not None:
                    found.append((want, took))
            for opt in frm.options:  # options may come anywhere after the command word
                if opt.flag not in used:
                    desc = f"{opt.arg.name} ({opt.arg.kind.describe})" if opt.arg else frm.help
                    found.append((Flag(opt.flag, desc), took))
    # `link del ` is the del form, not an interface named "del": a way that read a word as an
    # argument where another way took it as a literal is dropped
    literal_at = {t.index for _, took in found for t in took if isinstance(t.item, Lit)}
    wants = list(dict.fromkeys(want for want, took in found
                               if not any(isinstance(t.item, Arg) and t.index in literal_at for t in took)))
    if not out.word.startswith("-"):
        wants = [w for w in wants if not isinstance(w, Flag)] + [w for w in wants if isinstance(w, Flag)]
    return wants


def _suggestion(item: Any, frm: Form, took: list[Took], seen: dict[str, str], context: str) -> Any:
    if item is None:  # the form may end here
        return None
    if isinstance(item, Lit):
        return Keyword(item.word, frm.help)
    if isinstance(item, More):
        item = item.arg
    if item.rest:
        if item.kind.name == "filter":
            return None  # a capture filter is typed (nslab/lang/capfilter.py), not completed
        if any(t.item is item for t in took):
            return None  # a program's own arguments: not ours to complete
        return Namespace("ns", item.name, item.kind.describe)  # `exec [NS] PROG...`: the namespace first
    return typed(item, frm.handler, seen, context)


_ADDRESS_OF_EP = {"addr_del", "expect_addr"}


def typed(arg: Arg, handler: str, seen: dict[str, str], context: str) -> Any:
    """The suggestion for an argument, by its kind and the form it is in."""
    kind, name, text = arg.kind.name, arg.name, arg.kind.describe
    if kind == "newns" or name == "NEW" or (handler, kind) == ("bridge_add", "bridge") or (
            handler in ("macvlan", "vxlan") and name == "NAME"):
        return NewName(kind, name, text)
    if kind == "ns":
        return Namespace(kind, name, text, with_host=handler not in ("ns_del", "expect_no_ns"))
    if kind in ("ep", "vend"):
        bridge = seen.get("bridge") if handler == "bridge_port_add" else None
        return Endpoint(kind, name, text, ns=context, bare_ns=kind == "vend", bridge=bridge)
    if kind == "ifname":
        return Interface(kind, name, text, ns=context)
    if kind == "bridge":
        return Bridge(kind, name, text, ns=context)
    if kind in ("target", "ip"):
        return Address(kind, name, text, namespaces=kind == "target")
    if kind == "dest":
        return Destination(kind, name, text)
    ep = seen.get("ep") or seen.get("vend")
    if kind == "cidr" and handler in _ADDRESS_OF_EP and ep:
        return AddressOf(kind, name, text, ep=ep, ns=context)
    if kind in ("container", "pid_or_container"):
        return Container(kind, name, text)
    if kind == "cmd":
        return CommandName(kind, name, text)
    if kind == "file":
        return File(kind, name, text, labs=handler in ("source", "check"))
    return Value(kind, name, text)
