"""Background programs: `exec -d` / `NS PROG ARGS &`, `ps`, `logs`, `kill`, undone and ended with the lab.

The oracles are the kernel's: /proc/PID/stat (is that very process, by PID and start time, still
there), and the program's own output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

from nslab.base.results import Output, Table
from nslab.kernel import isolate
from nslab.lab import Lab
from nslab.services.docker import alive, start_time


def running(pid: int, start: int | None) -> bool:
    """That process exists and is not a zombie."""
    if not alive(pid, start):
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def table(lab: Lab, line: str) -> list[list]:
    out = lab.run(line)
    assert out.ok, out.error
    return next(e for e in out.events if isinstance(e, Table)).rows


def test_exec_d_ps_logs_kill_and_undo(lab: Lab):
    assert lab.run("ns add n1").ok
    out = lab.run("n1 sh -c 'echo hello from n1; exec sleep 60' &")
    assert out.ok, out.error
    out = lab.run("exec -d n1 sleep 61")
    assert out.ok, out.error
    rows = table(lab, "ps")
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        ("p1", "n1", "running", "sh -c echo hello from n1; exec sleep 60"), ("p2", "n1", "running", "sleep 61")]
    pids = {r[0]: (r[2], start_time(r[2])) for r in rows}
    # it runs inside n1: the same network namespace as the lab's n1
    assert os.stat(f"/proc/{pids['p2'][0]}/ns/net").st_ino == os.stat("/run/netns/n1").st_ino
    for _ in range(200):
        logged = [e.line for e in lab.run("logs p1").events if isinstance(e, Output)]
        if logged:
            break
        time.sleep(0.01)
    assert logged == ["hello from n1"]
    assert lab.run("kill p2").ok
    assert not running(*pids["p2"]) and running(*pids["p1"])
    assert lab.undo(1)  # undoing the kill starts it again, a new process
    again = {r[0]: r[2] for r in table(lab, "ps")}
    assert again["p2"] != pids["p2"][0] and running(again["p2"], start_time(again["p2"]))
    out = lab.run("reset")
    assert out.ok, out.error
    assert not running(*pids["p1"]) and not os.path.exists(f"/proc/{again['p2']}")
    assert table(lab, "ps") == []


def test_bad_background_lines(lab: Lab):
    out = lab.run("kill p9")
    assert not out.ok and out.error == "no background program 'p9' (this lab's: none)"
    out = lab.run("exec -d nslab-no-such-program")
    assert not out.ok and out.error == "no program 'nslab-no-such-program' (not found on PATH)"
    assert table(lab, "ps") == []


def _children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(x) for x in f.read().split()]
    return out


def _argv(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read().split("\0")
    except OSError:  # it ended
        return []


def test_kill_9_of_an_isolated_nslab_ends_its_background_programs(tmp_path: Path):
    lab = tmp_path / "bg.lab"
    lab.write_text("ns add a\nexec -d a sleep 300\na sleep 301 &\nexec sleep 30\n")
    env = dict(os.environ)
    env.pop(isolate.MARK, None)
    proc = subprocess.Popen([sys.executable, "-m", "nslab", "run", str(lab)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    try:
        kids: list[int] = []
        for _ in range(500):
            # the sleeps: two in the background, and the `exec sleep 30` in the foreground (not the helper
            # an isolated nslab leaves outside its namespace for listening sockets, nslab/kernel/outside.py)
            kids = [k for k in _children(proc.pid) if _argv(k)[:1] == ["sleep"]]
            if len(kids) == 3:
                break
            time.sleep(0.02)
        assert len(kids) == 3, kids
        # the background ones (the foreground `exec sleep 30` is not theirs to end)
        started = {k: start_time(k) for k in kids if {"300", "301"} & set(_argv(k))}
        assert len(started) == 2, kids
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(running(k, s) for k, s in started.items()):
        time.sleep(0.02)
    assert not [k for k, s in started.items() if running(k, s)]


def test_save_and_export_keep_a_background_program(lab: Lab, tmp_path: Path):
    assert lab.run("ns add n1").ok and lab.run("n1 sleep 60 &").ok
    assert lab.run(f"save {tmp_path}/b.lab").ok and lab.run(f"export sh {tmp_path}/b.sh").ok
    assert (tmp_path / "b.lab").read_text().splitlines()[-1] == "n1 sleep 60 &"
    assert "ip netns exec n1 sleep 60 >/dev/null 2>&1 & NSLAB_PROG_p1=$!" in (tmp_path / "b.sh").read_text()
