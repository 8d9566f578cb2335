"""The pygments lexer colours lab lines, and completion answers any line (pure: no kernel, no root)."""

from __future__ import annotations

from fuzzwords import lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygments.token import Keyword, Name, Number

from nslab.faces.completion import Inventory, complete, fits
from nslab.faces.highlight import NslabLexer


def test_the_pygments_lexer_colours_lab_lines():
    toks = [(t, v) for t, v in NslabLexer().get_tokens("ns1 ping -c 3 10.0.0.2\n") if v.strip()]
    assert toks == [(Name.Namespace, "ns1"), (Keyword, "ping"), (Name.Attribute, "-c"), (Number, "3"),
                    (Number, "10.0.0.2")]


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(lines, st.sampled_from(["## s", "# n \\", "a \\", "\\", "'open", "x # c", ""])), max_size=5)
       .map("\n".join))
def test_every_character_is_coloured_once_in_order(text: str) -> None:
    """prompt_toolkit shows what the lexer yields: a gap or an overlap would drop or repeat typed text."""
    pos = 0
    for offset, _, value in NslabLexer().get_tokens_unprocessed(text):
        assert offset == pos and value, (text, offset, pos)
        pos += len(value)
    assert pos == len(text)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines)
def test_completion_answers_any_line(text: str) -> None:
    f = fits(text)
    assert text[f.start:] == f.word
    for c in complete(text, "host", Inventory()):
        assert c.text.startswith(f.word), (text, c)
