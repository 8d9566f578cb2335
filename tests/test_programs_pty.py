"""Programs at a terminal, from the student's side: the real REPL in a pseudo-terminal, keys in,
screen out.  A program runs on the terminal itself: its output streams live, it reads the keys,
Ctrl-C goes to it, and the REPL takes the terminal back afterwards.

The typed line is echoed on the screen too, so what a program prints is made to differ from what
was typed (`$((40+2))` prints 42; `cau""ght` prints caught)."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
import time

import pytest
from conftest import ROOT
from test_repl_pty import Terminal

from nslab.kernel import isolate

PROMPT = r"[\s\S]*nslab>"  # a prompt drawn after the text before it


@pytest.fixture
def term(tmp_path):
    t = Terminal(str(tmp_path))
    t.wait_for(r"nslab>")
    t.type("ns add pa pb\r")
    t.wait_for(r"added pa" + PROMPT)
    yield t
    t.close()


def _prompt_works_again(term: Terminal) -> None:
    term.type("ns add after\r")
    term.wait_for(r"added after" + PROMPT)
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def _history_row(term: Terminal, step: str) -> str:
    term.type("history\r")
    term.wait_for(r"outcome[\s\S]*nslab>")
    row = [line for line in term.text().splitlines() if step in line and "│" in line]
    assert row, term.text()
    return row[-1]


def test_a_programs_output_streams_while_it_runs(term):
    term.type("exec pa sh -c 'echo $((40+2)); sleep 1.5; echo $((50+5))'\r")
    term.wait_for(r"\n42\s")
    assert "55" not in term.text()  # the first line is on the screen while the program sleeps
    took = term.wait_for(r"\n55\s" + PROMPT)
    assert took > 1.0, took
    _prompt_works_again(term)


def test_a_program_reads_the_keys_and_ctrl_d_ends_it(term):
    term.type("exec pa tr a-z A-Z\r")
    time.sleep(0.5)
    term.type("hello nslab\r")
    term.wait_for(r"HELLO NSLAB")  # tr read the line from the terminal and wrote it back
    term.type("\x04")
    term.wait_for(PROMPT)
    assert "exec pa tr a-z A-Z" in _history_row(term, "tr a-z A-Z") and "│ ok" in _history_row(term, "tr a-z")
    _prompt_works_again(term)


def test_ctrl_c_stops_iputils_ping_which_prints_its_statistics(term):
    for line in ("veth pa:eth0 pb:eth0", "pa link eth0 up", "pb link eth0 up",
                 "pa addr add eth0 10.77.0.1/24", "pb addr add eth0 10.77.0.2/24"):
        term.type(line + "\r")
        term.wait_for(PROMPT)
    term.type("exec pa ping -n 10.77.0.2\r")
    term.wait_for(r"PING 10\.77\.0\.2 \(10\.77\.0\.2\)")  # iputils' own header: not nslab's built-in ping
    term.wait_for(r"icmp_seq=3 ttl=64")
    term.type("\x03")
    term.wait_for(r"--- 10\.77\.0\.2 ping statistics ---\s+\d+ packets transmitted, \d+ received" + PROMPT)
    assert "error" not in term.text(), term.text()
    assert "interrupted" in term.text()
    row = _history_row(term, "ping -n 10.77.0.2")
    assert "│ interrupted" in row, row
    _prompt_works_again(term)


def test_a_program_that_traps_ctrl_c_gets_to_print(term):
    # `ready` comes from the child Ctrl-C ends, once it runs: the trap is set by then
    term.type("""exec pa sh -c 'trap "echo cau""ght" INT; sh -c "echo rea""dy; exec sleep 5"'\r""")
    term.wait_for(r"\nready")
    term.type("\x03")
    took = term.wait_for(r"(\n|\^C)caught\s" + PROMPT)  # after the ^C the terminal echoed
    assert took < 3, took  # at once, not when the sleep would have ended
    _prompt_works_again(term)


def test_the_terminal_comes_back_in_its_own_modes(term):
    """A program that leaves the terminal raw (as a killed `less` does) does not leave it so."""
    term.type("exec pa stty raw -echo\r")
    term.wait_for(PROMPT)
    term.type("exec pa sh -c 'stty -a | grep -q -- -icanon && echo RAW$((1)) || echo COOKED$((1))'\r")
    term.wait_for(r"COOKED1" + PROMPT)
    assert "RAW1" not in term.text()
    _prompt_works_again(term)


def test_ctrl_z_does_not_hang_nslab(term):
    """nslab keeps no jobs: a program Ctrl-Z stopped is let run on, and the prompt comes back when it ends."""
    term.type("""exec pa sh -c 'echo rea""dy; sleep 1; echo do""ne'\r""")
    term.wait_for(r"\nready")
    term.type("\x1a")
    term.wait_for(r"(\n|\^Z)done\s" + PROMPT)  # after the ^Z the terminal echoed
    assert "│ ok" in _history_row(term, "sleep 1")
    _prompt_works_again(term)


def test_a_program_that_cannot_start_gives_the_terminal_back(term):
    term.type("exec pa no-such-program-x\r")
    term.wait_for(r"error: no program 'no-such-program-x' \(not found on PATH\)" + PROMPT)
    _prompt_works_again(term)


class RunOnTerminal(Terminal):
    """`nslab run FILE` on a pseudo-terminal that is its controlling terminal, as a person starts it."""

    def __init__(self, tmp: str, file: str) -> None:
        self.env = dict(os.environ, TERM="xterm", XDG_STATE_HOME=tmp, NSLAB_RUNTIME_DIR=tmp, COLUMNS="120")
        self.env.pop(isolate.MARK, None)
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.set_blocking(self.master, False)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "nslab", "run", file], stdin=slave, stdout=slave,
                                     stderr=slave, env=self.env, cwd=ROOT, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.screen = b""


def test_nslab_run_at_a_terminal_gives_a_program_the_keys(tmp_path):
    lab = tmp_path / "keys.lab"
    lab.write_text("ns add pa\nexec pa tr a-z A-Z\nns add pb\n")
    term = RunOnTerminal(str(tmp_path), str(lab))
    try:
        term.wait_for(r"added pa")
        time.sleep(0.5)
        term.type("hello nslab\r")
        term.wait_for(r"HELLO NSLAB")
        term.type("\x04")  # end of its input: the replay goes on
        term.wait_for(r"added pb[\s\S]*ok: 3/3 steps")
        assert term.proc.wait(timeout=15) == 0
    finally:
        term.close()


def test_tcpdump_at_the_prompt_shows_packets_as_they_arrive_and_its_summary_on_ctrl_c(term):
    """The issue's own case: `NS tcpdump -ni IF icmp` printed nothing while packets arrived and
    lost its summary on Ctrl-C.  The pings come from another terminal (`nslab attach NS -- ping`)."""
    for line in ("veth pa:eth0 pb:eth0", "pa link eth0 up", "pb link eth0 up",
                 "pa addr add eth0 10.78.0.1/24", "pb addr add eth0 10.78.0.2/24"):
        term.type(line + "\r")
        term.wait_for(PROMPT)
    term.type("pb tcpdump -ni eth0 icmp\r")
    term.wait_for(r"listening on eth0")
    pinger = subprocess.Popen([sys.executable, "-m", "nslab", "attach", "pa", "--", "ping", "-n", "-c", "3", "-i", "0.3",
                               "10.78.0.2"], env=term.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        term.wait_for(r"IP 10\.78\.0\.1 > 10\.78\.0\.2: ICMP echo request")  # on the screen while it runs
        assert pinger.wait(timeout=20) == 0
        term.wait_for(r"ICMP echo reply, id \d+, seq 3")
    finally:
        if pinger.poll() is None:
            pinger.kill()
    term.type("\x03")
    term.wait_for(r"6 packets captured[\s\S]*packets received by filter" + PROMPT)
    row = _history_row(term, "tcpdump -ni eth0 icmp")
    assert "│ interrupted" in row, row
    _prompt_works_again(term)
