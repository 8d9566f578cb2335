"""Every test runs on the real kernel inside labs this process owns.

At configure time (pytest is still single-threaded) the test process moves into a
private network and mount namespace with its own /run/netns, so nothing a
test does reaches the machine, and the kernel removes it all when pytest ends.
Each `lab` fixture then gets a fresh root namespace of its own.

The pure tests (tests/pure: the language, completion, highlighting) need no kernel:
`python3 -m pytest tests/pure` (or `-m pure`) does not isolate, so it runs as an
ordinary user with no capabilities (tests/test_pure_rootless.py proves it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from nslab.kernel import isolate

if TYPE_CHECKING:
    from nslab.lab import Lab

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "nslab" / "labs"
PURE = ROOT / "tests" / "pure"


def only_pure(config: pytest.Config) -> bool:
    """Every path asked for is under tests/pure, or the run selects `-m pure`."""
    if config.option.markexpr.strip() == "pure":
        return True
    here = config.invocation_params.dir
    paths = [(here / arg.split("::")[0]).resolve() for arg in config.args]
    return bool(paths) and all(p.is_relative_to(PURE) for p in paths)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pure: needs no kernel and no root (tests/pure)")
    if not only_pure(config):
        isolate.enter(private_state=True)  # host-mode subprocesses keep their journals in a private /run/nslab


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(PURE):
            item.add_marker(pytest.mark.pure)
    # a test that needs the kernel must never run on the machine's own namespaces
    if not isolate.is_isolated() and any(not item.path.is_relative_to(PURE) for item in items):
        pytest.exit("tests outside tests/pure need the isolated test process (tests/conftest.py): run them "
                    "without `-m pure` or a tests/pure-only path", returncode=2)


def _private_run_netns() -> bool:
    """/run/netns is this process's own tmpfs (isolate.enter), not the machine's directory: a
    mount namespace's tmpfs is detached when somebody removes the real directory under it."""
    mounts = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    top = [m for m in mounts if m[4] == "/run/netns"]
    return isolate.is_isolated() and bool(top) and top[-1][_dash(top[-1]) + 1] == "tmpfs"


def _dash(fields: list[str]) -> int:
    return fields.index("-")


def _empty_run_netns() -> None:
    """A Lab closes only the names it made: a name a test made with `ip netns add`, or one of a
    Lab an earlier test left open, goes here, by name, and only from the private /run/netns."""
    assert _private_run_netns(), "/run/netns is not this test process's private tmpfs: refusing to empty it"
    for name in (n for n in os.listdir("/run/netns") if not n.startswith(".")) if os.path.isdir("/run/netns") else ():
        subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.fixture
def lab() -> Iterator[Lab]:
    from nslab.lab import Lab

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
