"""A Pygments lexer for `.lab` files and REPL lines, registered as the `nslab` lexer.

setup.cfg names it under the `pygments.lexers` entry point, so
`pygmentize -l nslab file.lab` and rich's `Syntax` colour lab files too.  It has no reading of its
own: lines are joined by the lexer's joiner, split by its tokenizer, and each word is coloured by
the grammar item that took it in the walk the parser makes (grammar.parts).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pygments.lexer import Lexer
from pygments.token import Comment, Generic, Keyword, Name, Number, String, Text, Whitespace

from ..lang.grammar import Part, parts
from ..lang.lexer import BLANKS, Logical, join_lines, scan

# each argument kind's colour: names of things, addresses and numbers, files, words
KIND_TOKENS: dict[str, Any] = {
    "ns": Name.Namespace, "newns": Name.Namespace,
    "ep": Name.Variable, "vend": Name.Variable, "ifname": Name.Variable, "bridge": Name.Variable,
    "cidr": Number, "ip": Number, "dest": Number, "target": Number, "cidr_gw": Number,
    "mac": Number, "mac_vlan": Number, "count": Number, "mtu": Number, "seconds": Number,
    "rate": Number, "size": Number, "time": Number, "percent": Number,
    "pair": Name.Namespace, "vni": Number, "port": Number, "macvlan_mode": Keyword.Pseudo,
    "file": String, "container": Name.Entity, "pid_or_container": Name.Entity, "cmd": Keyword,
    "word": Name, "prog": Name, "filter": Text,
}
PART_TOKENS: dict[str, Any] = {
    "prefix": Name.Namespace, "program": Name.Builtin, "argv": Text, "command": Keyword,
    "literal": Keyword.Pseudo, "flag": Name.Attribute,
}


def token_of(part: Part | None) -> Any:
    """The token type of a word the grammar item `part` took (Text: no item took it)."""
    if part is None:
        return Text
    if part.what == "arg":
        return KIND_TOKENS.get(part.kind, Name)
    return PART_TOKENS[part.what]


class NslabLexer(Lexer):
    name = "nslab"
    aliases = ["nslab", "lab"]
    filenames = ["*.lab"]
    mimetypes = ["text/x-nslab"]

    def get_tokens_unprocessed(self, text: str) -> Iterator[tuple[int, Any, str]]:  # type: ignore[override]
        for line in join_lines(text):
            yield from _line(text, line)


def _line(text: str, line: Logical) -> Iterator[tuple[int, Any, str]]:
    body = line.text.strip(BLANKS)
    end = len(text[line.start:line.end].rstrip("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029")) + line.start
    if body.startswith("#"):  # a comment line never continues: one physical line
        yield line.start, Generic.Heading if body.startswith("##") else Comment.Single, text[line.start:end]
    else:
        read = scan(line.text)
        words = read.tokens + ([read.open] if read.open is not None else [])
        pos = line.start
        for word, part in parts(words):
            first = line.source_offset(word.col - 1)
            last = line.source_offset(max(word.end, word.col) - 1) + 1
            if first < pos:
                continue  # (a glued option's halves share one word)
            yield from _between(text, pos, first)
            yield first, token_of(part), text[first:last]
            pos = last
        yield from _between(text, pos, end, rest=True)
    if end < line.end:
        yield end, Whitespace, text[end:line.end]


def _between(text: str, i: int, j: int, rest: bool = False) -> Iterator[tuple[int, Any, str]]:
    """What lies between words: blanks, `\\` continuations, and (after the last word) a comment or
    whatever the tokenizer did not read (a NUL stops it)."""
    while i < j:
        k = i + 1
        ch = text[i]
        if ch.isspace():
            while k < j and text[k].isspace():
                k += 1
            yield i, Whitespace, text[i:k]
        elif ch == "\\":
            while k < j and text[k] in "\r\n":
                k += 1
            yield i, String.Escape, text[i:k]
        elif ch == "#" and rest:
            yield i, Comment.Single, text[i:j]
            return
        else:
            while k < j and not text[k].isspace():
                k += 1
            yield i, Text, text[i:k]
        i = k
