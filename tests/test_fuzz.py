"""Hostile and random steps to a live session, judged by the oracle.

A hypothesis state machine builds a lab step by step (namespaces, veths, addresses, links up and
down, MTUs, bridges, routes, undo, and mutated or random lines).  After every step: the step was a
success or a one-line error that is never an "internal error"; a failed step left the lab exactly as
it was; and nslab's view of every namespace equals what `ip -j` shows there.  Each run of the
machine has a fresh Lab of its own.  The parser's own fuzz is pure: tests/pure/test_fuzz_parser.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import ns_path
from fuzzwords import UNSAFE, lines
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from nslab.base.errors import ParseError
from nslab.base.results import Output
from nslab.kernel import inventory
from nslab.lab import Lab
from nslab.lang.lexer import quote
from nslab.lang.parser import parse_line

NAMES = ["n1", "n2", "n3"]
IFACES = ["eth0", "eth1", "v0"]
ENDS = st.one_of(st.sampled_from(NAMES), st.builds("{}:{}".format, st.sampled_from(NAMES), st.sampled_from(IFACES)),
                 st.sampled_from(["v0", "v1", "host:v2"]))
EPS = st.one_of(st.builds("{}:{}".format, st.sampled_from(NAMES), st.sampled_from(IFACES)), st.sampled_from(["v0", "v1", "br0"]))
CIDRS = st.sampled_from(["10.0.0.1/24", "10.0.0.2/24", "10.0.1.1/24", "fd00::1/64", "192.0.2.9/32"])


def where(ep: str) -> tuple[str, str]:
    """(namespace, interface) of an endpoint word as the rules write them (a bare name is the host's)."""
    ns, _, ifname = ep.rpartition(":")
    return ns or "host", ifname


def one_line(message: str) -> bool:
    # a traceback's own header, not the word: a line may well name `Traceback` and be quoted back
    return bool(message) and "\n" not in message and "Traceback (most recent call last)" not in message


def oracle_view(lab: Lab) -> dict[str, dict]:
    """Each namespace as `ip -j -d addr` (run by nsenter, not nslab) shows it, in nslab's terms."""
    out = {}
    for ns in ["host", *sorted(os.listdir("/run/netns"))]:
        raw = subprocess.run(["nsenter", f"--net={ns_path(lab, ns)}", "ip", "-j", "-d", "addr", "show"],
                             capture_output=True, text=True, check=True).stdout
        links = {m["ifindex"]: m for m in json.loads(raw or "[]")}
        out[ns] = {m["ifname"]: {"kind": m.get("linkinfo", {}).get("info_kind") or m.get("link_type"),
                                 "up": "UP" in m["flags"], "mtu": m["mtu"],
                                 "master": m.get("master"),
                                 "addrs": sorted(f"{a['local']}/{a['prefixlen']}" for a in m.get("addr_info", [])
                                                 if not a["local"].startswith("fe80:"))}
                   for m in links.values()}
    return out


def nslab_view(lab: Lab) -> dict[str, dict]:
    kinds = {"loopback": "loopback", "veth": "veth", "bridge": "bridge"}
    return {ns: {link.name: {"kind": kinds.get(link.kind, link.kind), "up": link.up, "mtu": link.mtu,
                             "master": link.master, "addrs": sorted(link.addrs)}
                 for link in links}
            for ns, links in inventory.lab_links(lab.nss, peers=False).items()}


class LabSession(RuleBasedStateMachine):
    """One fresh lab per run; every rule is one line typed at it."""

    def __init__(self) -> None:
        super().__init__()
        self.lab = Lab()
        self.steps = 0

    def teardown(self) -> None:
        self.lab.close()

    def step(self, line: str) -> dict[str, dict] | None:
        """Run one line; return the oracle's view after it when it succeeded, None when it failed."""
        before = oracle_view(self.lab)
        out = self.lab.run(line)
        after = oracle_view(self.lab)
        if out.ok:
            return after
        error = out.error
        assert error is not None and one_line(error), (line, out.events)
        assert not error.startswith("internal error"), (line, error)
        assert after == before, f"{line!r} failed ({error}) but changed the lab"
        return None

    @rule(name=st.sampled_from(NAMES))
    def add_namespace(self, name: str) -> None:
        if (view := self.step(f"ns add {name}")) is not None:
            assert set(view[name]) == {"lo"}

    @rule(name=st.sampled_from(NAMES))
    def delete_namespace(self, name: str) -> None:
        if (view := self.step(f"ns del {name}")) is not None:
            assert name not in view

    @rule(a=ENDS, b=ENDS)
    def veth(self, a: str, b: str) -> None:
        self.step(f"veth {a} {b}")

    @rule(ep=EPS, cidr=CIDRS, verb=st.sampled_from(["add", "del"]))
    def addr(self, ep: str, cidr: str, verb: str) -> None:
        if (view := self.step(f"addr {verb} {ep} {cidr}")) is not None:
            ns, ifname = where(ep)
            assert (cidr in view[ns][ifname]["addrs"]) == (verb == "add")

    @rule(ep=EPS, state=st.sampled_from(["up", "down"]))
    def link_up_down(self, ep: str, state: str) -> None:
        if (view := self.step(f"link {ep} {state}")) is not None:
            ns, ifname = where(ep)
            assert view[ns][ifname]["up"] == (state == "up")

    @rule(ep=EPS, mtu=st.sampled_from([1280, 1400, 9000]))
    def link_mtu(self, ep: str, mtu: int) -> None:
        if (view := self.step(f"link {ep} mtu {mtu}")) is not None:
            ns, ifname = where(ep)
            assert view[ns][ifname]["mtu"] == mtu

    @rule(ep=EPS)
    def link_del(self, ep: str) -> None:
        self.step(f"link del {ep}")

    @rule(ns=st.sampled_from(["", *[f"{n} " for n in NAMES]]), verb=st.sampled_from(["add", "del"]))
    def bridge(self, ns: str, verb: str) -> None:
        self.step(f"{ns}bridge {verb} br0")

    @rule(ns=st.sampled_from(["", *[f"{n} " for n in NAMES]]), ep=st.sampled_from(IFACES + ["v1"]))
    def bridge_port(self, ns: str, ep: str) -> None:
        self.step(f"{ns}bridge br0 add {ep}")

    @rule(ns=st.sampled_from(NAMES), dest=st.sampled_from(["default", "10.9.0.0/16"]),
          how=st.sampled_from(["via 10.0.0.254", "dev eth0", "via 10.0.0.1 dev eth0"]))
    def route(self, ns: str, dest: str, how: str) -> None:
        self.step(f"{ns} route add {dest} {how}")

    @rule(n=st.integers(1, 3))
    def undo(self, n: int) -> None:
        self.step(f"undo {n}")

    @rule(text=lines)
    def hostile_line(self, text: str) -> None:
        try:
            cmd = parse_line(text)
        except ParseError:
            return  # the parser's answers are fuzzed on their own (pure)
        if cmd is None or cmd.spec.name in UNSAFE or cmd.spec.name in ("ping", "enter", "expect"):
            return  # programs and files elsewhere; ping and expect reach wait for replies that cannot come
        self.step(text)

    @invariant()
    def nslab_sees_what_the_kernel_has(self) -> None:
        assert sorted(self.lab.nss.names()) == sorted(os.listdir("/run/netns"))
        assert nslab_view(self.lab) == oracle_view(self.lab)


LabSession.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None,
                                        suppress_health_check=list(HealthCheck))
test_a_session_is_judged_by_the_oracle_after_every_step = LabSession.TestCase


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
    assert os.listdir("/run/netns") == []  # the oracle: nothing reached the (private) /run/netns
