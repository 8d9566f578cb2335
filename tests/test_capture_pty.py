"""`capture` at a real terminal: Ctrl-C ends a foreground capture cleanly with its counts, and a
background capture's lines come above the prompt while the lab pings (tests/test_repl_pty.py's harness)."""

from __future__ import annotations

import time

import pytest
from test_repl_pty import Terminal


@pytest.fixture
def term(tmp_path):
    t = Terminal(str(tmp_path))
    yield t
    t.close()


def test_ctrl_c_ends_a_foreground_capture_with_its_counts(term):
    term.wait_for(r"nslab>")
    term.type("capture lo\r")  # the lab's host: lo is up, nothing else sends on it
    time.sleep(1.0)
    term.type("\x03")
    term.wait_for(r"capture ended \(Ctrl-C\):\s+host:lo: 0 packets, 0 dropped by the kernel")
    term.wait_for(r"nslab>")
    assert "interrupted" not in term.text() and "error" not in term.text()
    term.type("history\r")
    term.wait_for(r"capture lo\s.*ok")  # a clean end, not a failed or interrupted step
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def test_background_capture_lines_come_while_the_lab_pings(term):
    term.wait_for(r"nslab>")
    term.type("capture start lo -- icmp\r")
    term.wait_for(r"capture 1 started on host:lo")
    term.wait_for(r"nslab>")
    term.type("ping -c 2 -i 0.3 127.0.0.1\r")
    term.wait_for(r"\[1\] \d\d:\d\d:\d\d\.\d{6} host:lo (In |Out) 00:00:00:00:00:00 > 00:00:00:00:00:00, ethertype IPv4 "
                  r"\(0x0800\), length 98: 127\.0\.0\.1 > 127\.0\.0\.1: ICMP echo request, id \d+, seq 2, length 64")
    term.wait_for(r"nslab>")
    term.type("capture stop\r")
    term.wait_for(r"capture 1 ended \(capture stop\):\s+host:lo: 8 packets")  # 2 echoes and 2 replies, out and in
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def test_background_lines_come_above_a_waiting_prompt(term):
    term.wait_for(r"nslab>")
    term.type("capture start lo -- icmp\r")
    term.wait_for(r"capture 1 started on host:lo")
    term.wait_for(r"nslab>")
    # a ping that starts after the step has ended: its packets come while the prompt waits
    term.type("exec sh -c '(sleep 1; ping -n -c 2 -i 0.3 127.0.0.1 >/dev/null 2>&1) &'\r")
    term.wait_for(r"nslab>")
    term.wait_for(r"\[1\] [\d:.]+ host:lo (In |Out) .*ICMP echo reply, id \d+, seq 2, length 64[\s\S]*nslab>")
    term.type("ns add after\r")  # the prompt still reads keys
    term.wait_for(r"added after")
    term.type("capture stop\r")
    term.wait_for(r"capture 1 ended \(capture stop\):\s+host:lo: 8 packets")
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0
