"""The teaching replay as a student sees it: the lab's title, the iproute2 form of every step, the
narration after `c`, a section's expects under one Enter; and, in a real terminal, `nslab run --step`
and an iproute2 line typed at the prompt."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
import time

import pytest
from conftest import ROOT, ip_j
from test_journal import keys, texts
from test_repl_pty import Terminal

from nslab.base.results import ExpectResult, Message
from nslab.engine.stepper import PROMPT, replay
from nslab.kernel import isolate
from nslab.lang.labfile import parse_text

LAB = """# Two namespaces and a cable

## Namespaces
# Two network stacks.
ns add ns1 ns2
expect ns ns1
expect ns ns2

## A cable
# One veth pair between them, with addresses.
veth ns1:eth0 ns2:eth0
ns1 addr add eth0 10.0.0.1/24
ns2 addr add eth0 10.0.0.2/24
# Both ends up.
ns1 link eth0 up
ns2 link eth0 up

## They reach each other
# ns1 pings ns2 once.
ns1 ping -c 1 10.0.0.2
ns1 expect reach 10.0.0.2
ns1 expect link eth0 up
ns2 expect addr eth0 10.0.0.2/24
"""


def test_the_title_then_every_step_with_its_iproute2_form(lab):
    ask, asked = keys(*[""] * 20)
    events = list(replay(lab, parse_text(LAB, "t.lab").commands, ask))
    words = texts(events)
    assert words[0] == "# Two namespaces and a cable"
    shown = [i for i, w in enumerate(words) if w.startswith("» ")]
    assert len(shown) == 12
    for i in shown:  # every step, lab-changing or not, shows its iproute2 form before its key
        assert words[i + 1].startswith("  iproute2: "), (words[i], words[i + 1])
    forms = [w for w in words if w.startswith("  iproute2: ")]
    assert "  iproute2: ip netns exec ns1 ping -c 1 10.0.0.2" in forms  # a probe: iputils ping in the namespace
    assert "  iproute2: ip netns exec ns1 ping -c1 -W2 10.0.0.2" in forms  # a goal: the check export sh writes
    assert "  iproute2: ip -n ns1 addr add 10.0.0.1/24 brd + dev eth0" in forms
    assert all(isinstance(e, ExpectResult) and e.ok for e in events if isinstance(e, ExpectResult))
    assert words[-1] == "replay: 12 run, 0 skipped, 0 not reached"


def test_a_sections_expects_are_one_stop(lab):
    ask, asked = keys(*[""] * 20)
    events = list(replay(lab, parse_text(LAB, "t.lab").commands, ask))
    # 12 steps: the two expects of "Namespaces" are one stop, the three of the last section another
    assert len(asked) == 9 and set(asked) == {PROMPT}
    at = {e.text: i for i, e in enumerate(events) if isinstance(e, Message)}
    first_result = next(i for i, e in enumerate(events) if isinstance(e, ExpectResult) and "reachable" in e.wanted)
    # all three shown before the one key, then all three run
    assert at["» ns1 expect reach 10.0.0.2"] < at["» ns1 expect link eth0 up"] < at["» ns2 expect addr eth0 10.0.0.2/24"] \
        < first_result
    results = [e for e in events if isinstance(e, ExpectResult)]
    assert len(results) == 5


def test_skipping_a_group_of_expects_skips_them_all(lab):
    ask, asked = keys("", "s", "q")
    words = texts(replay(lab, parse_text(LAB, "t.lab").commands, ask))
    assert "stopped before step 4 of 12" in words  # step 1 ran, steps 2-3 (one stop) skipped
    assert [s.text for s in lab.journal.steps] == ["ns add ns1 ns2"]


def test_after_c_the_narration_still_comes(lab):
    ask, asked = keys("", "c")
    events = list(replay(lab, parse_text(LAB, "t.lab").commands, ask))
    assert len(asked) == 2
    words = texts(events)
    after = words[words.index("» expect ns ns1"):]
    for said in ["## A cable", "  One veth pair between them, with addresses.", "  Both ends up.",
                 "## They reach each other", "  ns1 pings ns2 once.", "» ns2 link eth0 up"]:
        assert said in after
    assert after.index("  Both ends up.") < after.index("» ns1 link eth0 up")
    assert any(w.startswith("  ran: ip -n ns2 link set dev eth0 up") for w in after)
    assert "UP" in ip_j(lab, "ns2", "link", "show", "dev", "eth0")[0]["flags"]


class Program(Terminal):
    """Terminal's pty and screen, for `python -m nslab ARGS...` (the REPL when no ARGS)."""

    def __init__(self, tmp: str, *args: str) -> None:
        self.env = dict(os.environ, TERM="xterm", XDG_STATE_HOME=tmp, NSLAB_RUNTIME_DIR=tmp, SHELL="/bin/sh",
                        COLUMNS="120", LINES="40")
        self.env.pop(isolate.MARK, None)
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.set_blocking(self.master, False)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "nslab", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=self.env, cwd=ROOT, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.screen = b""


@pytest.fixture
def stepped(tmp_path):
    path = tmp_path / "t.lab"
    path.write_text(LAB)
    t = Program(str(tmp_path), "--no-color", "run", "--step", str(path))
    yield t
    t.close()


def test_run_step_in_a_terminal(stepped):
    stepped.wait_for(r"# Two namespaces and a cable[\s\S]*## Namespaces[\s\S]*Two network stacks\.[\s\S]*"
                     r"» ns add ns1 ns2\s+iproute2: ip netns add ns1\s+iproute2: ip netns add ns2\s+\[Enter\] run")
    stepped.type("\r")
    stepped.wait_for(r"added ns1, ns2[\s\S]*» expect ns ns1\s+iproute2: test -e /run/netns/ns1\s+"
                     r"» expect ns ns2\s+iproute2: test -e /run/netns/ns2\s+\[Enter\] run")
    stepped.type("\r")  # one Enter: both goals
    stepped.wait_for(r"✓ namespace ns1[\s\S]*✓ namespace ns2[\s\S]*## A cable[\s\S]*» veth ns1:eth0 ns2:eth0")
    stepped.type("c\r")
    stepped.wait_for(r"Both ends up\.\s+» ns1 link eth0 up[\s\S]*## They reach each other\s+ns1 pings ns2 once\.\s+"
                     r"» ns1 ping -c 1 10\.0\.0\.2\s+PING 10\.0\.0\.2 \(10\.0\.0\.2\) 56\(84\) bytes of data\.\s+"
                     r"64 bytes from 10\.0\.0\.2: icmp_seq=1 ttl=64 time=[\d.]+ ms[\s\S]*"
                     r"replay: 12 run, 0 skipped, 0 not reached")
    assert stepped.proc.wait(timeout=15) == 0


@pytest.fixture
def repl(tmp_path):
    t = Program(str(tmp_path))
    yield t
    t.close()


def test_an_iproute2_line_typed_at_the_prompt_gets_its_translation(repl):
    repl.wait_for(r"nslab>")
    repl.type("ip link add br0 type bridge\r")
    repl.wait_for(r"that is an iproute2 command line; in nslab: `bridge add br0`")
    repl.wait_for(r"nslab>")
    repl.type("bridge add br0\r")  # what it said, typed
    repl.wait_for(r"bridge br0 \(up\)")
    repl.wait_for(r"nslab>")
    repl.type("ip -n ns1 a add 10.0.0.1/24 dev eth0\r")
    repl.wait_for(r"in nslab: `ns1 addr add eth0 10\.0\.0\.1/24`")
