"""An isolated nslab's listening socket is made in the namespace nslab was started in
(kernel/outside.py): from this test process, outside the lab, it answers; a socket the lab's
process binds itself does not (its 127.0.0.1 is another namespace's)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from conftest import ROOT

from nslab.kernel import isolate

LAB_SIDE = r"""
import os, socket, sys
from nslab.kernel import isolate, outside
isolate.enter()
served = outside.listen("127.0.0.1", 0)
inside = socket.socket(); inside.bind(("127.0.0.1", 0)); inside.listen(1)
try:
    outside.listen("127.0.0.1", served.getsockname()[1])
except OSError as e:
    taken = e.errno
print(served.getsockname()[1], inside.getsockname()[1], os.stat("/proc/self/ns/net").st_ino, taken, flush=True)
conn, _ = served.accept()
conn.sendall(b"hello from the lab\n")
conn.close()
sys.stdin.read()
"""


@pytest.fixture(autouse=True)
def loopback_up():
    """This test process's namespace (pytest's own, isolated: never the machine's) with lo up, as a
    machine's is; put back as it was after."""
    was = subprocess.run(["ip", "-j", "link", "show", "lo"], capture_output=True, text=True, check=True).stdout
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    yield
    if '"UP"' not in was.split('"flags":')[1].split("]")[0]:
        subprocess.run(["ip", "link", "set", "lo", "down"], check=True)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]


def start_lab(rootless: bool = False) -> tuple[subprocess.Popen, list[int]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    env.pop(isolate.MARK, None)
    proc = subprocess.Popen([*(NOBODY if rootless else []), sys.executable, "-c", LAB_SIDE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    return proc, [int(x) for x in proc.stdout.readline().split()]


@pytest.mark.parametrize("rootless", [False, True], ids=["root", "rootless"])
def test_the_lab_listens_in_the_namespace_it_was_started_in(rootless: bool):
    proc, (port, inside_port, lab_netns, taken) = start_lab(rootless)
    try:
        assert lab_netns != os.stat("/proc/self/ns/net").st_ino  # the lab's process is elsewhere
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            assert c.makefile().readline() == "hello from the lab\n"
        try:
            socket.create_connection(("127.0.0.1", inside_port), timeout=2).close()
            reached_inside = True
        except ConnectionRefusedError:
            reached_inside = False
        assert not reached_inside  # what the lab binds itself is not on this machine's 127.0.0.1
        assert taken == 98  # EADDRINUSE: the helper's refusal comes back as the OSError it was
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0


def test_the_helper_ends_with_the_lab():
    proc, (port, *_rest) = start_lab()
    helpers = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == proc.pid]
    assert len(helpers) == 1
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.makefile().readline()
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)
    gone = subprocess.run(["sh", "-c", f"for i in $(seq 50); do [ -e /proc/{helpers[0]} ] || exit 0; sleep 0.1; done; exit 1"])
    assert gone.returncode == 0


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None
