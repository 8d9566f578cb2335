"""What a step changed, in words, from the lab's state before and after it (issue 12, item 6), and
what undo says it undid (and does not say about programs that changed nothing).  The kernel is
judged by `ip -j`; the words by what a student reads."""

from __future__ import annotations

from collections import Counter

from conftest import ip_j

from nslab.base.results import Changes, Message
from nslab.lab import Lab

UPLINK = ["ns add lan", "veth eth0 lan:eth0", "lan addr add eth0 192.168.137.1/24", "lan link eth0 up",
          "addr add eth0 192.168.137.55/24", "link eth0 up", "route add default via 192.168.137.1"]


def changes(lab: Lab, line: str) -> list[str]:
    out = lab.run(line)
    assert out.ok, (line, out.error)
    return [text for e in out.events if isinstance(e, Changes) for text in e.lines]


def messages(lab: Lab, line: str) -> list[Message]:
    out = lab.run(line)
    assert out.ok, (line, out.error)
    return [e for e in out.events if isinstance(e, Message)]


def test_addr_del_shows_the_default_route_the_kernel_took_with_it(lab: Lab) -> None:
    lab.read_changes = True
    for line in UPLINK:
        changes(lab, line)
    assert [r["dst"] for r in ip_j(lab, "host", "route", "show")].count("default") == 1
    said = changes(lab, "addr del eth0 192.168.137.55/24")
    assert said == ["eth0 no longer has 192.168.137.55/24",
                    "the default route via 192.168.137.1 went with it (by the kernel)"]
    assert "default" not in [r["dst"] for r in ip_j(lab, "host", "route", "show")]  # the oracle agrees


def test_the_ops_own_changes_read_as_sentences(lab: Lab) -> None:
    lab.read_changes = True
    assert changes(lab, "ns add ns1") == ["ns1 is a new namespace"]
    assert changes(lab, "veth veth0 ns1:eth0") == ["veth0 and ns1:eth0 are a new veth pair"]
    assert changes(lab, "ns1 addr add eth0 10.0.0.1/24") == ["ns1:eth0 has 10.0.0.1/24"]
    assert changes(lab, "ns1 link eth0 up") == ["ns1:eth0 is up"]
    # lo's addresses come with it up: the kernel's doing, and said so
    assert changes(lab, "ns1 link lo up") == ["ns1:lo is up", "ns1:lo has 127.0.0.1/8 (by the kernel)",
                                              "ns1:lo has ::1/128 (by the kernel)"]
    assert changes(lab, "bridge add br0") == ["br0 is a new bridge, up"]
    assert changes(lab, "link veth0 name v0") == ["veth0 is now called v0"]
    # a veth's other end goes with it
    assert changes(lab, "link del v0") == ["v0 is gone", "ns1:eth0 went with it (by the kernel)"]
    assert [m["ifname"] for m in ip_j(lab, "ns1", "link", "show")] == ["lo"]


def test_a_move_and_a_namespace_deleted_with_a_veth_end_inside(lab: Lab) -> None:
    lab.read_changes = True
    changes(lab, "ns add a b")
    changes(lab, "veth x0 a:x1")
    changes(lab, "addr add x0 10.1.0.1/24")
    changes(lab, "link x0 up")
    assert changes(lab, "link x0 netns b") == [
        "x0 is in b now: b:x0; it arrived down and without 10.1.0.1/24 (by the kernel)"]
    assert not ip_j(lab, "b", "addr", "show", "x0")[0]["addr_info"]  # the oracle: bare, as said
    assert changes(lab, "ns del a") == ["namespace a is gone, with x1", "b:x0 went with it (by the kernel)"]
    assert [m["ifname"] for m in ip_j(lab, "b", "link", "show")] == ["lo"]


def test_without_reading_the_ops_say_what_they_did_in_the_same_words_and_cost_nothing(lab: Lab) -> None:
    assert not lab.read_changes  # the library's default: the star keeps its requests per namespace
    for line in UPLINK[:-1]:
        changes(lab, line)
    before = Counter(lab.nss.requests)
    said = changes(lab, "link eth0 down")
    spent = Counter(lab.nss.requests)
    spent.subtract(before)
    assert said == ["eth0 is down"]
    lab.read_changes = True
    before = Counter(lab.nss.requests)
    changes(lab, "link eth0 up")
    read = Counter(lab.nss.requests)
    read.subtract(before)
    assert sum(read.values()) > sum(spent.values())  # what the reads cost, only where they are shown


def test_a_program_that_changed_its_namespace_says_so(lab: Lab) -> None:
    changes(lab, "ns add a")
    said = changes(lab, "a ip link add d0 type veth peer name d1")
    assert len(said) == 1 and said[0].endswith(" are a new veth pair (by the program)"), said
    assert set(said[0].split()[:3]) == {"a:d0", "and", "a:d1"}, said  # the kernel's order, either way round
    assert {m["ifname"] for m in ip_j(lab, "a", "link", "show")} == {"lo", "d0", "d1"}
    assert changes(lab, "a ip -br link") == []  # it only looked


def test_undo_says_what_it_undid_step_by_step(lab: Lab) -> None:
    changes(lab, "veth veth0 veth1")
    changes(lab, "addr add veth0 10.2.0.1/24")
    n = lab.journal.steps[0].n
    said = [m.text for m in messages(lab, "undo 2")]
    assert said == [f"undid step {n + 1}: addr add veth0 10.2.0.1/24 (took 10.2.0.1/24 off veth0)",
                    f"undid step {n}: veth veth0 veth1 (removed veth0 and veth1)"]
    assert [m["ifname"] for m in ip_j(lab, "host", "link", "show")] == ["lo"]


def test_undo_is_silent_about_programs_that_changed_nothing(lab: Lab) -> None:
    changes(lab, "ns add a")
    changes(lab, "veth a:e0 a:e1")
    for _ in range(8):
        assert lab.run("a ip -br link").ok  # the student looks around
    said = messages(lab, "undo")
    assert [m.style for m in said] == ["ok"] and said[0].text.endswith("(removed a:e0 and a:e1)"), said


def test_undo_names_a_program_that_changed_the_lab_once(lab: Lab) -> None:
    changes(lab, "ns add a")
    assert lab.run("a ip link set lo up").ok
    assert lab.run("a ip -br link").ok
    said = messages(lab, "undo")
    warned = [m.text for m in said if m.style == "warn"]
    assert len(warned) == 1 and "`a ip link set lo up`" in warned[0] and "a:lo is up" in warned[0], warned
    assert said[-1].text.startswith("undid step") and "removed namespace a" in said[-1].text


def test_a_student_at_the_terminal_sees_the_route_go_with_the_address(tmp_path) -> None:
    """The REPL in a real pseudo-terminal: each step's changes are shown under it, in words, and
    the kernel's side effect is marked as its doing."""
    from test_repl_pty import Terminal

    term = Terminal(str(tmp_path))
    try:
        term.wait_for(r"nslab>")
        for line in UPLINK[:-2]:
            term.type(line + "\r")
            term.wait_for(r"nslab>")
        term.type("link eth0 up\r")
        term.wait_for(r"\n  eth0 is up\n")
        term.type("route add default via 192.168.137.1\r")
        term.wait_for(r"the default route goes via 192\.168\.137\.1 \(dev eth0\)")
        term.type("addr del eth0 192.168.137.55/24\r")
        term.wait_for(r"eth0 no longer has 192\.168\.137\.55/24\n"
                      r"  the default route via 192\.168\.137\.1 went with it \(by the kernel\)\n")
        term.wait_for(r"nslab>")
        term.type("exec ip -j route show\r")  # the oracle, iproute2 run in the lab: no route is left
        term.wait_for(r"\n\[\]\s*\n")
        term.type("exit!\r")
        assert term.proc.wait(timeout=15) == 0
    finally:
        term.close()
