"""Text to command objects, for every input: REPL lines, .lab files and stdin."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..base.errors import Loc, ParseError
from . import commands, grammar
from .lexer import BLANKS, LexError, Token, join_lines, one_physical_line, tokenize
from .spec import Arg, CommandSpec, Form, Lit


@dataclass(frozen=True)
class Needs:
    """What a .lab file's header says it needs (`# needs: docker`) and the containers it makes
    (`# containers: web db`): checked before its first step; removed when the run fails."""

    what: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()


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
    needs: Needs = Needs()  # its file's (the same for every line of a file)
    title: str | None = None  # its .lab file's title (the file's opening comment line)

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class _Miss:
    """How far a form got before it stopped fitting, and why."""

    index: int
    message: str


def _ended(item: Any) -> str | None:
    """What a form asked for where the line ended (a repeat's next or a rest argument ask for nothing)."""
    if isinstance(item, Lit):
        return f"expected '{item.word}', the line ended"
    if isinstance(item, Arg) and not item.rest:
        return f"expected {item.name} ({item.kind.describe}), the line ended"
    return None


def _values(stop: grammar.Stop) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for took in stop.took():
        arg = took.item
        if isinstance(arg, Arg):
            if arg.repeat or arg.rest:
                values.setdefault(arg.key, []).append(took.value)
            else:
                values[arg.key] = took.value
    for item in stop.pending:
        if isinstance(item, Arg) and item.rest:
            values.setdefault(item.key, [])  # `exec` with no words: an empty argv
    return values


def _take_options(fw: grammar.FormWalk, miss: list[_Miss], offset: int) -> dict[str, Any] | None:
    if fw.waiting is not None:
        opt, _, i = fw.waiting
        assert opt.arg is not None
        miss.append(_Miss(offset + i + 1, f"{opt.flag} needs {opt.arg.name} ({opt.arg.kind.describe})"))
        return None
    found: dict[str, Any] = {}
    for opt, _, value, i in fw.taken:
        key = opt.flag.lstrip("-")
        if value is None or opt.arg is None:
            found[key] = True
            continue
        try:
            found[key] = opt.arg.kind.check(value.text)
        except ValueError as e:
            miss.append(_Miss(offset + i + 1, f"{opt.flag}: {e}"))
            return None
    return found


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


# iproute2 objects nslab has no command for (`ip neigh`, `ip n`): `exec ip ...` is the way
IPROUTE2_OTHERS = {"neigh", "neighbor", "neighbour", "n", "rule", "ru", "tunnel", "tuntap", "maddr", "mroute",
                   "monitor", "xfrm", "vrf", "ntable", "mptcp", "nexthop", "netconf", "token", "tcpmetrics", "sr"}
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
    if command == "bridge" and "vlan" in words[1:3]:
        return f"; {commands.missing(commands.BRIDGE_VLAN)}"
    if command == "bridge" and second == "link":
        return " (ports: `bridge NAME add EP...`; to list: `bridge ls`)"
    return ""


def suggest(word: str) -> str:
    from .near import did_you_mean  # difflib: only for a line that did not parse

    return did_you_mean(word, commands.BY_NAME) or "; 'help' lists the commands"


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

    first = toks[0].text
    if first in commands.MISSING_KINDS:  # before the line is read as `NS PROG ARGS`
        raise fail(0, commands.missing(commands.MISSING_KINDS[first]))
    head = grammar.line_head(toks)
    if head is None or (head.spec is None and not head.program):
        raise fail(0, f"unknown command {first!r}{suggest(first)}")
    prefix = head.prefix.text if head.prefix is not None else None
    if prefix in ("ip", "brctl", "docker") and (told := _translation([t.text for t in toks])):
        tool = "an iproute2" if prefix == "ip" else f"a {prefix}"
        raise fail(0, f"that is {tool} command line; {told}" + ("" if prefix == "docker" else
                      f" (`exec {text.strip()}` runs {prefix} itself)"))
    if prefix == "ip" and toks[1].text in IPROUTE2_OBJECTS:
        raise fail(0, "that is an iproute2 command line: nslab's own words drop the `ip` and the `set`/`dev` "
                      f"(`help {IPROUTE2_OBJECTS[toks[1].text]}` shows them), and `exec ip ...` runs ip itself")
    if prefix == "ip" and toks[1].text in IPROUTE2_OTHERS:
        raise fail(0, f"that is an iproute2 command line nslab has no words for: `exec {text.strip()}` runs ip itself")
    if head.spec is None:  # `NS PROG ARGS`
        _fits_execve(toks[1:], 1, fail)
        spec = commands.BY_NAME["exec"]
        return Command(spec, spec.forms[0], {"argv": [t.text for t in toks[1:]]}, text, prefix, loc)
    spec, start = head.spec, head.start
    body = toks[start:]
    misses: list[_Miss] = []
    for frm in spec.forms:
        fw = grammar.form_walk(frm, body)
        opts = _take_options(fw, misses, start)
        if opts is None:
            continue
        local: list[_Miss] = []
        for stop in fw.stops():
            if stop.error is not None:
                local.append(_Miss(stop.at, stop.error))
            elif stop.at < len(fw.words):
                local.append(_Miss(stop.at, f"unexpected {fw.words[stop.at].text!r}"))
            elif grammar.complete(stop.pending):
                vals = _values(stop)
                if spec.name == "exec" and vals.get("argv"):
                    _fits_execve(toks[len(toks) - len(vals["argv"]):], len(toks) - len(vals["argv"]), fail)
                if "filter" in vals:  # `capture ... -- FILTER`: its own small language, checked here
                    vals["filter"] = _filter(toks[len(toks) - len(vals["filter"]):], text, loc)
                return Command(spec, frm, {**opts, **vals}, text, prefix, loc)
            else:
                local += [_Miss(stop.at, m) for m in map(_ended, grammar.firsts(stop.pending)) if m]
        if not local:
            continue
        # options removed: map indexes back to the original tokens for carets (by column, which
        # is unique per word: `body.index` per word made a long line quadratic); the second half
        # of a glued `-c1` left among the words (`-I -c1`: -I took `-c`) is at its word's col + 2
        position = {t.col: k for k, t in enumerate(body)}
        index_of = [position[t.col] if t.col in position else position[t.col - 2] for t in fw.words]
        for m in local:
            idx = index_of[m.index] if m.index < len(index_of) else len(body)
            misses.append(_Miss(start + idx, m.message))
    best = _merge(misses)
    told = _translation(["ip", *(t.text for t in body)])  # `addr add CIDR dev IF`: iproute2's order
    habit = _habit(spec.name, [t.text for t in body])
    said = told.split("`")[1] if told else ""
    hint = f"; {told}" if said and said != " ".join(t.text for t in body) and said not in habit else ""
    hint = hint.replace("in nslab: `", f"in nslab: `{prefix} ") if hint and prefix else hint
    raise fail(best.index, best.message + habit + hint)


def _translation(words: list[str]) -> str | None:
    """An iproute2 line's nslab words (lang/iproute2.py, imported only for a line that did not parse)."""
    from . import iproute2

    return iproute2.explain(words)


def _filter(words: list[Token], text: str, loc: Loc) -> Any:
    """A capture filter's tree (nslab/lang/capfilter.py); a bad one is a parse error under its word."""
    from .capfilter import FilterError, compile_filter

    try:
        return compile_filter([t.text for t in words])
    except FilterError as e:
        if e.word < 0:
            col = len(text.rstrip()) + 1
        else:
            w = words[e.word]
            typed = w.end - w.col + 1 == len(w.text)  # unquoted: each character is one column
            col = w.col + (e.shift if typed else 0)
        raise ParseError(f"capture filter: {e}", Loc(loc.source, loc.line, col), text) from None


def parse_line(text: str, loc: Loc | None = None) -> Command | None:
    """Parse one logical line; None for a blank or comment line.  A .lab file's lines come here too."""
    loc = loc or Loc()
    text = one_line(text, loc)
    try:
        toks = tokenize(text)
    except LexError as e:
        raise ParseError(str(e), Loc(loc.source, loc.line, e.col), text) from None
    return parse_tokens(toks, text, loc)


def one_line(text: str, loc: Loc) -> str:
    """The one logical line in `text`, `\\` continuations joined by the joiner a .lab file uses.

    Text holding more lines (a bracketed paste, `lab.run("a\\nb")`) is refused whole, in the
    REPL and the API alike: one line is one step, a step's text must stay one line in `save`
    and `export sh`, and running a paste's first lines before a later one fails would leave it
    half-made.  Line breaks are what a .lab file splits on (str.splitlines), so a saved lab
    reads back as the same steps.
    """
    if one_physical_line(text):  # nothing to join: most lines
        return text if text.strip(BLANKS) else ""
    lines = [line for line in join_lines(text) if line.text.strip(BLANKS)]
    if len(lines) <= 1:
        return lines[0].text if lines else ""
    first, second = lines[0].text, lines[1]
    shown = second.text.strip(BLANKS)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise ParseError(
        f"a line break after col {len(first)} makes this {len(lines)} lines (line {second.number}: {shown!r}); "
        "one line is one step, so nothing ran: "
        "enter them one at a time, or put them in a .lab file and `source` it",
        Loc(loc.source, loc.line, len(first) + 1), first)
