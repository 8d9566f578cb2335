"""A Pygments lexer for `.lab` files and REPL lines, registered as the `nslab` lexer.

setup.cfg names it under the `pygments.lexers` entry point, so
`pygmentize -l nslab file.lab` and rich's `Syntax` colour lab files too.  The
words it calls keywords come from the command table, like everything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pygments.lexer import Lexer
from pygments.token import Comment, Generic, Keyword, Name, Number, String, Text, Whitespace

from . import commands
from .spec import Group, Lit

_WORD = re.compile(r"""(?:[^\s'"\\]|\\.|'[^']*'?|"(?:[^"\\]|\\.)*"?)+|\\\n?""")
_IP = re.compile(r"\A(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:]*:[0-9A-Fa-f]*)(?:/\d{1,3})?\Z")
_NUM = re.compile(r"\A\d+(?:\.\d+)?\Z")


def _literals() -> frozenset[str]:
    words: set[str] = set()

    def walk(items: Any) -> None:
        for item in items:
            if isinstance(item, Lit):
                words.add(item.word)
            elif isinstance(item, Group):
                walk(item.items)

    for spec in commands.TABLE:
        for frm in spec.forms:
            walk(frm.items[1:])
    return frozenset(words)


def _logical(text: str) -> Iterator[str]:
    """Lines, with `\\` continuations kept together so the next line is still the same command."""
    buf = ""
    for line in text.splitlines(keepends=True):
        buf += line
        body = line.rstrip("\n").rstrip()
        odd = (len(body) - len(body.rstrip("\\"))) % 2 == 1
        if not (odd and not body.lstrip().startswith("#")):
            yield buf
            buf = ""
    if buf:
        yield buf


class NslabLexer(Lexer):
    name = "nslab"
    aliases = ["nslab", "lab"]
    filenames = ["*.lab"]
    mimetypes = ["text/x-nslab"]

    def get_tokens_unprocessed(self, text: str) -> Iterator[tuple[int, Any, str]]:  # type: ignore[override]
        subwords = _literals()
        pos = 0
        for chunk in _logical(text):
            yield from self._line(pos, chunk, subwords)
            pos += len(chunk)

    def _line(self, pos: int, line: str, subwords: frozenset[str]) -> Iterator[tuple[int, Any, str]]:
        body = line.rstrip("\n")
        stripped = body.lstrip()
        if stripped.startswith("##"):
            yield pos, Generic.Heading, body
        elif stripped.startswith("#"):
            yield pos, Comment.Single, body
        else:
            yield from self._words(pos, body, subwords)
        if line.endswith("\n"):
            yield pos + len(body), Whitespace, "\n"

    def _words(self, pos: int, body: str, subwords: frozenset[str]) -> Iterator[tuple[int, Any, str]]:
        spans: list[tuple[int, str]] = []  # (offset, text); whitespace and comments as they come
        i = 0
        while i < len(body):
            if body[i].isspace():
                j = i
                while j < len(body) and body[j].isspace():
                    j += 1
                spans.append((i, body[i:j]))
                i = j
            elif body[i] == "#":
                spans.append((i, body[i:]))
                break
            else:
                m = _WORD.match(body, i)
                word = m.group(0) if m else body[i]
                spans.append((i, word))
                i += len(word)
        words = [w for _, w in spans if not w.isspace() and not w.startswith("#")]
        prefix = bool(words) and words[0] not in commands.BY_NAME and words[0] != "\\"
        program = prefix and len(words) > 1 and words[1] not in commands.BY_NAME
        n = 0
        for off, text in spans:
            if text.isspace():
                yield pos + off, Whitespace, text
            elif text.startswith("#"):
                yield pos + off, Comment.Single, text
            else:
                yield pos + off, self._kind(text, n - int(prefix), subwords, program), text
                n += 1

    @staticmethod
    def _kind(word: str, index: int, subwords: frozenset[str], program: bool) -> Any:
        if word.startswith("\\"):
            return String.Escape
        if word[0] in "'\"":
            return String
        if index == -1:
            return Name.Namespace
        if index == 0:
            if program:
                return Name.Builtin
            return Keyword if word in commands.BY_NAME else Name.Namespace
        if program:
            return Text
        if word.startswith("-") and not _NUM.match(word[1:]):
            return Name.Attribute
        if word in subwords:
            return Keyword.Pseudo
        if _IP.match(word) or _NUM.match(word) or word == "default":
            return Number
        if ":" in word:
            return Name.Variable
        return Name
