"""The words of `perf` and `expect pingall`: rates as tc and iperf3 write them, pairs kept whole."""

from __future__ import annotations

import pytest

from nslab.base.errors import ParseError
from nslab.lang.parser import parse_line


@pytest.mark.parametrize("line,message", [
    ("perf --rate fast a b", "expected a rate like 10mbit, 512kbit or 1gbit, got 'fast'"),
    ("perf --rate 0 a b", "expected a rate from 8bit to 32gbit, got '0'"),
    ("expect pingall except ab", "expected two namespaces joined by '-', like ns1-ns2, got 'ab'"),
    ("expect pingall except a-", "expected two namespaces joined by '-'"),
    ("expect perf a b at least", "expected R (a rate like 10mbit), the line ended"),
    ("perf a", "expected B (a namespace), the line ended"),
])
def test_bad_traffic_words_are_refused_in_words(line: str, message: str) -> None:
    with pytest.raises(ParseError) as e:
        parse_line(line)
    assert message in e.value.message


@pytest.mark.parametrize("word,bits", [("10mbit", 10**7), ("10M", 10**7), ("500k", 5 * 10**5), ("1g", 10**9),
                                       ("1000000", 10**6), ("1mbps", 8 * 10**6)])
def test_one_rate_for_shaping_and_perf_as_tc_and_iperf3_write_it(word: str, bits: int) -> None:
    """`link X rate` and `perf --rate` read a rate the same way: tc's words (a bare number is bits,
    `bps` counts bytes) and iperf3's SI letters."""
    assert parse_line(f"perf --rate {word} a b").values["rate"] == bits
    assert parse_line(f"link a:eth0 rate {word}").values["rate"] == bits
