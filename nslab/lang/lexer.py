"""Split a line like a shell does, keeping each word's column for error carets; join `\\` continuations.

`join_lines` is the one continuation joiner: the .lab reader, `parse_line` (the API, stdin, the REPL)
and the highlighter all see the same logical lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BLANKS = " \t\r\n"  # what separates words; nothing else does (a no-break space is part of a word, as in bash)
_PLAIN_WORD = re.compile(r"[^ \t\r\n]+")
_SPECIAL = re.compile(r"[\\'\"#\x00]")  # a line without these is words between blanks, nothing more


@dataclass(frozen=True)
class Token:
    """A word of a line and where it stands."""

    text: str
    col: int  # 1-based column of the token's first character in the line
    end: int = 0  # 0-based offset just past its last character (line[col - 1:end] is the word as typed)


class LexError(ValueError):
    def __init__(self, message: str, col: int) -> None:
        super().__init__(message)
        self.col = col


@dataclass(frozen=True)
class Scan:
    """A line read as far as it goes: its complete words, the word still open at the end (an unterminated
    quote or a trailing backslash, read so far), and the error that stopped the reading."""

    tokens: list[Token]
    open: Token | None = None
    quote: str = ""  # the open quote character, if the open word is in one
    error: LexError | None = None


def scan(line: str) -> Scan:
    """Words with quotes ('..', "..") and backslash escapes; `#` at a word start ends the line."""
    if _SPECIAL.search(line) is None:  # most lines: the same words, found by the regex engine
        return Scan([Token(m.group(), m.start() + 1, m.end()) for m in _PLAIN_WORD.finditer(line)])
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in BLANKS:
            i += 1
            continue
        if ch == "#":
            break
        start, quoted = i, False
        word: list[str] = []
        while i < n and line[i] not in BLANKS:
            ch = line[i]
            if ch == "\\":
                if i + 1 >= n:
                    error = LexError("a backslash at the end of the line escapes nothing", i + 1)
                    return Scan(tokens, Token("".join(word), start + 1, n), "", error)
                word.append(line[i + 1])
                i += 2
            elif ch in "'\"":
                end = _dq_end(line, i + 1) if ch == '"' else line.find(ch, i + 1)
                body = line[i + 1 : end if end >= 0 else n]
                if ch == '"':
                    body = body.replace('\\"', '"').replace("\\\\", "\\")
                word.append(body)
                if end < 0:
                    return Scan(tokens, Token("".join(word), start + 1, n), ch, LexError(f"unterminated {ch} quote", i + 1))
                quoted = True
                i = end + 1
            else:
                word.append(ch)
                i += 1
        text = "".join(word)
        if "\x00" in text:
            return Scan(tokens, None, "", LexError("a NUL character is not allowed", start + 1))
        if text or quoted:
            tokens.append(Token(text, start + 1, i))
    return Scan(tokens)


def tokenize(line: str) -> list[Token]:
    """The words of a complete line; a LexError for an open quote, a trailing backslash or a NUL."""
    read = scan(line)
    if read.error is not None:
        raise read.error
    return read.tokens


def _dq_end(line: str, i: int) -> int:
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == '"':
            return i
        i += 1
    return -1


def quote(word: str) -> str:
    """Quote a word so `tokenize` (and bash) read it back unchanged."""
    if word and all(c.isalnum() or c in "@%+=:,./_-" for c in word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


# -- logical lines ------------------------------------------------------------


def continues(text: str) -> bool:
    """The last physical line of `text` goes on on the next one: it ends in an odd run of `\\`
    (blanks after it aside) and is not a comment line (a comment never continues)."""
    last = (text + "\n").splitlines()[-1]  # a text ending in a line break is on a fresh, empty line
    body = last.rstrip(" \t")
    return (len(body) - len(body.rstrip("\\"))) % 2 == 1 and not body.lstrip(" \t").startswith("#")


@dataclass(frozen=True)
class Logical:
    """One logical line: physical lines joined where a `\\` ends one (the `\\`, the blanks before the
    line break and the break become one space).  A last line that continues onto nothing stays as
    it is (the lexer then says its backslash escapes nothing): joining a joined text changes nothing."""

    number: int  # its first physical line, 1-based
    text: str
    start: int  # offset of its first physical line in the whole text
    end: int  # offset just past its last physical line, line break included
    pieces: tuple[tuple[int, int], ...]  # (offset in `text`, offset in the whole text) where each physical line starts

    def source_offset(self, i: int) -> int:
        """Where offset `i` of the joined text is in the whole text (a joining space: at its backslash)."""
        at, src = self.pieces[0]
        for joined, raw in self.pieces:
            if joined > i:
                break
            at, src = joined, raw
        return src + i - at


_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits on
_JOINS = re.compile("[\\\\" + _BREAKS + "]")  # a backslash or a line break: something join_lines may join


def one_physical_line(text: str) -> bool:
    """`text` has no line break and no backslash, so join_lines would give it back as it is."""
    return _JOINS.search(text) is None


def join_lines(text: str) -> list[Logical]:
    out: list[Logical] = []
    buf: list[str] = []
    pieces: list[tuple[int, int]] = []
    first = start = pos = size = 0
    last = ""
    for n, physical in enumerate(text.splitlines(keepends=True), 1):
        raw = physical.rstrip(_BREAKS)  # one break ends a physical line: only it is at the end
        if not buf:
            first, start, size, pieces = n, pos, 0, []
        pieces.append((size, pos))
        pos += len(physical)
        if continues(raw):
            part = raw.rstrip(" \t")[:-1] + " "
            buf.append(part)
            size += len(part)
            last = raw
            continue
        buf.append(raw)
        out.append(Logical(first, "".join(buf), start, pos, tuple(pieces)))
        buf = []
    if buf:  # the last line continues onto nothing: kept as it is, so joining twice changes nothing
        buf[-1] = last
        out.append(Logical(first, "".join(buf), start, pos, tuple(pieces)))
    return out


def join_continued(text: str) -> str:
    """`text` with its continuations joined (logical lines, one per line)."""
    return "\n".join(line.text for line in join_lines(text))


def current_line(text: str) -> str:
    """The logical line the end of `text` is on, as far as it goes (a cursor's line, for completion)."""
    return join_lines(text + "x")[-1].text[:-1]  # a word after the cursor: a line it ends is continued
