"""Docker containers as the lab sees them: their namespaces, by name, id and PID."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from ..base.environment import process_docker_host
from ..base.errors import CommandError

SOCKET = "/var/run/docker.sock"


@dataclass
class Container:
    name: str
    id: str
    pid: int


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
    return bool(docker_host or process_docker_host()) or os.path.exists(SOCKET)


def client(docker_host: str | None = None) -> Any:
    """A Docker SDK client for DOCKER_HOST (the environment's, passed down), or a clear error when
    no engine answers.  None: the process's (environment.process_docker_host), else the socket."""
    if not engine_reachable(docker_host):
        raise CommandError("no Docker engine: /var/run/docker.sock is missing (start dockerd)")
    try:
        import docker  # imported only when a container is named: it costs 0.15 s
    except ImportError:
        raise CommandError("the docker Python package is missing (pip install docker)") from None
    try:
        host = docker_host or process_docker_host()
        c = docker.from_env(timeout=5, environment={"DOCKER_HOST": host} if host else None)
        c.ping()
        return c
    except engine_errors() as e:
        raise CommandError(f"no Docker engine answers: {engine_words(e)}") from None


def engine_errors() -> tuple[type[Exception], ...]:
    """What the Docker SDK raises when the engine refuses or cannot be reached (requests'
    connection errors are OSErrors); anything else is a bug, and is not caught as these are."""
    import docker.errors

    return (docker.errors.DockerException, OSError)


def engine_words(e: BaseException) -> str:
    """The engine's own explanation (an API error's body), or the socket's refusal in words
    (`permission denied`), never the SDK's wrapper of a wrapped Python exception."""
    explanation = getattr(e, "explanation", None)
    if explanation:
        return str(explanation)
    cause = _os_error(e)
    if cause is not None:
        if cause.errno in (errno.EACCES, errno.EPERM):
            return ("permission denied on the Docker socket: Docker needs root, or membership of the "
                    "group that owns the socket (docker)")
        if cause.errno in (errno.ENOENT, errno.ECONNREFUSED):
            return f"{os.strerror(cause.errno)} (is dockerd running?)"
        return os.strerror(cause.errno) if cause.errno else (cause.strerror or type(cause).__name__)
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _os_error(e: BaseException, depth: int = 0) -> OSError | None:
    """The OSError with an errno at the root of a chain of wrapped exceptions (the SDK wraps
    requests', which wraps urllib3's, which holds the socket's), searched through causes and args."""
    if depth > 8:
        return None
    if isinstance(e, OSError) and e.errno:
        return e
    for inner in (e.__cause__, e.__context__, *(a for a in e.args if isinstance(a, BaseException))):
        if inner is not None and (found := _os_error(inner, depth + 1)) is not None:
            return found
    return None


def running(docker_host: str | None = None) -> list[Container]:
    out = []
    engine = client(docker_host)
    try:
        listed = engine.containers.list()
    except engine_errors() as e:
        raise CommandError(f"Docker engine: {engine_words(e)}") from None
    for c in listed:
        pid = int(c.attrs.get("State", {}).get("Pid") or 0)
        if pid:
            out.append(Container(c.name, c.id[:12], pid))
    return out


def find(name: str) -> Container:
    engine = client()  # a clear error when the docker package or the engine is missing
    import docker.errors
    try:
        c = engine.containers.get(name)
    except docker.errors.NotFound:
        raise CommandError(f"no container {name!r}") from None
    except engine_errors() as e:
        raise CommandError(f"Docker engine: cannot look up container {name!r}: {engine_words(e)}") from None
    state = c.attrs.get("State", {})
    if not state.get("Running"):
        raise CommandError(f"container {name!r} is not running")
    return Container(c.name, c.id[:12], int(state["Pid"]))


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
    as this process's user namespace sees it); one row saying why when no engine answers."""
    from ..kernel.procns import links_of, owner_uid

    if not engine_reachable(docker_host):
        return [["(docker)", "no engine", "-"]]
    try:
        found = running(docker_host)
    except CommandError as e:
        return [["(docker)", e.message, "-"]]
    return [[f"{c.name} (pid {c.pid}, {c.id})", "docker", links_of(c.pid)] for c in found
            if uid is None or owner_uid(c.pid) == uid]


def interfaces(pid: int) -> list[str]:
    # /proc/PID/net/dev lists the interfaces of that process's network namespace
    with open(f"/proc/{pid}/net/dev") as f:
        return [line.split(":")[0].strip() for line in f.readlines()[2:]]
