"""Hostile input to the parser and the .lab reader (pure: no kernel, no root).

The parser answers a Command, nothing (a blank or comment line), or a one-line
ParseError with a column on the line; a .lab file parses exactly when each of
its logical lines does, and otherwise lists one error per bad line.
"""

from __future__ import annotations

import pytest
from fuzzwords import lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nslab.base.errors import Loc, NslabError, ParseError
from nslab.lang.labfile import LabFileError, logical_lines, parse_text
from nslab.lang.lexer import LexError, join_lines, tokenize
from nslab.lang.parser import Command, parse_line


def one_line(message: str) -> bool:
    # a traceback's own header, not the word: a line may well name `Traceback` and be quoted back
    return bool(message) and "\n" not in message and "Traceback (most recent call last)" not in message


def blank(text: str) -> bool:
    """No words on the line, as the lexer reads it with its `\\` continuations joined (only blanks or a comment)."""
    try:
        return all(tokenize(line.text) == [] for line in join_lines(text))
    except LexError:
        return False


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines)
def test_parser_never_raises_anything_but_a_parse_error(text: str) -> None:
    try:
        result = parse_line(text)
    except ParseError as e:  # the one refusal allowed; anything else propagates and fails
        assert one_line(e.message), repr(e.message)
        assert 1 <= e.loc.col <= len(text) + 2, (e.loc.col, text)
        return
    if result is None:
        assert blank(text), f"{text!r} has words but parsed to nothing"
    else:
        assert isinstance(result, Command) and result.text.strip(), (text, result)
        assert result.form.handler, result


def bad_lines(body: str) -> list[int]:
    """The logical lines of body that parse_line refuses: what parse_text must list."""
    bad = []
    for number, text in logical_lines(body):
        try:
            parse_line(text, Loc("fuzz.lab", number, 1))
        except ParseError:
            bad.append(number)
    return bad


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(lines, st.sampled_from(["## section", "# narration", "", "ns add a \\", "\\", "\xa0", " \u3000 "])),
                max_size=12))
def test_lab_files_parse_or_list_their_errors(body: list[str]) -> None:
    text = "\n".join(body)
    want_bad = bad_lines(text)
    if not want_bad:
        cmds = parse_text(text, "fuzz.lab").commands
        assert all(c.loc.source == "fuzz.lab" for c in cmds)
        assert len(cmds) == sum(not blank(t) for _, t in logical_lines(text))
        return
    with pytest.raises(LabFileError) as info:
        parse_text(text, "fuzz.lab")
    errors = info.value.errors
    assert [e.loc.line for e in errors] == want_bad
    for err in errors:
        assert one_line(err.message) and err.loc.source == "fuzz.lab"


def test_a_nul_in_a_name_is_named() -> None:
    with pytest.raises(NslabError) as info:
        parse_line("ns add 'a\x00b'")
    assert "NUL" in info.value.message


def reading(text: str):
    """What the .lab reader makes of `text`, and what parse_line does, in comparable terms."""
    def command(cmd):
        return None if cmd is None else (cmd.form.handler, repr(cmd.values), cmd.text, cmd.prefix, cmd.loc)

    def error(e: ParseError):
        return ("error", e.message, e.loc, e.text)

    try:
        by_file = [command(c) for c in parse_text(text, "one.lab").commands]
    except LabFileError as e:
        by_file = [error(x) for x in e.errors]
    try:
        by_line = command(parse_line(text, Loc("one.lab", 1, 1)))
    except ParseError as e:
        by_line = error(e)
    return by_file, [by_line] if by_line is not None else []


single_lines = st.one_of(lines, st.sampled_from(["\xa0", "\u3000", "\x1f", " \xa0 # c", "ns add a \\", "\\", "# n \\",
                                                 "## s", "ns add a\xa0b"])).filter(lambda t: len(t.splitlines()) <= 1)


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(single_lines, st.tuples(single_lines, single_lines).map(lambda ab: ab[0] + " \\\n" + ab[1])
                .filter(lambda t: len(join_lines(t)) == 1)))  # a comment line does not continue
def test_the_lab_reader_and_parse_line_agree_on_one_line(text: str) -> None:
    """One path: a line reads the same from a .lab file as through parse_line (the REPL, the API,
    stdin), continuations joined the same way; a line of only U+00A0 is not blank in one and a
    command in the other."""
    by_file, by_line = reading(text)
    assert by_file == by_line, text


@pytest.mark.parametrize("text", ["\xa0", " \u3000 ", "\x1f"])
def test_a_line_of_unicode_space_is_refused_by_both(text: str) -> None:
    by_file, by_line = reading(text)
    assert by_file == by_line and by_line[0][0] == "error" and "unknown command" in by_line[0][1]
