"""One walk of the command table over a line's words: the parser, the completer (and through them the
REPL's validator) and the highlighter all read a line through it.

`walk` goes through a form's items (spec.py) over the words and yields each place where a way through
stops: the words ran out (with the items still to come), the items ran out (with words left over), or
an item refused a word (saying why).  The parser builds its Command from the first way that takes
every word, and its error from where the ways stopped; the completer asks what may come where the
words run out; `parts` says which item took each word, which is what the highlighter colours.

A repeated argument is walked in a loop, not a call per word, and each way's record of what took each
word is a shared-tail list: a 10,000-word line costs linear time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import commands
from .kinds import NS_RE
from .lexer import Token
from .spec import Arg, CommandSpec, Form, Group, Lit, Option, Taken, split_options


@dataclass(frozen=True)
class More:
    """After a repeated argument took a word: another of the same may come, or what follows it."""

    arg: Arg


@dataclass(frozen=True)
class Took:
    """A word one item of a form took."""

    index: int  # the word's position among the words walked
    item: Lit | Arg
    value: Any  # the word as its kind reads it (the word itself for a literal or a rest argument)


Trail = tuple[Took, "Trail"] | None  # newest first: a step costs O(1), not a copy


@dataclass(frozen=True)
class Stop:
    """Where one way through a form stopped."""

    trail: Trail
    at: int  # the word it stopped at; len(words): the line ended
    pending: tuple[Any, ...]  # the items still to come, the next first
    error: str | None = None  # pending[0] refused word `at`, for this reason

    def took(self) -> list[Took]:
        out: list[Took] = []
        trail = self.trail
        while trail is not None:
            out.append(trail[0])
            trail = trail[1]
        out.reverse()
        return out


def check(arg: Arg, word: str) -> Any:
    """The word as the argument's kind reads it; ValueError when it is not one."""
    value = arg.kind.check(word)
    if arg.kind.name == "newns" and word in commands.WORDS:
        # `ns add ping` would make `ping ...` lines mean two things
        raise ValueError(f"{word!r} is a command word and cannot name a namespace")
    return value


def walk(items: tuple[Any, ...], words: list[Token], i: int = 0, trail: Trail = None) -> Iterator[Stop]:
    """Each stop of each way `items` may take over words[i:], depth first (an optional group taken
    before it is skipped; a repeated argument tries to let what follows it match after each word)."""
    if not items:
        yield Stop(trail, i, ())
        return
    if i == len(words):
        yield Stop(trail, i, items)
        return
    head, tail = items[0], items[1:]
    if isinstance(head, Group):
        yield from walk(head.items + tail, words, i, trail)
        yield from walk(tail, words, i, trail)
        return
    if isinstance(head, Lit):
        if words[i].text == head.word:
            yield from walk(tail, words, i + 1, (Took(i, head, head.word), trail))
        else:
            yield Stop(trail, i, items, f"expected '{head.word}', got {words[i].text!r}")
        return
    assert isinstance(head, Arg), head
    if head.rest:  # every remaining word, verbatim; it may always take more
        for j in range(i, len(words)):
            trail = (Took(j, head, words[j].text), trail)
        yield Stop(trail, len(words), (head,))
        return
    j = i
    while j < len(words):
        try:
            value = check(head, words[j].text)
        except ValueError as e:
            yield Stop(trail, j, ((More(head),) if j > i else (head,)) + tail, str(e))
            break
        trail = (Took(j, head, value), trail)
        j += 1
        if not head.repeat:
            break
        if tail and j < len(words):
            yield from walk(tail, words, j, trail)  # a repeated argument may stop early so what follows can match
    if j == i:
        return
    if head.repeat and j == len(words):
        yield Stop(trail, j, (More(head), *tail))
    elif not (head.repeat and tail):  # (with a tail, the loop walked it at j already)
        yield from walk(tail, words, j, trail)


def firsts(pending: tuple[Any, ...]) -> Iterator[Any]:
    """The items that may come next, depth first; None where the form may end."""
    if not pending:
        yield None
        return
    head, tail = pending[0], pending[1:]
    if isinstance(head, Group):
        yield from firsts(head.items + tail)
        yield from firsts(tail)
        return
    yield head
    if isinstance(head, More) or (isinstance(head, Arg) and head.rest):
        yield from firsts(tail)  # it may take no more


def complete(pending: tuple[Any, ...]) -> bool:
    """The form may end with these items still to come (all optional)."""
    return None in firsts(pending)


# -- a whole line --------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """How a line starts: `CMD ...`, `NS CMD ...`, `NS PROG ARGS` (a program line), or `NS` alone."""

    prefix: Token | None  # the namespace the line runs in
    spec: CommandSpec | None  # None: no command word (a program line, or only the prefix so far)
    start: int  # the command word's position
    program: bool = False


def line_head(words: list[Token]) -> Head | None:
    """None when the first word is neither a command nor a namespace name."""
    first = words[0].text
    if first in commands.BY_NAME:
        return Head(None, commands.BY_NAME[first], 0)
    if not NS_RE.match(first):
        return None
    if len(words) == 1:
        return Head(words[0], None, 1)
    spec = commands.BY_NAME.get(words[1].text)
    return Head(words[0], spec, 1, program=spec is None)


@dataclass(frozen=True)
class FormWalk:
    """One form over a command's words (the command word first): its options apart, then the walk."""

    form: Form
    words: list[Token]  # the words without the options
    taken: list[Taken]  # each option with its flag and value words and position
    waiting: tuple[Option, Token, int] | None  # an option at the end still waiting for its value

    def stops(self) -> Iterator[Stop]:
        return walk(self.form.items, self.words)

    def full(self, stop: Stop) -> bool:
        return stop.error is None and stop.at == len(self.words) and complete(stop.pending)


def form_walk(frm: Form, body: list[Token]) -> FormWalk:
    rest, taken, waiting = split_options(frm, body)
    return FormWalk(frm, rest, taken, waiting)


def option_error(fw: FormWalk) -> bool:
    """An option's value its kind refuses, or an option still waiting for one: the parser skips the form."""
    if fw.waiting is not None:
        return True
    for opt, _, value, _ in fw.taken:
        if value is not None and opt.arg is not None:
            try:
                opt.arg.kind.check(value.text)
            except ValueError:
                return True
    return False


@dataclass(frozen=True)
class Part:
    """The grammar item that took a word: what the highlighter colours."""

    what: str  # "prefix", "program", "argv", "command", "literal", "flag" or "arg"
    kind: str = ""  # for "arg": the argument's kind (ns, ep, cidr...)


def parts(words: list[Token]) -> list[tuple[Token, Part | None]]:
    """Each word with the item that took it (None: nothing did), in the way the parser takes when the
    line parses, else in the way that went furthest.  An option glued to its value (`-c3`) is two words."""
    if not words:
        return []
    head = line_head(words)
    if head is None:
        return [(w, None) for w in words]
    out: list[tuple[Token, Part | None]] = [(head.prefix, Part("prefix"))] if head.prefix else []
    if head.spec is None:
        return out + [(w, Part("argv" if k else "program")) for k, w in enumerate(words[1:])]
    body = words[head.start:]
    best: tuple[int, FormWalk, Stop] | None = None
    for frm in head.spec.forms:
        fw = form_walk(frm, body)
        fits_options = not option_error(fw)
        for stop in fw.stops():
            if fits_options and fw.full(stop):
                return out + _labels(fw, stop)
            if best is None or stop.at > best[0]:
                best = (stop.at, fw, stop)
    assert best is not None  # every form takes its command word
    return out + _labels(best[1], best[2])


def _labels(fw: FormWalk, stop: Stop) -> list[tuple[Token, Part | None]]:
    by_index: dict[int, Part] = {}
    for took in stop.took():
        item = took.item
        if isinstance(item, Lit):
            by_index[took.index] = Part("command" if took.index == 0 else "literal")
        else:
            by_index[took.index] = Part("argv") if item.rest else Part("arg", item.kind.name)
    out: list[tuple[Token, Part | None]] = [(w, by_index.get(k)) for k, w in enumerate(fw.words)]
    for opt, flag, value, _ in fw.taken:
        out.append((flag, Part("flag")))
        if value is not None and opt.arg is not None:
            try:
                opt.arg.kind.check(value.text)
                out.append((value, Part("arg", opt.arg.kind.name)))
            except ValueError:
                out.append((value, None))
    if fw.waiting is not None:
        out.append((fw.waiting[1], Part("flag")))
    out.sort(key=lambda pair: pair[0].col)
    return out
