"""Docker containers as the lab sees them: their namespaces, by name, id and PID."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import CommandError

if TYPE_CHECKING:
    from .session import Lab

SOCKET = "/var/run/docker.sock"


@dataclass
class Container:
    name: str
    id: str
    pid: int


def engine_reachable() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    return bool(host) or os.path.exists(SOCKET)


def client() -> Any:
    """A Docker SDK client, or a clear error when no engine answers."""
    if not engine_reachable():
        raise CommandError("no Docker engine: /var/run/docker.sock is missing (start dockerd)")
    import docker  # imported only when a container is named: it costs 0.15 s

    try:
        c = docker.from_env(timeout=5)
        c.ping()
        return c
    except Exception as e:
        raise CommandError(f"no Docker engine answers: {e}") from None


def running() -> list[Container]:
    out = []
    for c in client().containers.list():
        pid = int(c.attrs.get("State", {}).get("Pid") or 0)
        if pid:
            out.append(Container(c.name, c.id[:12], pid))
    return out


def find(name: str) -> Container:
    try:
        c = client().containers.get(name)
    except CommandError:
        raise
    except Exception:
        raise CommandError(f"no container {name!r}") from None
    state = c.attrs.get("State", {})
    if not state.get("Running"):
        raise CommandError(f"container {name!r} is not running")
    return Container(c.name, c.id[:12], int(state["Pid"]))


def container_rows(lab: "Lab") -> list[list[Any]]:
    """`ns ls` rows for running containers; none (not an error) when no engine is there."""
    if not engine_reachable():
        return []
    try:
        return [[f"{c.name} (pid {c.pid}, {c.id})", "docker", "-"] for c in running()]
    except CommandError:
        return []
