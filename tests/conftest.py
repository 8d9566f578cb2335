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


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab


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


def nslab_cli(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `nslab` command line as a separate process (its own isolated lab)."""
    e = dict(os.environ, **(env or {}))
    e.pop(isolate.MARK, None)
    return subprocess.run([sys.executable, "-m", "nslab", *args], input=input, capture_output=True,
                          text=True, env=e, cwd=ROOT, timeout=timeout)
