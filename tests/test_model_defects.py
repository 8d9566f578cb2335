"""Defects of issue 11, each judged by an oracle nslab did not write (ip -j, /run/netns, bash)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import ip_j
from labworlds import lab_world
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from nslab.render import Renderer
from nslab.repl import Repl
from nslab.session import Lab

# -- 1. nested `source` keeps a step of its own ---------------------------------------------

BUILD = "ns add s1 s2\nveth s1 s2\ns1 addr add eth0 10.5.0.1/24\n"


def test_source_outcome_is_the_source_step(lab: Lab, tmp_path: Path) -> None:
    f = tmp_path / "f.lab"
    f.write_text(BUILD)
    out = lab.run(f"source {f}")
    assert out.ok, out.error
    assert out.step is not None and out.step.text == f"source {f}" and out.step.command == "source"
    texts = [s.text for s in lab.journal.steps]
    assert texts == [f"source {f}", "ns add s1 s2", "veth s1 s2", "s1 addr add eth0 10.5.0.1/24"]
    assert ip_j(lab, "s1", "-4", "addr", "show", "dev", "eth0")[0]["addr_info"][0]["local"] == "10.5.0.1"


def test_a_failed_line_fails_the_source_step_naming_file_and_line(lab: Lab, tmp_path: Path) -> None:
    f = tmp_path / "bad.lab"
    f.write_text("ns add t1\nt1 link nosuch up\nns add t2\n")
    out = lab.run(f"source {f}")
    assert not out.ok and out.step is not None and out.step.text == f"source {f}"
    assert out.step.outcome == "failed"
    assert out.error is not None and out.error.startswith(f"{f}:2: "), out.error
    assert "nosuch" in out.error
    assert sorted(os.listdir("/run/netns")) == ["t1"]  # line 1 stays (its own step), line 3 never ran


def test_save_after_source_rebuilds_the_same_lab_once(lab: Lab, tmp_path: Path) -> None:
    f, saved = tmp_path / "f.lab", tmp_path / "saved.lab"
    f.write_text(BUILD)
    assert lab.run(f"source {f}").ok
    assert lab.run("s2 addr add eth0 10.5.0.2/24").ok
    assert lab.run(f"save {saved}").ok
    lines = [line for line in saved.read_text().splitlines() if line and not line.startswith("#")]
    assert lines == [*BUILD.splitlines(), "s2 addr add eth0 10.5.0.2/24"]
    # undo walks F's lines one at a time, newest first
    assert lab.run("undo 2").ok
    assert ip_j(lab, "s1", "-4", "addr", "show", "dev", "eth0") == []
    assert [x["ifname"] for x in ip_j(lab, "s1", "link", "show")] == ["lo", "eth0"]
    assert lab.run(f"source {f}").ok is False  # s1 s2 are still there
    assert lab.run("reset").ok and os.listdir("/run/netns") == []
    assert lab.run(f"source {f}").ok and lab.run("s2 addr add eth0 10.5.0.2/24").ok
    want = lab_world(lab)
    assert lab.run("reset").ok
    assert all(o.ok for o in lab.run_file(str(saved)))
    assert lab_world(lab) == want


@pytest.fixture
def repl(lab: Lab, tmp_path: Path):
    with create_pipe_input() as inp:
        r = Repl(lab, Renderer(file=io.StringIO(), color=False), pt_input=inp, pt_output=DummyOutput(),
                 history=tmp_path / "history")
        r.pipe = inp  # type: ignore[attr-defined]
        yield r


def test_the_repl_refreshes_after_source(repl: Repl, lab: Lab, tmp_path: Path) -> None:
    f = tmp_path / "f.lab"
    f.write_text(BUILD)

    def typing() -> None:
        time.sleep(0.15)
        repl.pipe.send_text(f"source {f}\r")  # type: ignore[attr-defined]

    threading.Thread(target=typing, daemon=True).start()
    repl.run_line(repl.session.prompt(repl.prompt))
    assert sorted(repl.inv.namespaces) == ["s1", "s2"]  # what completion and the toolbar read
    assert repl.inv.counts[:2] == (2, 2)
    assert f"last: source {f}"[:46] in repl.toolbar()


# -- 2. two Labs in one process share /run/netns: each closes only its own ------------------

def netns_names() -> list[str]:
    """The oracle: `ip -j netns list` (the process's private /run/netns)."""
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return sorted(n["name"] for n in json.loads(out or "[]"))


def test_closing_one_lab_leaves_the_other_labs_namespaces() -> None:
    with Lab() as one:
        assert one.run("ns add a1 shared").ok
        with Lab() as two:
            assert two.run("ns add b1").ok
            out = two.run("ns add shared")
            assert not out.ok and "exists" in (out.error or "")
            out = two.run("ns add b2 shared")  # the step fails whole: b2 goes, the other's shared stays
            assert not out.ok and "exists" in (out.error or "")
            assert netns_names() == ["a1", "b1", "shared"]
        assert netns_names() == ["a1", "shared"] == sorted(os.listdir("/run/netns"))
        assert [x["ifname"] for x in ip_j(one, "shared", "link", "show")] == ["lo"]
        assert one.run("a1 link lo up").ok
    assert netns_names() == []


def test_a_name_made_again_by_another_lab_is_not_removed() -> None:
    with Lab() as one, Lab() as two:
        assert one.run("ns add re").ok
        subprocess.run(["ip", "netns", "del", "re"], check=True)  # gone underneath one
        assert two.run("ns add re").ok and two.run("re link lo up").ok
        ino = os.stat("/run/netns/re").st_ino
        one.close()
        assert netns_names() == ["re"] and os.stat("/run/netns/re").st_ino == ino
        assert "UP" in ip_j(two, "re", "link", "show", "lo")[0]["flags"]
        two.close()
        assert netns_names() == []
