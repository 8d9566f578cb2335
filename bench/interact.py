"""The interaction figures: a one-line lab's whole process, the first REPL prompt, completion, ping.

`python3 -m bench.interact ping ROUNDS` runs inside its own isolated nslab lab (the
process isolates itself through `nslab.Lab`), so it touches nothing outside.
The other measurements start nslab processes, which isolate themselves.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = re.compile(rb"nslab[#(\w.\-)]*>")  # drawn with escape codes around it


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("NSLAB_ISOLATED", None)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TERM", "xterm")
    return env


def wall(argv: list[str], stdin: str | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, input=stdin, capture_output=True, text=True, env=child_env(), cwd=ROOT, check=True, timeout=60)
    return time.perf_counter() - t0


def one_line_lab(workdir: str, rounds: int) -> list[float]:
    """Whole `nslab run` of a lab holding one line (`ns add a`)."""
    path = os.path.join(workdir, "one.lab")
    with open(path, "w") as f:
        f.write("ns add a\n")
    return [wall([sys.executable, "-m", "nslab", "run", path]) for _ in range(rounds)]


def imports(rounds: int) -> dict[str, list[float]]:
    """Interpreter start-up plus one import, each a whole process."""
    out: dict[str, list[float]] = {}
    for label, code in [("python3 -c pass", "pass"), ("import nslab.faces.cli", "import nslab.faces.cli"),
                        ("import nslab.engine.session", "import nslab.engine.session"), ("import pyroute2", "import pyroute2"),
                        ("import prompt_toolkit", "import prompt_toolkit"), ("import rich.console", "import rich.console")]:
        out[label] = [wall([sys.executable, "-c", code]) for _ in range(rounds)]
    return out


def first_prompt(timeout: float = 10.0) -> float | None:
    """Seconds from starting `nslab` (the REPL) under a pseudo-terminal to its prompt being drawn."""
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the REPL on the pty
        try:
            os.execve(sys.executable, [sys.executable, "-m", "nslab"], child_env())
        finally:
            os._exit(127)
    seen = b""
    took: float | None = None
    try:
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if b"\x1b[6n" in chunk:  # prompt_toolkit asks where the cursor is: answer as a terminal would
                os.write(fd, b"\x1b[1;1R")
            if PROMPT.search(seen):
                took = time.perf_counter() - t0
                break
        os.write(fd, b"exit\r")
        end = time.monotonic() + 5
        while time.monotonic() < end:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = 0
                break
            try:
                if select.select([fd], [], [], 0.05)[0]:
                    os.read(fd, 4096)
            except OSError:
                pass
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return took


def ping_overhead(rounds: int) -> dict[str, Any]:
    """One echo: an nslab `ping -c 1` step (in-process) against `ip netns exec NS ping -c1` (iputils)."""
    from nslab import Lab

    with Lab() as lab:
        for line in ("ns add a b", "veth a:eth0 b:eth0", "link a:eth0 up", "link b:eth0 up",
                     "addr add a:eth0 10.9.0.1/24", "addr add b:eth0 10.9.0.2/24"):
            out = lab.run(line)
            if not out.ok:
                raise SystemExit(f"ping lab: {line}: {out.error}")
        lab.run("a ping -c 1 10.9.0.2")  # warm: neighbour resolved, lazy imports done
        step = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            out = lab.run("a ping -c 1 10.9.0.2")
            step.append(time.perf_counter() - t0)
            if not out.ok:
                raise SystemExit(f"nslab ping failed: {out.error}")
        iputils = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            subprocess.run(["ip", "netns", "exec", "a", "ping", "-n", "-q", "-c", "1", "10.9.0.2"],
                           check=True, capture_output=True)
            iputils.append(time.perf_counter() - t0)
        process = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            subprocess.run(["nsenter", "--net=/run/netns/a", "ping", "-n", "-q", "-c", "1", "10.9.0.2"],
                           check=True, capture_output=True)
            process.append(time.perf_counter() - t0)
    return {"nslab ping -c 1 (step)": step, "ip netns exec a ping -c1": iputils, "nsenter --net ping -c1": process}


def completion(rounds: int, lab_file: str) -> dict[str, Any] | str:
    """Completion latency with 1,000 interfaces: the lab is a 1000-star (1,000 veths + br0 in host)."""
    try:
        from nslab.faces import completion as comp
    except ImportError:
        return "nslab/faces/completion.py is not there: not measured"
    from prompt_toolkit.document import Document

    from nslab import Lab

    out: dict[str, Any] = {}
    with Lab() as lab:
        for o in lab.run_file(lab_file):
            if not o.ok:
                raise SystemExit(f"completion lab: {o.error}")
        t0 = time.perf_counter()
        inv = comp.read_inventory(lab)
        out["read_inventory (after a change, not per key)"] = [time.perf_counter() - t0]
        out["interfaces"] = inv.counts[1]
        completer = comp.LabCompleter(lambda: ("host", inv))
        for text in ("", "link v", "link v99", "bridge br0 add v5", "ns del h", "addr add h7:", "h500 ping 10.0.0."):
            times, n = [], 0
            for _ in range(rounds):
                t0 = time.perf_counter()
                n = len(list(completer.get_completions(Document(text), None)))
                times.append(time.perf_counter() - t0)
            out[f"complete {text!r} ({n} candidates)"] = times
    return out


def summary(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    what, rounds = sys.argv[1], int(sys.argv[2])
    if what == "ping":
        print(json.dumps(ping_overhead(rounds)))
    elif what == "completion":
        print(json.dumps(completion(rounds, sys.argv[3])))
    else:
        raise SystemExit(f"unknown measurement {what!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
