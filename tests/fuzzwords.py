"""Hypothesis strategies for hostile lines: valid lines mutated, hostile words, random text.
Pure (no nslab import): shared by the pure parser fuzz and the live session machine."""

from __future__ import annotations

from hypothesis import strategies as st

VALID = [
    "ns add n1 n2", "veth n1 n2", "veth v0 n1:eth5", "link n1:eth0 up", "link n1:eth0 name e9", "link n1:eth0 mtu 1400",
    "link n1:eth0 mac 02:00:00:00:00:01", "addr add n1:eth0 10.0.0.1/24", "addr add n1:eth0 2001:db8::1/64",
    "n1 route add default via 10.0.0.254", "n1 route add 10.1.0.0/16 dev eth0", "route add ::/0 via fe80::1 dev v0",
    "bridge br0 add v0", "bridge add br1", "bridge del br1", "n1 sysctl net.ipv4.ip_forward 1", "link ls n1",
    "addr ls", "route ls n1", "show", "ns ls", "expect reach 10.0.0.1", "expect link n1:eth0 up", "n1 ping -c 1 -W 0.2 n2",
    "history 3", "undo", "help veth", "ns del n2", "link del v0", "expect no ns n2", "enter n1", "leave",
]
HOSTILE = [
    "/", "..", "../..", "a/b", "n1/../x", "a\x00b", "\x00", "x\n", "two\nlines", "x" * 16, "y" * 300, "z" * 10_000,
    "99999999999999999999999", "-1", "0", "1e309", "nan", "inf", "0x10", "4294967296", "::", "::1", "fe80::1%eth0",
    "2001:db8::1/129", "10.0.0.1/33", "10.0.0.256/24", "ünïcødé", "网桥", "\u202e", "💥", "n1:", ":eth0", "n1:eth0:x", "'",
    '"', "\\", "#", "$(id)", "`id`", "; id", "|", "&&", "host", "default", "-c", "--", "'unterminated", '"also',
]
UNSAFE = {"exec", "shell", "save", "export", "source", "check"}  # programs and files: tested on their own

words = st.one_of(st.sampled_from(HOSTILE), st.text(min_size=0, max_size=20),
                  st.sampled_from([w for line in VALID for w in line.split()]))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    toks = draw(st.sampled_from(VALID)).split()
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["replace", "insert", "delete", "swap", "join"]))
        i = draw(st.integers(0, max(len(toks) - 1, 0)))
        if how == "replace" and toks:
            toks[i] = draw(words)
        elif how == "insert":
            toks.insert(i, draw(words))
        elif how == "delete" and len(toks) > 1:
            del toks[i]
        elif how == "swap" and len(toks) > 1:
            j = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[j] = toks[j], toks[i]
        elif how == "join" and toks:
            toks[i] = toks[i] + draw(st.sampled_from(["", ":", "/", "\\", "'", "#"])) + draw(words)
    return " ".join(toks)


lines = st.one_of(mutated(), st.text(max_size=80), st.lists(words, max_size=6).map(" ".join))
