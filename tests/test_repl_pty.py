"""End to end: the real `nslab` REPL in a pseudo-terminal, typed at as a person would; then `nslab attach`."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from conftest import ROOT

from nslab.kernel import isolate

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\r")


class Terminal:
    """`python -m nslab [ARGS]` on a pty: type, then wait for text to appear on the screen."""

    def __init__(self, tmp: str, *args: str) -> None:
        self.env = dict(os.environ, TERM="xterm", XDG_STATE_HOME=tmp, NSLAB_RUNTIME_DIR=tmp, SHELL="/bin/sh",
                        COLUMNS="120", LINES="40")
        self.env.pop(isolate.MARK, None)
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.set_blocking(self.master, False)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "nslab", *args], stdin=slave, stdout=slave, stderr=slave,
                                     env=self.env, cwd=ROOT, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))  # Ctrl-C -> SIGINT
        os.close(slave)
        self.screen = b""

    def read(self) -> None:
        while select.select([self.master], [], [], 0.02)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            if b"\x1b[6n" in chunk:  # prompt_toolkit asks where the cursor is: answer as a terminal does
                os.write(self.master, b"\x1b[1;1R")
            self.screen += chunk

    def text(self) -> str:
        return ANSI.sub(b"", self.screen).decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 15.0) -> float:
        """Seconds until `pattern` (a regex) shows in what the terminal received since the last mark."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            self.read()
            if re.search(pattern, self.text()):
                return time.perf_counter() - t0
            if self.proc.poll() is not None:
                self.read()
                break
        raise AssertionError(f"{pattern!r} never appeared; the terminal shows:\n{self.text()[-3000:]}")

    def type(self, keys: str) -> None:
        self.screen = b""  # what comes next is the answer to these keys
        for ch in keys:
            os.write(self.master, ch.encode())
            time.sleep(0.01)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # our own child, by its handle
        self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def term(tmp_path):
    t = Terminal(str(tmp_path))
    yield t
    t.close()


def test_a_person_at_the_terminal(term):
    term.wait_for(r"nslab>")
    term.type("ns add alpha\r")
    term.wait_for(r"added alpha")
    term.wait_for(r"nslab>")
    term.type("enter al")
    time.sleep(0.3)  # completion runs while typing; Tab then takes it
    term.type("\t")
    time.sleep(0.3)
    term.type("\r")  # `enter al` alone would fail: the prompt below shows Tab completed it
    term.wait_for(r"nslab\(alpha\)>")
    term.type("link ls\r")
    term.wait_for(r"links[\s\S]*alpha[\s\S]*lo[\s\S]*loopback")
    term.type("exit\r")
    term.wait_for(r"leave\? \[y/N\]")
    term.type("y\r")
    assert term.proc.wait(timeout=15) == 0


def test_ctrl_c_stops_a_ping_not_the_repl(term):
    term.wait_for(r"nslab>")
    term.type("ping -c 100 127.0.0.1\r")
    term.wait_for(r"icmp_seq=2")
    term.type("\x03")
    term.wait_for(r"interrupted")
    term.wait_for(r"nslab>")
    term.type("ns add still\r")
    term.wait_for(r"added still")
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def test_attach_joins_the_running_lab(term, tmp_path):
    term.wait_for(r"nslab>")
    term.type("ns add alpha\r")
    term.wait_for(r"nslab>")
    term.type("veth alpha:eth7 host:peer7\r")
    term.wait_for(r"nslab>")
    env = dict(term.env)

    def attach(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nslab", "attach", *args], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=30)

    # the oracle is iproute2, run by attach inside the lab's namespaces
    r = attach("alpha", "--", "ip", "-o", "link")
    assert r.returncode == 0, r.stderr
    assert "eth7" in r.stdout and "peer7" not in r.stdout
    r = attach("host", "--", "ip", "-o", "link")
    assert r.returncode == 0, r.stderr
    assert "peer7" in r.stdout and "eth7" not in r.stdout
    r = attach("nosuch", "--", "true")
    assert r.returncode == 2 and "no namespace 'nosuch'" in r.stderr and "alpha" in r.stderr
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0
    r = attach("alpha", "--", "true")
    assert r.returncode == 2 and "no running isolated lab" in r.stderr


def test_first_prompt_comes_quickly(term):
    took = term.wait_for(r"nslab>")
    # the goal is 0.3 s (README); a loaded CI machine gets slack, a regression (a second) does not
    assert took < 1.0, took
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0


def test_shell_opens_the_persons_shell_inside_the_namespace(term):
    """`shell NS` runs the environment's $SHELL (here /bin/sh) on the terminal, inside NS: the shell
    itself reports its namespace (the oracle: `ip -br link`, not nslab) and nslab's prompt returns."""
    term.wait_for(r"nslab>")
    term.type("ns add inner\r")
    term.wait_for(r"added inner")
    term.type("veth inner:probe0 outer0\r")
    term.wait_for(r"new veth pair")
    term.type("shell inner\r")
    term.wait_for(r"\(nslab:inner\)")  # the shell's own prompt: keys typed before it would go to nslab's
    term.type("echo ns=$NSLAB_NS shell=$0; ip -br link show probe0\r")
    term.wait_for(r"ns=inner shell=/bin/sh")
    term.wait_for(r"probe0@")
    term.type("exit\r")
    term.wait_for(r"nslab>")
    term.type("exit!\r")
    assert term.proc.wait(timeout=15) == 0
