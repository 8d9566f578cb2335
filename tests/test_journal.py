"""The journal as a teaching tool: history, save with contexts, teaching replay with keys."""

from __future__ import annotations

from conftest import ip_j, nslab_cli

from nslab.base.results import Changes, Message, Table
from nslab.engine.stepper import ip_preview, replay
from nslab.lang.labfile import parse_text

LAB = """# Two namespaces
## Namespaces
# Two network stacks.
ns add ns1 ns2
## A cable
# One veth pair between them.
veth ns1:eth0 ns2:eth0
ns1 addr add eth0 10.0.0.1/24
ns1 link eth0 up
"""


def keys(*answers: str):
    it = iter(answers)
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(it)

    return ask, asked


def texts(events) -> list[str]:
    return [e.text for e in events if isinstance(e, Message)]


def test_step_shows_section_narration_line_and_iproute2_then_runs(lab):
    cmds = parse_text(LAB, "t.lab").commands
    ask, asked = keys("", "s", "", "never asked")
    events = list(replay(lab, cmds, ask))
    words = texts(events)
    assert words[:6] == ["# Two namespaces", "## Namespaces", "  Two network stacks.", "» ns add ns1 ns2", "  iproute2: ip netns add ns1",
                         "  iproute2: ip netns add ns2"]
    assert "## A cable" in words and "skipped" in words
    assert len(asked) == 3  # the third step fails (its cable was skipped): the replay stops
    assert words[-1] == "replay: 2 run, 1 skipped, 1 not reached"
    assert any(isinstance(e, Changes) and "ns1 is a new namespace" in e.lines for e in events)
    # the oracle: ns1 exists and holds only lo (the veth was skipped)
    links = [x["ifname"] for x in ip_j(lab, "ns1", "link", "show")]
    assert links == ["lo"]
    assert [s.text for s in lab.journal.steps] == ["ns add ns1 ns2", "ns1 addr add eth0 10.0.0.1/24"]
    assert lab.journal.steps[1].outcome == "failed"  # no eth0: the replay stops there


def test_q_stops_before_the_step(lab):
    ask, asked = keys("", "q")
    words = texts(replay(lab, parse_text(LAB, "t.lab").commands, ask))
    assert "stopped before step 2 of 4" in words and len(lab.journal.steps) == 1


def test_c_runs_the_rest_without_asking(lab):
    cmds = parse_text(LAB, "t.lab").commands
    ask, asked = keys("c")
    list(replay(lab, cmds, ask))
    assert len(asked) == 1
    addrs = ip_j(lab, "ns1", "-4", "addr", "show", "dev", "eth0")
    assert addrs[0]["addr_info"][0]["local"] == "10.0.0.1"
    assert "UP" in ip_j(lab, "ns1", "link", "show", "dev", "eth0")[0]["flags"]


def test_ip_preview_is_what_the_step_will_run(lab):
    for line in ["ns add ns1", "veth veth0 ns1:eth0"]:
        assert lab.run(line).ok
    cmds = parse_text("ns add ns2 ns3\nns1 addr add eth0 10.0.0.1/24\nns1 route add default via 10.0.0.254\n"
                      "link veth0 mtu 1400\nveth ns2 ns3\nbridge br0 add veth0\nlink nosuch up\naddr add nosuch 10.1.0.1/24\n",
                      "t").commands
    assert [ip_preview(lab, c) for c in cmds] == [
        ["ip netns add ns2", "ip netns add ns3"],
        ["ip -n ns1 addr add 10.0.0.1/24 brd + dev eth0"],
        ["ip -n ns1 route add default via 10.0.0.254"],
        ["ip link set dev veth0 mtu 1400"],
        ["ip link add name ns2 type veth peer name ns3"],  # not namespaces (yet): interface names in host
        ["ip link add name br0 type bridge", "ip link set dev br0 up", "ip link set dev veth0 master br0",
         "ip link set dev veth0 up"],
        ["ip link set dev nosuch up"],  # the op finds out when it runs, as `ip` would
        ["(would fail: no interface nosuch)"],
    ]
    # planning changed nothing: the same lines are what a real run applies
    assert lab.run("ns add ns2 ns3").ok and lab.last.ip == ["ip netns add ns2", "ip netns add ns3"]
    assert ip_preview(lab, cmds[4]) == ["ip -n ns2 link add name eth0 type veth peer name eth0 netns ns3"]


def test_run_step_from_the_command_line(tmp_path):
    path = tmp_path / "t.lab"
    path.write_text(LAB)
    r = nslab_cli("--no-color", "run", "--step", str(path), input="\n\nq\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "One veth pair between them." in r.stdout and "iproute2: ip netns add ns1\n" in r.stdout and "iproute2: ip netns add ns2\n" in r.stdout
    assert "ns1:eth0 and ns2:eth0 are a new veth pair" in r.stdout  # what changed, after the step
    assert "replay: 2 run, 0 skipped, 2 not reached" in r.stdout


def test_history_and_save_write_contexts_and_leave_out_failures(lab, tmp_path):
    for line in ["ns add a", "enter a", "bridge add br0", "ping -c 1 -W 0.2 10.9.9.9", "link nosuch up", "leave",
                 "veth x0 a:eth0"]:
        lab.run(line)
    out = lab.run("history")
    table = next(e for e in out.events if isinstance(e, Table))
    assert [r[-1] for r in table.rows] == ["ok", "ok", "ok", "failed", "failed", "ok", "ok"]
    out = lab.run("history --ip 2")
    table = next(e for e in out.events if isinstance(e, Table))
    assert table.rows[-1][2] == "ip link add name x0 type veth peer name eth0 netns a"
    assert lab.run(f"save {tmp_path}/s.lab").ok
    assert (tmp_path / "s.lab").read_text() == "ns add a\na bridge add br0\nveth x0 a:eth0\n"


def test_source_in_the_repl_steps_when_the_face_reads_keys(lab, tmp_path):
    path = tmp_path / "t.lab"
    path.write_text(LAB)
    ask, asked = keys("", "s", "q")
    lab.ask = ask  # what the REPL gives a lab at a terminal
    out = lab.run(f"source {path}")
    assert len(asked) == 3
    assert "## A cable" in texts(out.events)
    assert lab.nss.exists("ns2") and [x["ifname"] for x in ip_j(lab, "ns1", "link", "show")] == ["lo"]
    lab.ask = None  # not at a terminal: the whole file runs
    lab.run("reset")
    out = lab.run(f"source {path}")
    assert out.ok, out.error
    assert ip_j(lab, "ns1", "-4", "addr", "show", "dev", "eth0")[0]["addr_info"][0]["local"] == "10.0.0.1"


def test_an_undo_that_removes_the_context_namespace_returns_to_host(lab):
    """Before, the context kept naming a namespace the undo had deleted: every next line failed."""
    assert lab.run("ns add a").ok and lab.run("enter a").ok and lab.context == "a"
    assert lab.run("undo 2").ok
    assert lab.context == "host" and not lab.nss.exists("a")
    out = lab.run("link ls")
    assert out.ok, out.error
