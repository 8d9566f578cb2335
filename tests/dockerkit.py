"""Real Docker containers for the container tests (never mocked).

Under CI (CI=true) a missing engine is a failure; elsewhere those tests skip,
saying why.  Containers run from the image `nslab image` builds, with
`--network none`, under names unique to this pytest process, and are removed
by name when the test ends.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

from nslab.services import docker as containers
from nslab.services import image

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_seq = itertools.count(1)


def engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        containers.client()
    except Exception as e:  # CommandError with the reason
        return getattr(e, "message", str(e))
    return None


@pytest.fixture(scope="session")
def docker_image() -> str:
    problem = engine_problem()
    if problem is not None:
        if CI:
            pytest.fail(f"CI needs a Docker engine (.ci/services.sh starts one): {problem}")
        pytest.skip(f"no Docker engine here: {problem}")
    if not image.exists():
        image.build()
    return image.IMAGE


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=60)


def dexec(name: str, *argv: str, check: bool = False) -> subprocess.CompletedProcess:
    """The oracle inside a container: Docker runs the program, not nslab."""
    return docker("exec", name, *argv, check=check)


@pytest.fixture
def container(docker_image: str) -> Iterator[Callable[[], str]]:
    """A factory: each call starts a fresh `--network none` container and returns its name."""
    made: list[str] = []

    def start() -> str:
        name = f"nslab-t{os.getpid()}-{next(_seq)}"
        docker("run", "-d", "--name", name, "--network", "none", docker_image, "sleep", "600")
        made.append(name)
        return name

    yield start
    if made:
        docker("rm", "-f", *made, check=False)


def pid_of(name: str) -> int:
    return int(docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip())


def addrs(name: str, dev: str) -> list[str]:
    """`inet A/N` entries of dev as `ip -4 -o addr` in the container shows them."""
    out = dexec(name, "ip", "-4", "-o", "addr", "show", "dev", dev).stdout
    return re.findall(r"inet (\S+)", out)


def routes(name: str) -> list[str]:
    return [" ".join(line.split()) for line in dexec(name, "ip", "route").stdout.splitlines()]


def state(name: str) -> tuple[str, str]:
    """The container's network as its own `ip` shows it (links without ifindex noise, and routes)."""
    links = dexec(name, "ip", "-o", "link").stdout
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines())
    # `ip -o addr` lines without their ifindex, which a rebuilt interface does not keep
    lines = sorted(line.split(":", 1)[1].strip() for line in dexec(name, "ip", "-o", "addr").stdout.splitlines())
    return " ".join(names) + "\n" + "\n".join(lines), "\n".join(routes(name))


def ping(name: str, target: str, wait: int = 2) -> bool:
    return dexec(name, "ping", "-c", "1", "-W", str(wait), target).returncode == 0
