"""The capture filter language (nslab/lang/capfilter.py): what each form means, and a caret under the
word of a bad filter, from the parser like any other parse error."""

from __future__ import annotations

import ipaddress

import pytest

from nslab.base.errors import ParseError
from nslab.lang.parser import parse_line

TREES = [
    ("arp", ("proto", "arp")),
    ("not arp", ("not", ("proto", "arp"))),
    ("icmp or arp and udp", ("or", ("proto", "icmp"), ("and", ("proto", "arp"), ("proto", "udp")))),
    ("(icmp or arp) and udp", ("and", ("or", ("proto", "icmp"), ("proto", "arp")), ("proto", "udp"))),
    ("! tcp && port 80 || host fd00::1", ("or", ("and", ("not", ("proto", "tcp")), ("port", 80)),
                                          ("host", ipaddress.ip_address("fd00::1")))),
    ("ether 02:00:00:00:00:0A", ("ether", "02:00:00:00:00:0a")),
]


@pytest.mark.parametrize(("text", "tree"), TREES)
def test_each_form_means_what_it_says(text, tree):
    value = parse_line(f"capture eth0 -- {text}").values["filter"]
    assert value.tree == tree and str(value) == text


ERRORS = [  # the filter, the column of the caret in `capture eth0 -- FILTER`, words of the message
    ("tcp port 80", 21, "expected 'and' or 'or' before 'port'"),
    ("(arp", 17, "this '(' is never closed"),
    ("arp)", 20, "a ')' with no '(' before it"),
    ("host 10.0.0.300", 22, "host needs an address"),
    ("port 70000", 22, "port needs a number from 0 to 65535"),
    ("ether 02:00", 23, "ether needs a MAC"),
    ("icmp and", 25, "the filter ended after 'and'"),
    ("src 10.0.0.1", 17, "'src' is BPF"),
    ("dns", 17, "unknown filter word 'dns'"),
    ("", 16, "an empty filter after `--`"),
]


@pytest.mark.parametrize(("text", "col", "words"), ERRORS)
def test_a_bad_filter_is_a_parse_error_with_a_caret(text, col, words):
    with pytest.raises(ParseError) as info:
        parse_line(f"capture eth0 -- {text}".rstrip() + (" " if not text else ""))
    e = info.value
    assert words in e.message and e.message.startswith("capture filter: ")
    assert e.loc.col == col, e.loc
