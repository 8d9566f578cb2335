"""The pygments lexer colours lab lines (pure: no kernel, no root)."""

from __future__ import annotations

from pygments.token import Keyword, Name, Number

from nslab.highlight import NslabLexer


def test_the_pygments_lexer_colours_lab_lines():
    toks = [(t, v) for t, v in NslabLexer().get_tokens("ns1 ping -c 3 10.0.0.2\n") if v.strip()]
    assert toks == [(Name.Namespace, "ns1"), (Keyword, "ping"), (Name.Attribute, "-c"), (Number, "3"),
                    (Number, "10.0.0.2")]
