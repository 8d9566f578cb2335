"""The words of `perf` and `expect pingall`: rates as tc and iperf3 write them, pairs kept whole."""

from __future__ import annotations

import pytest

from nslab.base.errors import ParseError
from nslab.lang.parser import parse_line


@pytest.mark.parametrize("line,message", [
    ("perf --rate 10mbps a b", "counts bytes (tc reads `mbps` as megabytes): write bits, like 10mbit"),
    ("perf --rate fast a b", "expected a bit rate like 10mbit, 500k or 1g, got 'fast'"),
    ("perf --rate 0 a b", "expected a bit rate above zero"),
    ("expect pingall except ab", "expected two namespaces joined by '-', like ns1-ns2, got 'ab'"),
    ("expect pingall except a-", "expected two namespaces joined by '-'"),
    ("expect perf a b at least", "expected R (a bit rate like 10mbit), the line ended"),
    ("perf a", "expected B (a namespace), the line ended"),
])
def test_bad_traffic_words_are_refused_in_words(line: str, message: str) -> None:
    with pytest.raises(ParseError) as e:
        parse_line(line)
    assert message in e.value.message
