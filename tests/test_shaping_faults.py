"""`link EP flap`, for real: `ip -j link show` (run by nsenter) sees the link go down and up, and
stopping it (flap stop, undo, reset, the lab's end) leaves the link as it was before the flap;
and the dry run refuses and accepts shaping and flap lines as the real run does."""

from __future__ import annotations

import threading
import time

from conftest import ip_j
from test_model_contract import run_both
from test_shaping import NO_NETEM, ok, pair, qdiscs

from nslab.engine.dryrun import ModelLab
from nslab.handlers import HANDLERS
from nslab.lab import Lab, dry_run
from nslab.lang.labfile import parse_text


def is_up(lab: Lab, ns: str, dev: str) -> bool:
    (link,) = ip_j(lab, ns, "link", "show", "dev", dev)
    return "UP" in link["flags"]


def watch(lab: Lab, ns: str, dev: str, seconds: float) -> list[bool]:
    """The link's UP flag as the oracle saw it, every 20 ms, with repeats squeezed out."""
    seen: list[bool] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        up = is_up(lab, ns, dev)
        if not seen or seen[-1] != up:
            seen.append(up)
        time.sleep(0.02)
    return seen


def flap_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("nslab-flap-")]


def test_flap_takes_the_link_down_and_up_count_times_then_leaves_it_up(lab):
    pair(lab)
    ok(lab, "a link eth0 flap 2 --down 0.3 --up 0.3")
    assert watch(lab, "a", "eth0", 1.6) == [False, True, False, True]
    assert flap_threads() == []  # the count ran out: the thread ended
    (table,) = [e for e in ok(lab, "link ls a") if hasattr(e, "rows")]
    carries = {r[1]: r[table.columns.index("carries")] for r in table.rows}
    assert carries["eth0"] == "flap ended after 2"
    ok(lab, "undo")  # nothing left to stop: the link stays as it was before the flap
    assert is_up(lab, "a", "eth0")


def test_link_ls_shows_a_running_flap_and_undo_stops_it_leaving_the_link_as_it_was(lab):
    pair(lab)
    ok(lab, "a link eth0 flap --down 0.2 --up 0.2")
    assert False in watch(lab, "a", "eth0", 0.3)  # going down and up
    (table,) = [e for e in ok(lab, "link ls a") if hasattr(e, "rows")]
    carries = {r[1]: r[table.columns.index("carries")] for r in table.rows}
    assert carries["eth0"].startswith("flapping ") and "(down 0.2s, up 0.2s)" in carries["eth0"]
    out = lab.run("a link eth0 flap")
    assert out.error == "a:eth0 is flapping already (link a:eth0 flap stop)"
    ok(lab, "undo")
    assert flap_threads() == []
    assert watch(lab, "a", "eth0", 0.6) == [True]  # up, as before the flap, and it stays so


def test_flap_stop_leaves_a_link_that_was_down_down(lab):
    pair(lab)
    ok(lab, "b link eth0 down", "b link eth0 flap --down 0.1 --up 0.1")
    assert True in watch(lab, "b", "eth0", 0.3)
    ok(lab, "b link eth0 flap stop")
    assert watch(lab, "b", "eth0", 0.4) == [False]
    assert lab.run("b link eth0 flap stop").error == "b:eth0 is not flapping"
    ok(lab, "undo", "undo")  # the stop (which undoes nothing), then the flap: still down
    assert not is_up(lab, "b", "eth0")


def test_reset_and_the_end_of_the_lab_stop_every_flap():
    with Lab() as lab:
        pair(lab)
        ok(lab, "a link eth0 flap --down 0.1 --up 0.1", "b link eth0 flap --down 0.1 --up 0.1")
        assert len(flap_threads()) == 2
        ok(lab, "reset")
        assert flap_threads() == [] and lab.nss.names() == []
        pair(lab)
        ok(lab, "a link eth0 flap --down 0.1 --up 0.1")
        assert flap_threads() == ["nslab-flap-eth0"]
    assert flap_threads() == []


# -- the dry run --------------------------------------------------------------------------
SHAPING = """ns add a b
veth a:eth0 b:eth0
a link eth0 up
b link eth0 up
a link eth0 rate 10mbit
a link eth0 rate 1mbit burst 2k latency 5ms --both
a link nope rate 1mbit
c link eth0 rate 1mbit
a link eth0 delay 10ms
a link eth0 delay 1ms loss 1% --both
a link lo rate 1mbit --both
b link eth0 clear --both
b link eth0 clear
undo
a link eth0 clear
b link eth0 name wan
b link wan rate 2mbit
undo
undo
b link eth0 rate 1mbit
b link eth0 netns host
link eth0 rate 2mbit
link eth0 name wan
undo
"""


def test_the_model_follows_the_kernel_through_shaping_with_the_same_verdicts():
    failed = run_both(parse_text(SHAPING, "shaping.lab").commands)
    assert failed == ["a link nope rate 1mbit", "c link eth0 rate 1mbit", "a link eth0 delay 10ms",
                      "a link eth0 delay 1ms loss 1% --both", "a link lo rate 1mbit --both"]


def test_the_model_carries_what_tc_shows():
    model = ModelLab(HANDLERS)
    with Lab() as lab:
        for cmd in parse_text(SHAPING, "shaping.lab").commands:
            lab.execute(cmd)
            try:
                model.run(cmd)
            except Exception:
                pass
            for ns in ("host", "a", "b"):
                if ns not in model.state.nss:
                    continue
                want = {link["ifname"]: q for link in ip_j(lab, ns, "link", "show")
                        for q in qdiscs(lab, ns, link["ifname"]) if q.get("root") and q["handle"] != "0:"}
                got = model.view.shaping(ns)
                assert {n: (q["kind"], q["options"]["rate"] * 8) for n, q in want.items()} == \
                       {n: (q["kind"], q["rate"]) for n, q in got.items()}, cmd.text


def test_the_dry_run_refuses_flaps_as_the_real_run_does():
    text = ("ns add a\nveth a:eth0 x0\na link eth0 flap --down 0.1 --up 0.1\na link eth0 flap\n"
            "a link eth0 flap stop\na link eth0 flap stop\na link nope flap\na link eth0 delay 1ms\n")
    problems, _ = dry_run(parse_text(text, "flap.lab").commands)
    with Lab() as lab:
        real = [(line, lab.run(line).error) for line in text.splitlines()]
    assert [(p.line, p.message) for p in problems] == [(line, e) for line, e in real if e is not None]
    assert [p.message for p in problems] == ["a:eth0 is flapping already (link a:eth0 flap stop)",
                                            "a:eth0 is not flapping", "no interface a:nope", NO_NETEM]
