"""Docker containers as the lab sees them: their namespaces, by name, id and PID."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base.errors import CommandError
from . import engine
from .engine import engine_errors, engine_words

__all__ = ["Container", "client", "engine_errors", "engine_words", "find", "running"]

SOCKET = "/var/run/docker.sock"  # Docker's default (engine.DOCKER_SOCKET)


@dataclass
class Container:
    name: str
    id: str
    pid: int
    engine: str = engine.DOCKER  # which engine runs it (export sh writes `podman inspect` for Podman's)


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat: when the process started (clock ticks since boot).

    A PID and its start time name one process for good: a reused PID has another.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return int(stat[stat.rindex(")") + 2:].split()[19])


def alive(pid: int, start: int | None) -> bool:
    return start is not None and start_time(pid) == start


def engine_reachable(docker_host: str | None = None) -> bool:
    return engine.reachable(docker_host)


def client(docker_host: str | None = None, url: str | None = None) -> Any:
    """A Docker SDK client for the first engine that answers (Docker, else Podman: services/engine.py),
    or the one at URL; a clear error when none does.  DOCKER_HOST: the environment's, passed down."""
    return engine.connect(docker_host, url)[1]


def running(docker_host: str | None = None, found: tuple[engine.Engine, Any] | None = None) -> list[Container]:
    out = []
    which, sdk = found or engine.connect(docker_host)
    try:
        listed = sdk.containers.list()
    except engine_errors() as e:
        raise CommandError(f"{which.kind} engine: {engine_words(e, which.kind)}") from None
    for c in listed:
        pid = int(c.attrs.get("State", {}).get("Pid") or 0)
        if pid:
            out.append(Container(c.name, c.id[:12], pid, which.kind))
    return out


def find(name: str) -> Container:
    which, sdk = engine.connect()  # a clear error when the docker package or the engine is missing
    import docker.errors
    try:
        c = sdk.containers.get(name)
    except docker.errors.NotFound:
        raise CommandError(f"no container {name!r} ({which})") from None
    except engine_errors() as e:
        raise CommandError(f"{which.kind} engine: cannot look up container {name!r}: {engine_words(e, which.kind)}") from None
    state = c.attrs.get("State", {})
    if not state.get("Running"):
        raise CommandError(f"container {name!r} is not running")
    return Container(c.name, c.id[:12], int(state["Pid"]), which.kind)


def names() -> list[str]:
    """Running containers' names, for completion; none when no engine answers."""
    if not engine_reachable():
        return []
    try:
        return [c.name for c in running()]
    except CommandError:
        return []


def container_rows(docker_host: str | None = None, uid: int | None = None) -> list[list[Any]]:
    """`ns ls` rows for running containers (with UID, only those whose process runs as that uid,
    as this process's user namespace sees it), under a row naming the engine and its socket; one
    row saying why when no engine answers."""
    from ..kernel.procns import links_of, owner_uid

    try:
        which, sdk = engine.connect(docker_host)  # fast when no socket is there: a stat each
        found = running(found=(which, sdk))
    except CommandError as e:
        return [["(engine)", e.message, "-"]]
    return [["(engine)", f"{which.kind}: {which.url}", "-"]] + [
        [f"{c.name} (pid {c.pid}, {c.id})", c.engine, links_of(c.pid)] for c in found
        if uid is None or owner_uid(c.pid) == uid]


def interfaces(pid: int) -> list[str]:
    # /proc/PID/net/dev lists the interfaces of that process's network namespace
    with open(f"/proc/{pid}/net/dev") as f:
        return [line.split(":")[0].strip() for line in f.readlines()[2:]]
