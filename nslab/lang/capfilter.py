"""`capture ... -- FILTER`: nslab's own small filter language (not BPF), parsed once into a tree.

    FILTER  := OR
    OR      := AND ("or" AND)*            ("||" too)
    AND     := NOT ("and" NOT)*           ("&&" too)
    NOT     := "not" NOT | "(" OR ")" | PRIMARY      ("!" too)
    PRIMARY := arp | ip | ip6 | icmp | icmp6 | udp | tcp | vlan | host IP | port N | ether MAC

The parser (nslab/lang/parser.py) checks a capture's filter with the rest of the line, so a bad one
is a parse error with a caret under the word, in the REPL and in a `.lab` file alike; the capture
matches decoded packets against the tree (nslab/engine/packets.py).  BPF is not supported: nslab
needs no libpcap, and a BPF-only word gets a hint.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from .kinds import MAC_RE

PROTOCOLS = ("arp", "ip", "ip6", "icmp", "icmp6", "udp", "tcp", "vlan")
WITH_VALUE = ("host", "port", "ether")
_ALIASES = {"&&": "and", "||": "or", "!": "not"}
_BPF_WORDS = {"src", "dst", "net", "proto", "less", "greater", "broadcast", "multicast", "portrange", "len",
              "icmp6[", "ether[", "ip[", "tcp[", "udp["}

Node = tuple[Any, ...]  # ("and"|"or", a, b), ("not", a), ("proto", name), ("host", addr), ("port", n), ("ether", mac)


class FilterError(ValueError):
    def __init__(self, message: str, word: int, shift: int = 0) -> None:
        super().__init__(message)
        self.word = word  # which of the filter's words (as given) the caret goes under; -1: past the end
        self.shift = shift  # characters into that word


@dataclass(frozen=True)
class Word:
    text: str
    at: int  # the index of the word it came from
    shift: int = 0  # characters into that word (a `(` glued to `arp`)


def words_of(given: list[str]) -> list[Word]:
    """The filter's words, parentheses and `!` split off as words of their own."""
    out: list[Word] = []
    for k, text in enumerate(given):
        i = 0
        while i < len(text):
            if text[i] in "()!" and not text.startswith("!=", i):
                out.append(Word(text[i], k, i))
                i += 1
                continue
            j = i
            while j < len(text) and text[j] not in "()!":
                j += 1
            out.append(Word(text[i:j], k, i))
            i = j
    return out


def parse(given: list[str]) -> Node:
    """The tree of a filter given as words; FilterError says what is wrong and where."""
    words = words_of(given)
    if not words:
        raise FilterError("an empty filter after `--`: write one (arp, icmp, host IP, port N...) or drop the `--`", -1)
    parser = _Parser(words)
    node = parser.or_()
    if parser.i < len(words):
        w = words[parser.i]
        if w.text == ")":
            raise parser.error("a ')' with no '(' before it")
        raise parser.error(f"expected 'and' or 'or' before {w.text!r} (nslab's filter is not BPF: "
                           f"write `... and {w.text} ...`)")
    return node


class _Parser:
    def __init__(self, words: list[Word]) -> None:
        self.words = words
        self.i = 0

    def peek(self) -> str | None:
        if self.i >= len(self.words):
            return None
        text = self.words[self.i].text
        return _ALIASES.get(text, text)

    def error(self, message: str, at: int | None = None) -> FilterError:
        i = self.i if at is None else at
        if i >= len(self.words):
            return FilterError(message, -1)  # the caret goes past the end of the line
        w = self.words[i]
        return FilterError(message, w.at, w.shift)

    def or_(self) -> Node:
        node = self.and_()
        while self.peek() == "or":
            self.i += 1
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek() == "and":
            self.i += 1
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        word = self.peek()
        if word == "not":
            self.i += 1
            return ("not", self.not_())
        if word == "(":
            opened = self.i
            self.i += 1
            node = self.or_()
            if self.peek() != ")":
                if self.peek() is None:
                    raise self.error("this '(' is never closed", opened)
                raise self.error(f"expected ')' or 'and'/'or', got {self.words[self.i].text!r}")
            self.i += 1
            return node
        return self.primary()

    def primary(self) -> Node:
        word = self.peek()
        if word is None:
            what = self.words[self.i - 1].text if self.i else ""
            raise self.error(f"the filter ended after {what!r}: expected a test such as arp, icmp, host IP, port N")
        low = word.lower()
        if low in PROTOCOLS:
            self.i += 1
            return ("proto", low)
        if low in WITH_VALUE:
            self.i += 1
            value = self.peek()
            if value is None or value in ("and", "or", "not", "(", ")"):
                raise self.error(f"{low} needs {_WANTS[low]}" + ("" if value is None else f", got {value!r}"))
            node = (low, _value(low, value, self))
            self.i += 1
            return node
        if low in ("and", "or", ")"):
            raise self.error(f"expected a test before {word!r}")
        hint = " (BPF is not supported: nslab's filter has arp, ip, ip6, icmp, icmp6, udp, tcp, vlan, " \
               "host IP, port N, ether MAC, and, or, not, parentheses)"
        if low in _BPF_WORDS or "[" in low:
            raise self.error(f"{word!r} is BPF{hint}")
        raise self.error(f"unknown filter word {word!r}{hint}")


_WANTS = {"host": "an address like 10.0.0.1", "port": "a port number (0-65535)", "ether": "a MAC like 02:00:00:00:00:01"}


def _value(kind: str, text: str, p: _Parser) -> Any:
    if kind == "host":
        try:
            return ipaddress.ip_address(text)
        except ValueError:
            raise p.error(f"host needs an address like 10.0.0.1, got {text!r}") from None
    if kind == "port":
        if not text.isdigit() or int(text) > 65535:
            raise p.error(f"port needs a number from 0 to 65535, got {text!r}")
        return int(text)
    if not MAC_RE.match(text):
        raise p.error(f"ether needs a MAC like 02:00:00:00:00:01, got {text!r}")
    return text.lower()


@dataclass(frozen=True)
class Filter:
    """A parsed filter: the words as given (what `capture ls` shows) and the tree a packet is matched by."""

    words: tuple[str, ...]
    tree: Node

    def __str__(self) -> str:
        return " ".join(self.words)


def compile_filter(given: list[str]) -> Filter:
    return Filter(tuple(given), parse(given))
