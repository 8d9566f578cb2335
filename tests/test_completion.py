"""Completion over a real lab (the pure "what fits here" tests are in tests/pure/test_completion_pure.py)."""

from __future__ import annotations

import statistics
import time

from prompt_toolkit.document import Document

from nslab.faces.completion import LabCompleter, read_inventory


def completions(completer, text: str) -> dict[str, str]:
    return {c.text: c.display_meta_text for c in completer.get_completions(Document(text), None)}


def test_completer_over_a_real_lab(lab):
    for line in ("ns add ns1 ns2", "veth ns1:eth0 ns2:eth0", "addr add ns1:eth0 10.0.0.1/24", "link ns1:eth0 up",
                 "bridge add br0"):
        assert lab.run(line).ok, line
    inv = read_inventory(lab)
    state = {"ctx": "host"}
    completer = LabCompleter(lambda: (state["ctx"], inv))
    assert set(completions(completer, "enter ")) == {"host", "ns1", "ns2"}
    got = completions(completer, "link ns1:")
    assert set(got) == {"ns1:lo", "ns1:eth0"}
    assert got["ns1:eth0"] == "veth, up, 10.0.0.1/24"
    assert completions(completer, "ns2 ping ").get("10.0.0.1") == "ns1:eth0"
    assert "br0" in completions(completer, "bridge del ")
    # the context decides what a bare interface name means
    assert "eth0" not in completions(completer, "link ")
    state["ctx"] = "ns2"
    assert "eth0" in completions(completer, "link ")
    # a completion replaces the partial word only
    c = next(iter(completer.get_completions(Document("link ns1:e"), None)))
    assert (c.text, c.start_position) == ("ns1:eth0", -len("ns1:e"))


def test_completion_is_fast_with_a_thousand_interfaces(lab):
    for i in range(500):
        assert lab.run(f"veth v{i}a v{i}b").ok
    inv = read_inventory(lab)
    assert inv.counts[1] >= 1000
    completer = LabCompleter(lambda: ("host", inv))
    for text in ("link ", "link v4", "bridge br0 add v1"):
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            n = len(list(completer.get_completions(Document(text), None)))
            times.append(time.perf_counter() - t0)
        assert n >= 10
        assert statistics.median(times) < 0.010, (text, statistics.median(times))


def test_bridge_ports_leave_out_the_bridge_and_its_ports(lab):
    from nslab.faces.completion import complete, read_inventory

    for line in ["veth v0 v1", "veth v2 v3", "bridge br0 add v0"]:
        assert lab.run(line).ok
    offered = {c.text for c in complete("bridge br0 add ", "host", read_inventory(lab))}
    assert {"v1", "v2", "v3"} <= offered
    assert "br0" not in offered and "v0" not in offered


def test_the_prompt_completes_the_logical_line_of_the_cursor(lab):
    assert lab.run("veth v0 v1").ok
    inv = read_inventory(lab)
    completer = LabCompleter(lambda: ("host", inv))
    assert set(completions(completer, "link \\\n  v")) == {"v0", "v1"}  # a `\` continued line is one command
    assert "enter" in completions(completer, "link v0 up\nen")       # a new line is a new command
    c = next(iter(completer.get_completions(Document("source 'no such fi"), None)), None)
    assert c is None  # inside an open quote: the quoted file, never a command word
