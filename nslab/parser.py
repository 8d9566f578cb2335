"""Text to command objects, for every input: REPL lines, .lab files and stdin."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import commands
from .errors import Loc, ParseError
from .kinds import check_ns
from .lexer import LexError, Token, tokenize
from .spec import Arg, CommandSpec, Form, Group, Lit, split_options


@dataclass
class Command:
    """One parsed line: which form of which command, with typed values."""

    spec: CommandSpec
    form: Form
    values: dict[str, Any]
    text: str
    prefix: str | None = None  # `ns1 ping ...`: the context for this line only
    loc: Loc = field(default_factory=Loc)
    narration: tuple[str, ...] = ()
    section: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class _Miss:
    """How far a form got before it stopped fitting, and why."""

    index: int
    message: str


def _match(items: tuple[Any, ...], toks: list[Token], i: int, miss: list[_Miss]) -> Iterator[tuple[dict[str, Any], int]]:
    if not items:
        yield {}, i
        return
    head, tail = items[0], items[1:]
    if isinstance(head, Lit):
        if i < len(toks) and toks[i].text == head.word:
            yield from _match(tail, toks, i + 1, miss)
        else:
            got = f"got {toks[i].text!r}" if i < len(toks) else "the line ended"
            miss.append(_Miss(i, f"expected '{head.word}', {got}"))
        return
    if isinstance(head, Group):
        for vals, j in _match(head.items + tail, toks, i, miss):
            yield vals, j
        yield from _match(tail, toks, i, miss)
        return
    assert isinstance(head, Arg)
    if head.rest:
        yield {head.key: [t.text for t in toks[i:]]}, len(toks)
        return
    if i >= len(toks):
        miss.append(_Miss(i, f"expected {head.name} ({head.kind.describe}), the line ended"))
        return
    values = []
    j = i
    while j < len(toks):
        try:
            values.append(_check(head, toks[j].text))
        except ValueError as e:
            miss.append(_Miss(j, str(e)))
            if j == i:
                return
            break
        j += 1
        if not head.repeat:
            break
        # a repeated argument may stop early so a following item can match
        for vals, k in _match(tail, toks, j, miss):
            if k == len(toks):
                yield {head.key: list(values), **vals}, k
                return
    for vals, k in _match(tail, toks, j, miss):
        yield {head.key: list(values) if head.repeat else values[0], **vals}, k


def _check(arg: Arg, word: str) -> Any:
    value = arg.kind.check(word)
    if arg.kind.name == "newns" and word in commands.WORDS:
        # `ns add ping` would make `ping ...` lines mean two things
        raise ValueError(f"{word!r} is a command word and cannot name a namespace")
    return value


def _take_options(frm: Form, toks: list[Token], miss: list[_Miss], offset: int) -> tuple[dict[str, Any], list[Token]] | None:
    rest, taken, pending = split_options(frm, toks)
    if pending is not None:
        opt, i = pending
        assert opt.arg is not None
        miss.append(_Miss(offset + i + 1, f"{opt.flag} needs {opt.arg.name} ({opt.arg.kind.describe})"))
        return None
    found: dict[str, Any] = {}
    for opt, value, i in taken:
        key = opt.flag.lstrip("-")
        if value is None or opt.arg is None:
            found[key] = True
            continue
        try:
            found[key] = opt.arg.kind.check(value.text)
        except ValueError as e:
            miss.append(_Miss(offset + i + 1, f"{opt.flag}: {e}"))
            return None
    return found, rest


def _merge(misses: list[_Miss]) -> _Miss:
    """The miss that got furthest; literal alternatives there become one message."""
    far = max(m.index for m in misses)
    here = [m for m in misses if m.index == far]
    # a word that fails as an argument (a 16-character name) says more than "expected ls or del"
    args = [m for m in here if not m.message.startswith(("expected '", "unexpected "))]
    if args:
        return args[0]
    words = [m.message.split("'")[1] for m in here if m.message.startswith("expected '")]
    if len(set(words)) > 1:
        got = here[0].message.split(", ", 1)[-1] if ", " in here[0].message else ""
        alts = list(dict.fromkeys(words))
        return _Miss(far, f"expected {', '.join(alts[:-1])} or {alts[-1]}, {got}")
    return here[0]


IPROUTE2_OBJECTS = {"netns": "ns", "link": "link", "l": "link", "addr": "addr", "address": "addr", "a": "addr",
                    "route": "route", "r": "route", "-n": "ns", "-br": "link", "-j": "link"}


def _habit(command: str, words: list[str]) -> str:
    """A hint for iproute2 habits that do not parse in nslab's word order."""
    second = words[1] if len(words) > 1 else ""
    if command == "link" and second == "set":
        return " (nslab writes `link EP up`, `link EP name NEW`...: no `set`)"
    if command in ("link", "addr", "route", "ns") and second in ("show", "list", "l"):
        return f" (to list: `{command} ls`)"
    if command == "addr" and "dev" in words:
        return " (nslab writes `addr add EP CIDR`: the interface first, no `dev`)"
    if command == "ns" and second == "delete":
        return " (to delete: `ns del NAME`)"
    if any(w.endswith(";") or w == ";" for w in words):
        return " (one command per line: `;` does not separate commands)"
    if command == "bridge" and second == "link":
        return " (ports: `bridge NAME add EP...`; to list: `bridge ls`)"
    return ""


def suggest(word: str) -> str:
    near = difflib.get_close_matches(word, list(commands.BY_NAME), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(near)}?" if near else "; 'help' lists the commands"


MAX_ARG_BYTES = 32 * 4096 - 1  # the kernel's MAX_ARG_STRLEN, less the NUL: execve says E2BIG past it


def _fits_execve(argv: list[Token], first: int, fail: Callable[[int, str], ParseError]) -> None:
    """A program's words must fit what execve takes, or running it would fail with E2BIG."""
    total = sum(len(k) + len(v) + 2 + 8 for k, v in os.environb.items())  # the environment counts too
    for i, tok in enumerate(argv):
        size = len(tok.text.encode("utf-8", "surrogatepass"))
        if size > MAX_ARG_BYTES:
            raise fail(first + i, f"a word of {size} bytes is longer than the kernel passes to a program "
                                  f"({MAX_ARG_BYTES} bytes per argument)")
        total += size + 1 + 8  # the string, its NUL and its pointer
    limit = os.sysconf("SC_ARG_MAX")
    if total > limit:
        raise fail(first, f"the program's arguments and environment take {total} bytes, more than "
                          f"the kernel's limit of {limit} bytes")


def parse_tokens(toks: list[Token], text: str, loc: Loc) -> Command | None:
    if not toks:
        return None

    def fail(index: int, message: str) -> ParseError:
        col = toks[index].col if index < len(toks) else len(text.rstrip()) + 1
        return ParseError(message, Loc(loc.source, loc.line, col), text)

    prefix = None
    start = 0
    first = toks[0].text
    if first not in commands.BY_NAME:
        try:
            check_ns(first)
        except ValueError:
            raise fail(0, f"unknown command {first!r}{suggest(first)}") from None
        if len(toks) == 1:
            raise fail(0, f"unknown command {first!r}{suggest(first)}")
        prefix, start = first, 1
        if first == "ip" and toks[1].text in IPROUTE2_OBJECTS:
            raise fail(0, "that is an iproute2 command line: nslab's own words drop the `ip` and the `set`/`dev` "
                          f"(`help {IPROUTE2_OBJECTS[toks[1].text]}` shows them), and `exec ip ...` runs ip itself")
        if toks[1].text not in commands.BY_NAME:
            _fits_execve(toks[1:], 1, fail)
            spec = commands.BY_NAME["exec"]
            return Command(spec, spec.forms[0], {"argv": [t.text for t in toks[1:]]}, text, prefix, loc)
    spec = commands.BY_NAME[toks[start].text]
    body = toks[start:]
    misses: list[_Miss] = []
    for frm in spec.forms:
        taken = _take_options(frm, body, misses, start)
        if taken is None:
            continue
        opts, rest = taken
        # options removed: map indexes back to the original tokens for carets (by column, which
        # is unique per word: `body.index` per word made a long line quadratic)
        position = {t.col: k for k, t in enumerate(body)}
        index_of = [position[t.col] for t in rest]
        local: list[_Miss] = []
        for vals, j in _match(frm.items, rest, 0, local):
            if j == len(rest):
                if spec.name == "exec" and vals.get("argv"):
                    _fits_execve(toks[len(toks) - len(vals["argv"]):], len(toks) - len(vals["argv"]), fail)
                return Command(spec, frm, {**opts, **vals}, text, prefix, loc)
            local.append(_Miss(j, f"unexpected {rest[j].text!r}"))
        for m in local:
            idx = index_of[m.index] if m.index < len(index_of) else len(body)
            misses.append(_Miss(start + idx, m.message))
    best = _merge(misses)
    raise fail(best.index, best.message + _habit(spec.name, [t.text for t in body]))


def parse_line(text: str, loc: Loc | None = None) -> Command | None:
    """Parse one logical line; None for a blank or comment line."""
    loc = loc or Loc()
    text = one_line(text, loc)
    try:
        toks = tokenize(text)
    except LexError as e:
        raise ParseError(str(e), Loc(loc.source, loc.line, e.col), text) from None
    return parse_tokens(toks, text, loc)


def one_line(text: str, loc: Loc) -> str:
    """The one logical line in `text`, `\\` continuations joined as a .lab file joins them.

    Text holding more lines (a bracketed paste, `lab.run("a\\nb")`) is refused whole, in the
    REPL and the API alike: one line is one step, a step's text must stay one line in `save`
    and `export sh`, and running a paste's first lines before a later one fails would leave it
    half-made.  Line breaks are what a .lab file splits on (str.splitlines), so a saved lab
    reads back as the same steps.
    """
    parts = text.splitlines()
    if len(parts) <= 1:
        return parts[0] if parts else ""
    from .labfile import logical_lines

    lines = [(n, line) for n, line in logical_lines(text) if line.strip()]
    if len(lines) <= 1:
        return lines[0][1] if lines else ""
    (_, first), (n, second) = lines[0], lines[1]
    shown = second.strip()
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise ParseError(
        f"a line break after col {len(first)} makes this {len(lines)} lines (line {n}: {shown!r}); "
        "one line is one step, so nothing ran: "
        "enter them one at a time, or put them in a .lab file and `source` it",
        Loc(loc.source, loc.line, len(first) + 1), first)
