"""One grammar walk (nslab/lang/grammar.py): for every form of the command table, the parser, the completer
and the highlighter agree word by word (pure: no kernel, no root).

Lines are made from each form's own pattern (sample words by kind, optional parts in and out,
options after the command word and at the end, with and without a namespace prefix), so this
test knows which item each word stands for without asking the walker.  At every word: the walker
names that item, the parser reaches that form, the completer offers that word (a keyword or flag
as written; an argument's kind, and the word itself where the lab lists such things), and the
highlighter colours the word as the item's class.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pygments.token import Comment, Keyword, Name, String, Text
from test_parser_pure import FORMS

from nslab.base.errors import ParseError
from nslab.faces.completion import Iface, Inventory, complete, fits
from nslab.faces.highlight import KIND_TOKENS, NslabLexer, token_of
from nslab.lang import commands
from nslab.lang.capfilter import Filter
from nslab.lang.grammar import Part, parts
from nslab.lang.kinds import KINDS
from nslab.lang.labfile import logical_lines
from nslab.lang.lexer import continues, join_continued, join_lines, scan, tokenize
from nslab.lang.parser import parse_line
from nslab.lang.spec import Arg, Form, Group, Lit
from nslab.lang.suggestions import Flag, Wanted
from nslab.lang.suggestions import Keyword as KeywordWant

SAMPLE = {"ns": "ns1", "newns": "ns9", "ep": "eth0", "vend": "ns1", "ifname": "eth0", "bridge": "br0",
          "cidr": "10.0.0.1/24", "ip": "10.0.0.1", "dest": "default", "target": "10.0.0.1", "count": "3",
          "mtu": "1500", "seconds": "0.5", "mac": "02:00:00:00:00:01", "word": "x", "prog": "true",
          "file": "x.lab", "container": "c1", "pid_or_container": "c1", "cmd": "link",
          "cidr_gw": "10.0.0.5/24@10.0.0.1", "mac_vlan": "02:00:00:00:00:05@10", "pair": "ns1-ns2",
          "vni": "42", "port": "4789", "macvlan_mode": "bridge", "rate": "10mbit", "size": "32k", "time": "10ms", "percent": "1%"}
FILTER = ["icmp", "or", "(arp", "and", "host", "10.0.0.1)"]
ARGV = ["ns1", "ip", "a"]  # exec's words: its namespace, then a program's own
# typed by hand or new: nothing in the lab is offered for these
UNLISTED_KINDS = {"newns", "word", "count", "mtu", "seconds", "mac", "cidr_gw", "mac_vlan", "pair", "vni", "port",
                  "macvlan_mode", "rate", "size", "time", "percent"}
UNLISTED = {("link_name", "NEW"), ("bridge_add", "NAME"), ("addr_add", "CIDR"), ("macvlan", "NAME"), ("vxlan", "NAME")}
CLASS = {"prefix": Name.Namespace, "program": Name.Builtin, "argv": Text, "command": Keyword,
         "literal": Keyword.Pseudo, "flag": Name.Attribute}

ETH = [Iface("lo", "loopback, up", "loopback"), Iface("br0", "bridge, up", "bridge"),
       Iface("eth0", "veth, up, 10.0.0.1/24", "veth")]
INV = Inventory(namespaces={"ns1": "namespace, 2 interfaces", "ns2": "namespace, 2 interfaces"},
                links={"host": ETH, "ns1": ETH, "ns2": ETH}, addresses=[("10.0.0.1", "host:eth0")],
                containers=[("c1", "container, pid 42")])

Word = tuple[str, Part, Any]  # the word, the item it stands for, what the completer should offer there


def _items(items: tuple[Any, ...], frm: Form) -> list[list[Word]]:
    """Every line the items make: an optional group in and out, a repeated argument twice."""
    if not items:
        return [[]]
    head, tail = items[0], _items(items[1:], frm)
    if isinstance(head, Group):
        return [a + b for a in _items(head.items, frm) for b in tail] + tail
    if isinstance(head, Lit):
        what = "command" if head is frm.items[0] else "literal"
        return [[(head.word, Part(what), KeywordWant(head.word))] + b for b in tail]
    assert isinstance(head, Arg)
    if head.rest and head.kind.name == "filter":  # a capture's filter: its own words, nothing offered
        return [[(w, Part("argv"), None) for w in FILTER] + b for b in tail]
    if head.rest:
        return [[(w, Part("argv"), Wanted("ns") if k == 0 else None) for k, w in enumerate(ARGV)] + b for b in tail]
    word: Word = (SAMPLE[head.kind.name], Part("arg", head.kind.name), (head, frm.handler))
    return [[word, word] + b if head.repeat else [word] + b for b in tail]


def lines_of(frm: Form) -> list[list[Word]]:
    out = []
    for words in _items(frm.items, frm):
        opts: list[Word] = []
        for opt in frm.options:
            opts.append((opt.flag, Part("flag"), Flag(opt.flag)))
            if opt.arg is not None:
                opts.append((SAMPLE[opt.arg.kind.name], Part("arg", opt.arg.kind.name), (opt.arg, frm.handler)))
        last = [] if "--" in [w for w, _, _ in words] else [words + opts]  # after `--` every word is the filter's
        variants = [words] + ([words[:1] + opts + words[1:], *last] if opts else [])
        for line in variants:
            out.append(line)
            out.append([("ns1", Part("prefix"), Wanted("prefix"))] + line)
    return out


CASES = [(frm, line) for spec in commands.TABLE for frm in spec.forms for line in lines_of(frm)]


def highlighted(text: str) -> list[tuple[Any, str]]:
    return [(t, v) for _, t, v in NslabLexer().get_tokens_unprocessed(text) if v.strip()]


def offers(before: str, want: Any, word: str) -> None:
    """The completer, after `before`, asks for what `want` names, and lists `word` from the lab when it can."""
    wants = fits(before).wants
    if isinstance(want, tuple):  # an argument: its kind is asked for
        arg, handler = want
        assert arg.kind.name in {w.kind for w in wants if isinstance(w, Wanted)}, (before, arg, wants)
        if arg.kind.name in UNLISTED_KINDS or (handler, arg.name) in UNLISTED:
            return
    elif isinstance(want, Wanted):  # a namespace: the line's prefix, exec's first word
        assert want.kind in {w.kind for w in wants if isinstance(w, Wanted)}, (before, want, wants)
    elif want is not None:
        assert want in wants, (before, want, wants)
    else:
        return
    assert word in [c.text for c in complete(before + word[:1], "host", INV)], (before, word)


@pytest.mark.parametrize(("frm", "line"), CASES, ids=[" ".join(w for w, _, _ in line) for _, line in CASES])
def test_parser_completer_and_highlighter_agree_on_every_form(frm, line, tmp_path, monkeypatch) -> None:
    (tmp_path / "x.lab").write_text("")
    monkeypatch.chdir(tmp_path)  # the file samples exist where the completer looks
    text = " ".join(w for w, _, _ in line)
    cmd = parse_line(text)
    assert cmd is not None and cmd.form == frm, (text, cmd and cmd.form.pattern)
    assert [p for _, p in parts(tokenize(text))] == [p for _, p, _ in line]
    assert highlighted(text) == [(CLASS.get(p.what) or KIND_TOKENS[p.kind], w) for w, p, _ in line]
    for k, (word, _, want) in enumerate(line):
        offers(" ".join(w for w, _, _ in line[:k]) + (" " if k else ""), want, word)


EXAMPLES = [x.strip() for spec in commands.TABLE if spec.example for x in spec.example.split("|")]


@pytest.mark.parametrize("text", [f[0] for f in FORMS] + EXAMPLES)
def test_the_walk_the_parser_takes_is_what_is_offered_and_coloured(text: str) -> None:
    cmd = parse_line(text)
    assert cmd is not None
    walked = parts(tokenize(text))
    assert None not in [p for _, p in walked], walked  # every word of a line that parses was taken
    args = sum(1 for _, p in walked if p is not None and p.what in ("arg", "argv", "program"))
    values = sum(len(v) if isinstance(v, list) else len(v.words) if isinstance(v, Filter) else int(v is not True)
                 for v in cmd.values.values())
    assert args == values, (walked, cmd.values)  # each word the walk read as a value is one of the Command's
    assert highlighted(text) == [(token_of(p), t.text) for t, p in walked]
    for tok, part in walked:
        before = text[:tok.col - 1]
        wants = fits(before).wants
        if part is not None and part.what in ("command", "literal"):
            assert KeywordWant(tok.text) in wants, (before, tok.text)
        elif part is not None and part.what == "flag":
            assert Flag(tok.text) in wants, (before, tok.text)
        elif part is not None and part.what == "arg":
            assert part.kind in {w.kind for w in wants if isinstance(w, Wanted)}, (before, part)


def test_every_kind_and_item_has_a_colour() -> None:
    assert set(KIND_TOKENS) == set(KINDS)
    assert token_of(None) is Text
    kinds = {p.kind for _, line in CASES for _, p, _ in line if p.what == "arg"}
    assert kinds == set(KINDS) - {"prog", "filter"}, set(KINDS) - kinds  # every kind the table uses is in a case (a filter: as argv)


def test_a_word_nothing_took_is_plain_text() -> None:
    assert highlighted("ns add a/b c") == [(Keyword, "ns"), (Keyword.Pseudo, "add"), (Text, "a/b"), (Text, "c")]
    assert highlighted("/x y") == [(Text, "/x"), (Text, "y")]
    # a line that does not parse yet is coloured by the walk that went furthest: `del` is the literal
    assert highlighted("link del") == [(Keyword, "link"), (Keyword.Pseudo, "del")]
    assert list(itertools.islice(highlighted("ns1 ping-x -q"), 3)) == [
        (Name.Namespace, "ns1"), (Name.Builtin, "ping-x"), (Text, "-q")]


CONTINUED = ["ns1 addr add eth0 \\\n    10.0.0.1/24", "ns add a \\  \n b", "# no \\\nns add a", "ns add a \\\\\nns add b",
             "link \\\n\\\neth0 up", "exec echo 'a \\\nb' c", "ping -c \\\n 3 ns1 # why \\\n not", "ns add a \\"]


@pytest.mark.parametrize("text", CONTINUED)
def test_one_joiner_for_the_lab_reader_parse_line_the_prompt_and_the_highlighter(text: str) -> None:
    physical = text.split("\n")
    lines = join_lines(text)
    # the joiner joins exactly where `continues` says a line goes on (the REPL's Enter asks it)
    assert len(lines) == len(physical) - sum(continues(line) for line in physical[:-1])
    assert logical_lines(text) == [(line.number, line.text) for line in lines]  # the .lab reader's lines
    assert join_continued(join_continued(text)) == join_continued(text)  # joining twice changes nothing
    if len([line for line in lines if line.text.strip()]) == 1:
        one = next(line for line in lines if line.text.strip())
        try:
            assert parse_line(text) == parse_line(one.text)  # parse_line joins the same way
        except ParseError as e:
            with pytest.raises(ParseError) as again:
                parse_line(one.text)
            assert (again.value.message, again.value.loc) == (e.message, e.loc)
    # the highlighter colours each logical line's words as the walk reads that line, across its breaks
    words = [(token_of(p), t.text) for line in lines if not line.text.strip().startswith("#")
             for t, p in parts(scan(line.text).tokens + ([scan(line.text).open] if scan(line.text).open else []))]
    shown = [(k, v) for _, k, v in NslabLexer().get_tokens_unprocessed(text)
             if v.strip() and k not in (String.Escape, Comment.Single)]
    assert [k for k, _ in shown] == [k for k, _ in words], (shown, words)


def test_a_continued_argument_is_coloured_as_the_argument() -> None:
    assert highlighted("ns1 addr add eth0 \\\n    10.0.0.1/24\n")[-2:] == [(String.Escape, "\\\n"),
                                                                        (KIND_TOKENS["cidr"], "10.0.0.1/24")]
