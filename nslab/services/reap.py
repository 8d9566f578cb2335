"""What the outside helper runs when an isolated lab died without cleaning up (`kill -9`): the
containers carrying the lab's label, each removed by its ID while it still carries that label
(docker_run.remove), never by name.  Run as `python3 -c` by nslab/kernel/outside.py's helper, in the
machine's namespaces, with the same environment (DOCKER_HOST) as the lab had."""

from __future__ import annotations

import os
import sys

from ..base.errors import CommandError
from . import docker_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def argv(label: str) -> list[str]:
    """The command that removes the containers labelled `label` (nslab importable from wherever it is)."""
    code = f"import sys; sys.path.insert(0, {ROOT!r}); from nslab.services.reap import main; main(sys.argv[1])"
    return [sys.executable, "-c", code, label]


def main(label: str) -> int:
    try:
        found = docker_run.of_lab(label)
    except CommandError:
        return 1  # no engine answers: nothing this can remove
    bad = 0
    for c in found:
        try:
            docker_run.remove(c.id, label)
        except CommandError:
            bad = 1
    return bad
