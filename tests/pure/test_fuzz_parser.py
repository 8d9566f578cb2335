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

from nslab.errors import Loc, NslabError, ParseError
from nslab.labfile import LabFileError, logical_lines, parse_text
from nslab.lexer import LexError, tokenize
from nslab.parser import Command, parse_line


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and "Traceback" not in message


def blank(text: str) -> bool:
    """No words on the line, as the lexer reads it (only white space, as str.strip sees it, or a comment)."""
    try:
        return tokenize(text.strip()) == []
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
        if not text.strip():
            # a .lab file skips a line str.strip() empties; parse_line refuses one of only '\xa0' (reported)
            continue
        try:
            parse_line(text, Loc("fuzz.lab", number, 1))
        except ParseError:
            bad.append(number)
    return bad


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(lines, st.sampled_from(["## section", "# narration", "", "ns add a \\", "\\"])), max_size=12))
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
