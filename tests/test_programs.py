"""Programs (`exec`, `NS PROG`) with no terminal: their output comes back line by line while they
run, Ctrl-C reaches them once and what they print after it is kept, and the step says how they
ended.  The terminal side is tests/test_programs_pty.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

from nslab.base.results import Exited, Interrupted, Output
from nslab.kernel import isolate

PAIR = ["ns add pa pb", "veth pa:eth0 pb:eth0", "pa link eth0 up", "pb link eth0 up",
        "pa addr add eth0 10.77.0.1/24", "pb addr add eth0 10.77.0.2/24"]


def _cli(args: list[str]) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop(isolate.MARK, None)  # its own isolated lab
    return subprocess.Popen([sys.executable, "-m", "nslab", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)


def _timed_lines(proc: subprocess.Popen[str]) -> list[tuple[float, str]]:
    assert proc.stdout is not None
    return [(time.monotonic(), line.rstrip("\n")) for line in proc.stdout]


def test_nslab_run_into_a_pipe_streams_a_programs_lines_as_they_come(tmp_path: Path) -> None:
    lab = tmp_path / "stream.lab"
    lab.write_text("ns add n1\nn1 sh -c 'echo first; sleep 1.5; echo second'\n")
    proc = _cli(["run", str(lab)])
    lines = _timed_lines(proc)
    assert proc.wait(timeout=60) == 0, lines
    at = {text: t for t, text in lines}
    assert "first" in at and "second" in at, lines
    # printed as they came: the program's sleep lies between them (all at the end: no gap)
    assert at["second"] - at["first"] >= 1.2, lines


def test_ctrl_c_in_nslab_run_reaches_ping_once_and_keeps_its_summary(tmp_path: Path) -> None:
    lab = tmp_path / "ping.lab"
    lab.write_text("\n".join([*PAIR, "exec pa ping -n 10.77.0.2", "ns add never"]) + "\n")
    proc = _cli(["run", str(lab)])
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "icmp_seq=2" in line:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C at the terminal sends nslab (our own child)
            break
    seen += proc.stdout.readlines()
    text = "".join(seen)
    assert proc.wait(timeout=30) == 1, text
    # iputils ping itself printed its statistics after the SIGINT, and nslab kept them
    assert "--- 10.77.0.2 ping statistics ---" in text and "packets transmitted" in text, text
    assert f"{lab}:{len(PAIR) + 1}: interrupted" in text, text
    assert "added never" not in text and "error:" not in text, text  # the replay stopped there, plainly


def test_a_program_killed_by_sigint_is_interrupted_and_one_killed_otherwise_fails(lab) -> None:
    lab.run("ns add n1")
    out = lab.run("n1 sh -c 'echo before; kill -INT $$'")
    assert lab.last.outcome == "interrupted" and lab.last.error == "interrupted"
    assert [e.line for e in out.events if isinstance(e, Output)] == ["before"]
    assert [type(e) for e in out.events if isinstance(e, Interrupted)] == [Interrupted]
    out = lab.run("n1 sh -c 'kill -TERM $$'")
    assert lab.last.outcome == "failed" and out.error == "sh was killed by SIGTERM"
    assert [e.code for e in out.events if isinstance(e, Exited)] == [-signal.SIGTERM]
    rows = lab.run("history").events[0].rows
    assert [r[-1] for r in rows if "kill" in r[3]] == ["interrupted", "failed"]


def test_ctrl_c_while_a_piped_program_runs_is_passed_to_it_and_its_last_words_kept(lab) -> None:
    """The program traps SIGINT and prints after it: nslab reads on to its end, and the step is
    interrupted, since Ctrl-C ended it (as it ends ping, which exits 0)."""
    lab.run("ns add n1")
    got = []
    # `ready` comes from the child Ctrl-C ends, once it runs: no race with the trap being set
    for event in lab.stream_line("n1 sh -c 'trap \"echo caught; exit 0\" INT; sh -c \"echo ready; exec sleep 20\"'"):
        got.append(event)
        if isinstance(event, Output) and event.line == "ready":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, as the terminal sends it to nslab
    lines = [e.line for e in got if isinstance(e, Output)]
    assert lines == ["ready", "caught"], got
    assert [e.code for e in got if isinstance(e, Exited)] == [0]
    assert lab.last.outcome == "interrupted" and lab.last.duration < 10


def test_a_reader_that_stops_takes_the_program_with_it(lab) -> None:
    lab.run("ns add n1")
    marker = "31.4159"
    stream = lab.stream_line(f"n1 sh -c 'echo ready; exec sleep {marker}'")
    for event in stream:
        if isinstance(event, Output) and event.line == "ready":
            break
    deadline = time.monotonic() + 10
    while not _sleepers(marker) and time.monotonic() < deadline:
        time.sleep(0.02)  # `ready` comes just before the exec
    assert _sleepers(marker), "the program should be running while it is read"
    stream.close()  # the face stopped reading (an exception, a Ctrl-C inside the renderer)
    assert not _sleepers(marker)
    assert lab.last.outcome == "interrupted"


def _sleepers(marker: str) -> list[int]:
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", marker.encode()]:
            try:
                if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0] != "Z":
                    found.append(int(pid))
            except (OSError, IndexError):
                continue
    return found
