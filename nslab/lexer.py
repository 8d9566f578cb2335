"""Split a line like a shell does, keeping each word's column for error carets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    text: str
    col: int  # 1-based column of the token's first character in the line


class LexError(ValueError):
    def __init__(self, message: str, col: int) -> None:
        super().__init__(message)
        self.col = col


def tokenize(line: str) -> list[Token]:
    """Words with quotes ('..', "..") and backslash escapes; `#` at a word start ends the line."""
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == "#":
            break
        start, word, quoted = i, [], False
        while i < n and line[i] not in " \t\r\n":
            ch = line[i]
            if ch == "\\":
                if i + 1 >= n:
                    raise LexError("a backslash at the end of the line escapes nothing", i + 1)
                word.append(line[i + 1])
                i += 2
            elif ch in "'\"":
                end = line.find(ch, i + 1)
                if ch == '"':
                    end = _dq_end(line, i + 1)
                if end < 0:
                    raise LexError(f"unterminated {ch} quote", i + 1)
                body = line[i + 1 : end]
                if ch == '"':
                    body = body.replace('\\"', '"').replace("\\\\", "\\")
                word.append(body)
                quoted = True
                i = end + 1
            else:
                word.append(ch)
                i += 1
        text = "".join(word)
        if "\x00" in text:
            raise LexError("a NUL character is not allowed", start + 1)
        if text or quoted:
            tokens.append(Token(text, start + 1))
    return tokens


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
