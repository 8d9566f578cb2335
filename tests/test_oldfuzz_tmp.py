"""Hostile input: random and mutated lines and .lab files, to the parser and to a live session.

Never a traceback: the parser answers a Command (or nothing) or a ParseError,
a .lab file parses or gives its list of one-line errors, and a session step is a
success or a one-line error that is never an "internal error".
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nslab.errors import NslabError, ParseError  # noqa
from nslab.labfile import LabFileError, parse_text
from nslab.lexer import quote
from nslab.parser import parse_line
from nslab.results import Output
from nslab.session import Lab

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
UNSAFE = {"exec", "shell", "save", "export", "source", "check"}  # programs and files: tested on their own below

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


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and "Traceback" not in message


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines)
def test_parser_never_raises_anything_but_a_parse_error(text: str) -> None:
    try:
        parse_line(text)
    except ParseError as e:
        assert one_line(e.message), repr(e.message)
        assert 1 <= e.loc.col <= len(text) + 2


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(lines, st.sampled_from(["## section", "# narration", "", "ns add a \\", "\\"])), max_size=12))
def test_lab_files_parse_or_list_their_errors(body: list[str]) -> None:
    try:
        parse_text("\n".join(body), "fuzz.lab")
    except LabFileError as e:
        assert e.errors
        for err in e.errors:
            assert one_line(err.message) and err.loc.source == "fuzz.lab"


SESSION = {"lab": None}


def session() -> Lab:
    # one isolated lab for all examples (a fresh one each would cost more than the step)
    if SESSION["lab"] is None:
        lab = Lab()
        for line in ("ns add n1 n2", "veth n1 n2", "veth v0 n1:eth5", "n1 addr add eth0 10.0.0.1/24"):
            assert lab.run(line).ok
        SESSION["lab"] = lab
    return SESSION["lab"]  # type: ignore[return-value]


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines)
def test_a_session_step_is_a_success_or_a_one_line_error(text: str) -> None:
    try:
        cmd = parse_line(text)
    except ParseError:
        return
    if cmd is None or cmd.spec.name in UNSAFE:
        return
    if cmd.spec.name == "ping":
        cmd.values.update(c=1, W=0.2)  # short: the lab is isolated, nothing answers outside it
        cmd.values.pop("i", None)
    lab = session()
    out = lab.execute(cmd)
    if not out.ok and out.step is not None and out.step.outcome == "failed":
        assert out.error is not None and one_line(out.error), repr(out.error)
        assert not out.error.startswith("internal error"), out.error
    assert lab.nss.exists(lab.context)


def test_a_lab_that_sources_itself(tmp_path: Path, lab: Lab) -> None:
    me = tmp_path / "me.lab"
    me.write_text(f"ns add s1\nsource {me}\n")
    out = lab.run(f"source {me}")
    assert not out.ok and "itself" in " ".join(str(e) for e in out.events), out.events
    a, b = tmp_path / "a.lab", tmp_path / "b.lab"
    a.write_text(f"source {b}\n")
    b.write_text(f"source {a}\n")
    out = lab.run(f"source {a}")
    assert not out.ok and "already being sourced" in " ".join(str(e) for e in out.events)
    assert lab.run("ns add after").ok


def printed(out) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.line for e in out.events if isinstance(e, Output)]


def test_exec_uses_no_shell_unless_written(lab: Lab, tmp_path: Path) -> None:
    assert lab.run("ns add x1").ok
    canary = tmp_path / "canary"
    out = lab.run(f"exec x1 echo '$(id)' '`id`' '; touch {canary}' '|' '&&' '*'")
    text = printed(out)
    assert out.ok and text == [f"$(id) `id` ; touch {canary} | && *"], out.events
    assert not canary.exists()
    out = lab.run("x1 echo $(id) $HOME")  # the prefix form, unquoted: still literal words
    assert printed(out) == ["$(id) $HOME"]
    out = lab.run("exec x1 sh -c 'echo $((6*7))'")  # a shell the user wrote
    assert printed(out) == ["42"]


def test_hostile_names_never_reach_the_filesystem(lab: Lab) -> None:
    for name in ("../../etc/x", "a/b", "..", ".", "x" * 33, "a\nb", "-rf"):
        out = lab.run(f"ns add {quote(name)}")
        assert not out.ok, name
    assert lab.nss.names() == []
    try:
        parse_line("ns add 'a\x00b'")
    except NslabError as e:
        assert "NUL" in e.message
