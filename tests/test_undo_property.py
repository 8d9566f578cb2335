"""After any prefix of a lab, `undo k` gives the state the first n-k steps gave, as the
oracle (`ip -j` dumps) sees it: namespaces, links, names, masters, addresses, routes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labworlds import OWN, bundled, lab_world

from nslab.lab import Lab
from nslab.lang.labfile import parse_text

CASES = [(p.stem, p.read_text()) for p in bundled()] + list(OWN.items())


_changing: dict[str, list] = {}


def changing(text: str) -> list:
    """The lines of a lab that change it (what undo counts): those whose step made kernel ops.
    Pings, expects, listings and exec are left out."""
    if text not in _changing:
        keep = []
        with Lab() as lab:
            for cmd in parse_text(text, "lab").commands:
                if not cmd.spec.journal:
                    continue
                out = lab.execute(cmd)
                assert out.ok, f"{cmd.text}: {out.error}"
                if out.step.ops:
                    keep.append(cmd)
        _changing[text] = keep
    return _changing[text]


def run_steps(lab: Lab, cmds: list) -> None:
    for cmd in cmds:
        out = lab.execute(cmd)
        assert out.ok, f"{cmd.text}: {out.error}"


_reference: dict[str, list[dict]] = {}


def reference(name: str, cmds: list) -> list[dict]:
    """The oracle's state after each prefix (0..m steps) of one straight run."""
    if name not in _reference:
        with Lab() as lab:
            states = [lab_world(lab)]
            for cmd in cmds:
                run_steps(lab, [cmd])
                states.append(lab_world(lab))
        _reference[name] = states
    return _reference[name]


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_undo_one_by_one_from_the_end(name, text):
    cmds = changing(text)
    want = reference(name, cmds)
    assert any(s != want[0] for s in want)  # the lab changes something: the comparison is not empty
    with Lab() as lab:
        run_steps(lab, cmds)
        for k in range(1, len(cmds) + 1):
            out = lab.run("undo")
            assert out.ok, out.error
            assert lab_world(lab) == want[len(cmds) - k], f"after undoing {k} of {len(cmds)}"


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_undo_k_after_any_prefix(name, text, data):
    cmds = changing(text)
    want = reference(name, cmds)
    n = data.draw(st.integers(0, len(cmds)), label="n")
    k = data.draw(st.integers(0, n), label="k")
    with Lab() as lab:
        run_steps(lab, cmds[:n])
        if k:
            out = lab.run(f"undo {k}")
            assert out.ok, out.error
        assert lab_world(lab) == want[n - k]


def test_reset_after_exec_says_it_passed_over_it():
    with Lab() as lab:
        run_steps(lab, changing("ns add a\nveth a:eth0 x0\n"))
        assert lab.run("exec a ip link set lo up").ok
        empty = None
        out = lab.run("reset")
        assert out.ok, out.error
        words = " ".join(getattr(e, "text", "") for e in out.events)
        assert "exec a ip link set lo up" in words and "cannot be undone" in words
        assert "undid 2 steps" in words
        with Lab() as fresh:
            empty = lab_world(fresh)
        assert lab_world(lab) == empty
