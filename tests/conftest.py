"""Every test runs on the real kernel inside labs this process owns.

At import (pytest is still single-threaded) the test process moves into a
private network and mount namespace with its own /run/netns, so nothing a
test does reaches the machine, and the kernel removes it all when pytest ends.
Each `lab` fixture then gets a fresh root namespace of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nslab import isolate
from nslab.session import Lab

isolate.enter(private_state=True)  # host-mode subprocesses keep their journals in a private /run/nslab

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "nslab" / "labs"


def _empty_run_netns() -> None:
    """A Lab closes only the names it made: a name a test made with `ip netns add`, or one of a
    Lab an earlier test left open (test_fuzz's shared session), goes here, by name."""
    for name in (n for n in os.listdir("/run/netns") if not n.startswith(".")) if os.path.isdir("/run/netns") else ():
        subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.fixture
def lab() -> Iterator[Lab]:
    _empty_run_netns()  # each test starts from an empty private /run/netns
    with Lab() as lab:
        yield lab
        bugs = [f"{s.text}: {s.error}" for s in lab.journal.steps if (s.error or "").startswith("internal error")]
        assert not bugs, bugs  # whatever the test checked, a step hit a bug
    _empty_run_netns()


def ns_path(lab: Lab, ns: str) -> str:
    return lab.host_ns_path if ns == "host" else f"/run/netns/{ns}"


def ip_j(lab: Lab, ns: str, *args: str) -> list[dict]:
    """The oracle: `ip -j ARGS` run inside the namespace by nsenter, not by nslab."""
    out = subprocess.run(["nsenter", f"--net={ns_path(lab, ns)}", "ip", "-j", *args],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]")


def iputils_ping(lab: Lab, ns: str, target: str, count: int = 1, wait: float = 1.0) -> bool:
    """The oracle for reachability: iputils ping inside the namespace."""
    rc = subprocess.run(["nsenter", f"--net={ns_path(lab, ns)}", "ping", "-n", "-q", "-c", str(count),
                         "-W", str(wait), target], capture_output=True).returncode
    return rc == 0


def nslab_cli(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 120,
              expect_internal: bool = False) -> subprocess.CompletedProcess:
    """Run the real `nslab` command line as a separate process (its own isolated lab).
    Its output never shows an `internal error` (a bug), unless the test is about one."""
    e = dict(os.environ, **(env or {}))
    e.pop(isolate.MARK, None)
    proc = subprocess.run([sys.executable, "-m", "nslab", *args], input=input, capture_output=True,
                          text=True, env=e, cwd=ROOT, timeout=timeout)
    if not expect_internal:
        assert "internal error" not in proc.stdout + proc.stderr, (args, proc.stdout, proc.stderr)
    return proc
