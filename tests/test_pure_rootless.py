"""The pure tests (tests/pure) run as an ordinary user with no capabilities: the conftest does not isolate
for them, and they touch no kernel object.  Run here as nobody (uid 65534, `setpriv --clear-groups`,
which also drops every capability), with the interpreter's packages copied where nobody can read them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PURE, ROOT
from wordskit import copy_packages

# what pytest, hypothesis and the pure tests import (nslab comes from the checkout)
PACKAGES = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "py", "hypothesis", "_hypothesis_globals", "_hypothesis_ftz_detector", "attr", "attrs",
            "sortedcontainers", "prompt_toolkit", "wcwidth", "pygments", "rich", "markdown_it", "mdurl", "dpkt")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture(scope="module")
def readable_site() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="nslab-pure-"))
    try:
        copy_packages(d, PACKAGES)
        (d / "hypothesis-db").mkdir()
        subprocess.run(["chmod", "-R", "a+rwX", str(d)], check=True)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def as_nobody(site: Path, *argv: str) -> subprocess.CompletedProcess:
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": f"{ROOT}:{site}", "HOME": str(site),
           "HYPOTHESIS_STORAGE_DIRECTORY": str(site / "hypothesis-db"), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([*NOBODY, python, *argv], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def test_the_pure_tests_pass_as_nobody_without_capabilities(readable_site: Path) -> None:
    who = as_nobody(readable_site, "-c", "import os; print(os.geteuid(), open('/proc/self/status').read())")
    uid, status = who.stdout.split(" ", 1)
    assert uid == "65534", who.stderr
    assert re.search(r"^CapEff:\s+0+$", status, re.M), status  # no capability at all: no netns, no mounts
    r = as_nobody(readable_site, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PURE))
    tail = r.stdout[-3000:] + r.stderr[-3000:]
    assert r.returncode == 0, tail
    counts = dict((k, int(n)) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)", r.stdout))
    assert counts.get("passed", 0) >= 150 and set(counts) == {"passed"}, tail


def test_a_pure_run_does_not_isolate(readable_site: Path) -> None:
    """The pure run leaves the process in the namespace it started in (the lazy conftest)."""
    probe = PURE / "test_zz_probe_tmp.py"
    probe.write_text("import os\n\ndef test_probe():\n    assert 'NSLAB_ISOLATED' not in os.environ\n")
    try:
        r = as_nobody(readable_site, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe))
    finally:
        probe.unlink()
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
