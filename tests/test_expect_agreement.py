"""nslab's `expect` and the check `export sh` writes for it agree: on generated labs, every
expect that nslab finds met passes in bash, and every one it finds unmet stops the script
(the exported script is run by bash in a namespace of its own: an oracle nslab did not write).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labworlds import script_world
from test_model_contract import LINE, WIRED

from nslab.lab import Lab

EXPECTS = st.one_of(
    st.builds("{} expect reach {}".format, st.sampled_from(["a", "b", "c"]), st.sampled_from(["a", "b", "c"])),
    st.builds("{} expect link {} {}".format, st.sampled_from(["a", "b"]), st.sampled_from(["eth0", "eth1", "v0"]),
              st.sampled_from(["up", "down"])),
    st.builds("{} expect no link {}".format, st.sampled_from(["a", "b"]), st.sampled_from(["eth0", "v0"])),
    st.builds("{} expect addr {} {}".format, st.sampled_from(["a", "b"]), st.sampled_from(["eth0", "eth1"]),
              st.sampled_from(["10.0.0.1/24", "10.0.0.2/24", "fd00::1/64"])),
    st.builds("{} expect master {} br0".format, st.sampled_from(["a", "b"]), st.sampled_from(["eth0", "eth1"])),
    st.builds("{} expect route {} via {}".format, st.sampled_from(["a", "b"]), st.sampled_from(["default", "10.9.0.0/24"]),
              st.sampled_from(["10.0.0.2", "10.1.0.9"])),
    st.builds("expect {}ns {}".format, st.sampled_from(["", "no "]), st.sampled_from(["a", "c", "zz"])),
    # what the lab learned (tests/test_learned.py has the cases with traffic before them)
    st.builds("{} expect neigh {}{}".format, st.sampled_from(["a", "b"]), st.sampled_from(["10.0.0.1", "10.0.0.2"]),
              st.sampled_from(["", " 02:00:00:00:00:01", " a:eth0", " b:eth0"])),
    # (the context's own interfaces: a MAC another namespace's IPv6 chatter teaches a bridge would be learned at a
    # moment of its own, in nslab and in the script alike)
    st.builds("{} expect fdb br0 {}".format, st.sampled_from(["a", "b"]), st.sampled_from(["eth0", "eth1"])),
    st.sampled_from(["expect pingall", "b expect pingall", "expect pingall except a-c", "expect pingall except c-a b-c",
                     "expect pingall except a-zz"]),
)
# a few lines that make reach checks interesting: addresses on both ends of a cable, links up
REACHABLE = ("a addr add eth0 10.0.0.1/24\nb addr add eth0 10.0.0.2/24\na link eth0 up\nb link eth0 up\n"
             "b addr add eth1 10.1.0.1/24\nc addr add eth0 10.1.0.2/24\nb link eth1 up\nc link eth0 up\n")


def verdicts(lines: str, expect: str, tmp_path) -> tuple[bool, bool]:
    """(nslab's verdict, the exported script's) on one expect after the lab's lines."""
    script = tmp_path / "lab.sh"
    with Lab() as lab:
        for line in lines.splitlines():
            lab.run(line)
        out = lab.run(expect)
        step = out.step
        assert step is not None and step.outcome in ("ok", "unmet"), (expect, step and step.error)
        met = step.outcome == "ok"
        step.outcome = "ok"  # export writes checks only for met expects: ask it for this one's anyway
        assert lab.run(f"export sh {script}").ok
    # the expect ran last: its checks end the script (the verdict compared is that very check's)
    assert script.read_text().splitlines()[-1].startswith(("check ", "check_not ", "check_pingall ", "check_perf ")), script.read_text()
    try:
        script_world(str(script))
        passed = True
    except AssertionError as e:
        assert "check failed" in str(e), str(e)  # the check stopped it, not a broken build
        passed = False
    return met, passed


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(LINE, max_size=8), EXPECTS, st.booleans())
def test_expect_and_the_exported_check_agree(tmp_path, lines, expect, wired):
    # (no undo: export sh leaves out the checks of expects after an undo, which the rebuilt lab
    # may not hold in the same way)
    text = WIRED + (REACHABLE if wired else "") + "".join(line + "\n" for line in lines if not line.startswith("undo"))
    met, passed = verdicts(text, expect, tmp_path)
    assert met == passed, (expect, text)


@pytest.mark.parametrize("expect,met", [("a expect reach b", True), ("a expect reach c", False),
                                        ("b expect reach c", True), ("a expect link eth0 down", False),
                                        ("expect pingall", False), ("expect pingall except a-c", False)])
def test_both_verdicts_occur(tmp_path, expect: str, met: bool) -> None:
    """The generated cases are not all one way: a met and an unmet expect, judged both ways."""
    assert verdicts(WIRED + REACHABLE, expect, tmp_path) == (met, met)


# c reaches a's network through b; a has no way back to c's: only a and c do not answer each other
ROUTED = "c route add 10.0.0.0/24 via 10.1.0.1\nb sysctl net.ipv4.ip_forward 1\n"


@pytest.mark.parametrize("expect,met", [("expect pingall except a-c", True), ("c expect pingall except c-a", True),
                                        ("expect pingall", False), ("expect pingall except a-b", False),
                                        ("expect pingall except c-a a-b", False), ("expect pingall except a-c b-zz", False)])
def test_pingall_verdicts_agree(tmp_path, expect: str, met: bool) -> None:
    """`expect pingall [except A-B...]`: met when exactly the pairs named are silent (either order), unmet
    for a silent pair not named, a named pair that answers, or a name that is no pair; bash agrees."""
    assert verdicts(WIRED + REACHABLE + ROUTED, expect, tmp_path) == (met, met)


@pytest.mark.parametrize("expect,met", [("a expect perf a b at least 100mbit", True), ("expect perf b a at least 32gbit", False),
                                        ("expect perf a c at least 1mbit", False)])
def test_perf_verdicts_agree_with_iperf3(tmp_path, expect: str, met: bool) -> None:
    """`expect perf` and the script's check_perf (iperf3 for the same 2 s) agree: a rate the veth
    carries, one it cannot, and a pair with no path (a and c share no network)."""
    assert verdicts(WIRED + REACHABLE, expect, tmp_path) == (met, met)
