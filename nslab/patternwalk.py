"""Walking a form's pattern over the words typed so far, for the completer.

Kept apart from completion.py: a repeated argument is walked in a loop, not a call per
word, and the trail of what took each word is a shared-tail list, so a 10,000-word
paste costs linear time (it used to be a RecursionError past about 1,000 words).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .lexer import Token
from .spec import Arg, Group, Lit

Trail = tuple[tuple[int, str], "Trail"] | None  # a shared-tail list: one step costs O(1), not a copy


def _flat(trail: Trail) -> tuple[tuple[int, str], ...]:
    out: list[tuple[int, str]] = []
    while trail is not None:
        out.append(trail[0])
        trail = trail[1]
    return tuple(reversed(out))


def walk(items: tuple[Any, ...], toks: list[Token], i: int, trail: Trail,
          seen: dict[str, str]) -> Iterator[tuple[Any, tuple[tuple[int, str], ...], dict[str, str]]]:
    """Walk the pattern over the complete words; yield each item that may come next.

    `trail` records, per word index, whether a literal or an argument took it, so a
    word that is a literal in one form is not also read as a name in another.  A repeated
    argument is walked in a loop, not a call per word: a 10,000-word paste stays linear.
    """
    if not items:
        if i == len(toks):
            yield None, _flat(trail), seen  # the form is complete here
        return
    head, tail = items[0], items[1:]
    if isinstance(head, Group):
        yield from walk(head.items + tail, toks, i, trail, seen)
        yield from walk(tail, toks, i, trail, seen)
        return
    if i == len(toks):
        yield head, _flat(trail), seen
        return
    if isinstance(head, Lit):
        if toks[i].text == head.word:
            yield from walk(tail, toks, i + 1, ((i, "lit"), trail), seen)
        return
    assert isinstance(head, Arg)
    if head.rest:
        yield head, _flat(trail), seen
        return
    # the run of words this argument may take: one, or as many as fit when it repeats
    trails: list[Trail] = []
    j = i
    while j < len(toks) and (j == i or head.repeat):
        try:
            head.kind.check(toks[j].text)
        except ValueError:
            break
        trail = ((j, "arg"), trail)
        trails.append(trail)
        j += 1
    if not trails:
        return
    if head.repeat and j == len(toks):
        yield head, _flat(trails[-1]), {**seen, head.kind.name: toks[j - 1].text}  # another of the same
    for k in range(len(trails) - 1, -1, -1):  # the longest run first, as the recursion did
        yield from walk(tail, toks, i + k + 1, trails[k], {**seen, head.kind.name: toks[i + k].text})
