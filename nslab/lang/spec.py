"""Commands as data: each command has forms written as small patterns.

A pattern such as ``route add DEST:dest via GW:ip [dev IF:ifname]`` is compiled
once into items: literal words, typed arguments (``NAME:kind``, ``...`` for one
or more), optional groups ``[...]`` and options ``-c N:count`` that may come in
any order.  `help` reads these items; the parser, the completer and the highlighter read
them through the one walk in grammar.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .kinds import KINDS, Kind

if TYPE_CHECKING:
    from .lexer import Token


@dataclass(frozen=True)
class Lit:
    """A literal word of a form."""

    word: str


@dataclass(frozen=True)
class Arg:
    """A typed argument of a form (`NAME:kind`, `...` repeated)."""

    name: str
    kind: Kind
    repeat: bool = False
    rest: bool = False  # takes every remaining word verbatim (argv)

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Group:
    """An optional part of a form (`[...]`)."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class Option:
    """An option of a form (`-c N`, `--both`), taken anywhere after the command word."""

    flag: str
    arg: Arg | None  # None: a flag with no value


@dataclass(frozen=True)
class Form:
    """One way to write a command: its pattern, its handler and its help."""

    pattern: str
    handler: str  # the handler function's name
    help: str
    ip: str = ""  # the iproute2 equivalent, for `help`
    items: tuple[Any, ...] = ()
    options: tuple[Option, ...] = ()
    module: str = ""  # the module of nslab/handlers that defines it, imported when a line first needs it

    @property
    def usage(self) -> str:
        """The pattern as a person reads it: `route add DEST via GW [dev IF]`."""
        return re.sub(r":[a-z_]+", "", self.pattern).replace("*", "...")


@dataclass(frozen=True)
class CommandSpec:
    """A command: its forms, its group in `help`, and whether its steps change the lab."""

    name: str
    group: str
    summary: str
    forms: tuple[Form, ...]
    example: str = ""
    journal: bool = True  # changes the lab (recorded in `save`); False for read-only commands


def _arg(text: str) -> Arg:
    rest = text.endswith("*")
    repeat = text.endswith("...")
    text = text.rstrip(".*")
    name, _, kind = text.partition(":")
    return Arg(name, KINDS[kind or "word"], repeat=repeat, rest=rest)


def compile_pattern(pattern: str) -> tuple[tuple[Any, ...], tuple[Option, ...]]:
    """Turn a pattern string into (items, options)."""
    words = pattern.replace("[", " [ ").replace("]", " ] ").split()
    options: list[Option] = []

    def seq(i: int, closing: bool) -> tuple[list[Any], int]:
        out: list[Any] = []
        while i < len(words):
            w = words[i]
            if w == "]":
                if not closing:
                    raise ValueError(f"unbalanced ] in {pattern!r}")
                return out, i + 1
            if w == "[":
                if i + 1 < len(words) and words[i + 1].startswith("-") and words[i + 1] != "--":  # `[-- REST*]`: a word
                    flag = words[i + 1]
                    arg = _arg(words[i + 2]) if words[i + 2] != "]" else None
                    options.append(Option(flag, arg))
                    i += 3 if arg else 2
                    if words[i] != "]":
                        raise ValueError(f"option group must hold one option in {pattern!r}")
                    i += 1
                    continue
                inner, i = seq(i + 1, True)
                out.append(Group(tuple(inner)))
                continue
            out.append(_arg(w) if ":" in w or w.isupper() else Lit(w))
            i += 1
        if closing:
            raise ValueError(f"unbalanced [ in {pattern!r}")
        return out, i

    items, _ = seq(0, False)
    return tuple(items), tuple(options)


def form(pattern: str, handler: str, text: str, ip: str = "") -> Form:
    """HANDLER is `MODULE.FUNCTION`, a function of nslab/handlers/MODULE.py."""
    module, _, name = handler.rpartition(".")
    items, options = compile_pattern(pattern)
    return Form(pattern, name, text, ip, items, options, module)


Taken = tuple[Option, "Token", "Token | None", int]  # an option, its flag word, its value word, its position


def split_options(frm: Form, toks: list["Token"]) -> tuple[list["Token"], list[Taken], tuple[Option, "Token", int] | None]:
    """A form's options (anywhere after the command word; `-c1` is `-c 1`) apart from its other
    words: (the other words, each option with its flag and value words and position, an option at
    the end still waiting for its value).  The grammar walk reads them for the parser, the
    completer and the highlighter."""
    if not frm.options:  # most forms: nothing to take apart
        return list(toks), [], None
    from .lexer import Token

    flags = {o.flag: o for o in frm.options}
    words: list[Token] = []
    end = next((k for k, t in enumerate(toks) if t.text == "--"), len(toks))  # no options after `--`
    after = toks[end:]
    for t in toks[:end]:
        opt = flags.get(t.text[:2])
        if opt is not None and opt.arg is not None and len(t.text) > 2 and not t.text.startswith("--"):
            words += [Token(t.text[:2], t.col, t.col + 1), Token(t.text[2:], t.col + 2, t.end)]
        else:
            words.append(t)
    rest: list[Token] = []
    tail = len(words)
    words += after
    taken: list[Taken] = []
    i = 0
    while i < len(words):
        opt = flags.get(words[i].text) if i < tail else None
        if opt is None:
            rest.append(words[i])
            i += 1
        elif opt.arg is None:
            taken.append((opt, words[i], None, i))
            i += 1
        elif i + 1 >= tail:
            return rest + words[i + 1:], taken, (opt, words[i], i)
        else:
            taken.append((opt, words[i], words[i + 1], i))
            i += 2
    return rest, taken, None
