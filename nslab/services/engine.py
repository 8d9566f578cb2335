"""Which container engine nslab talks to: Docker, or Podman through its Docker-compatible API.

Both are driven by the same Docker SDK.  The sockets are tried in this order and the first
that answers wins: DOCKER_HOST (else /var/run/docker.sock), then CONTAINER_HOST (Podman's own
setting for its remote client; else the rootful /run/podman/podman.sock, then the rootless
$XDG_RUNTIME_DIR/podman/podman.sock).  What answered is told by its /_ping's headers
(Podman's name its Libpod API), not by the socket's name: a docker.sock served by Podman (Debian's
podman-docker) is Podman, and DOCKER_HOST may name Podman's socket to prefer it over a running
dockerd.  Nothing is cached: each use asks again (a missing socket costs a stat, a refused one
a connect), and a container the lab started records the socket it was started on, so it is
removed there whichever engine answers first later.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..base.environment import engine_settings
from ..base.errors import CommandError

DOCKER_SOCKET = "unix:///var/run/docker.sock"
PODMAN_ROOTFUL = "unix:///run/podman/podman.sock"
DOCKER, PODMAN = "docker", "podman"
MIN_API = "1.24"  # the oldest API both serve (Podman's compat MinAPIVersion)


@dataclass(frozen=True)
class Engine:
    kind: str  # DOCKER or PODMAN, as the engine's /_ping headers say
    url: str  # the socket (or tcp:// address) it answered on

    def __str__(self) -> str:
        return f"{self.kind} at {self.url}"


def candidates(docker_host: str | None = None, environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(the engine expected there, its URL), in the order they are tried."""
    env = engine_settings() if environ is None else environ
    out = [(DOCKER, docker_host or env.get("DOCKER_HOST") or DOCKER_SOCKET)]
    if env.get("CONTAINER_HOST"):
        out.append((PODMAN, env["CONTAINER_HOST"]))
    else:
        out.append((PODMAN, PODMAN_ROOTFUL))
        if env.get("XDG_RUNTIME_DIR"):
            out.append((PODMAN, f"unix://{env['XDG_RUNTIME_DIR']}/podman/podman.sock"))
    return [(k, u) for i, (k, u) in enumerate(out) if u not in (v for _, v in out[:i])]  # DOCKER_HOST may name Podman's


def socket_path(url: str) -> str | None:
    return url[len("unix://"):] if url.startswith("unix://") else None


def reachable(docker_host: str | None = None) -> bool:
    """Some engine may be there: a candidate socket exists, or an address that is no socket is set."""
    return any(p is None or os.path.exists(p) for p in (socket_path(u) for _, u in candidates(docker_host)))


def connect(docker_host: str | None = None, url: str | None = None) -> tuple[Engine, Any]:
    """The first engine that answers (or the one at URL, the socket a container was started on)
    and a Docker SDK client for it; a clear error naming every socket tried when none does."""
    tried: list[tuple[str, str, str]] = []
    sdk: Any = None
    for expected, u in ([(DOCKER, url)] if url else candidates(docker_host)):
        path = socket_path(u)
        if path is not None and not os.path.exists(path):
            tried.append((expected, u, "no such socket"))
            continue
        if sdk is None:
            sdk = _sdk()  # imported only when a socket is there: it costs 0.15 s
        try:
            return _ping(sdk, expected, u)
        except engine_errors() as e:
            tried.append((expected, u, engine_words(e, expected)))
    raise CommandError(no_engine_words(tried))


def _sdk() -> Any:
    try:
        import docker
    except ImportError:
        raise CommandError("the docker Python package is missing (pip install docker)") from None
    return docker


def _sdk_environment(url: str) -> dict[str, str]:
    env = engine_settings()
    return {"DOCKER_HOST": url, **{k: env[k] for k in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH") if env.get(k)}}


def _ping(sdk: Any, expected: str, url: str) -> tuple[Engine, Any]:
    """One /_ping tells the engine and its API version from its headers (Podman's carry
    Libpod-Api-Version).  Not /version, which Podman answers by running conmon and the OCI
    runtime for their versions: 0.3 s a call, and the SDK's version detection asks it too."""
    env = _sdk_environment(url)
    probe = sdk.from_env(timeout=5, version=MIN_API, environment=env)  # a fixed version: no request yet
    try:
        answer = probe.api.get(f"{probe.api.base_url}/_ping", timeout=5)
        answer.raise_for_status()
    finally:
        probe.close()
    kind = PODMAN if "Libpod-Api-Version" in answer.headers else DOCKER
    return Engine(kind, url), sdk.from_env(timeout=5, version=answer.headers.get("Api-Version") or MIN_API,
                                           environment=env)


def no_engine_words(tried: list[tuple[str, str, str]]) -> str:
    def listed(kind: str) -> str:
        return "; ".join(f"{u}: {why}" for k, u, why in tried if k == kind)

    docker_part = f"no Docker engine answers: {listed(DOCKER)}"
    podman = listed(PODMAN)
    return (docker_part + (f"; nor does Podman ({podman})" if podman else "") +
            " (start dockerd or `podman system service`, or name the socket in DOCKER_HOST or CONTAINER_HOST)")


def engine_errors() -> tuple[type[Exception], ...]:
    """What the Docker SDK raises when the engine refuses or cannot be reached (requests'
    connection errors are OSErrors); anything else is a bug, and is not caught as these are."""
    import docker.errors

    return (docker.errors.DockerException, OSError)


def engine_words(e: BaseException, kind: str = DOCKER) -> str:
    """The engine's own explanation (an API error's body), or the socket's refusal in words
    (`permission denied`), never the SDK's wrapper of a wrapped Python exception."""
    explanation = getattr(e, "explanation", None)
    if explanation:
        return str(explanation) + rlimit_hint(str(explanation))
    cause = _os_error(e)
    if cause is not None:
        if cause.errno in (errno.EACCES, errno.EPERM):
            if kind == PODMAN:
                return "permission denied on the Podman socket: a rootful Podman's needs root"
            return ("permission denied on the Docker socket: Docker needs root, or membership of the "
                    "group that owns the socket (docker)")
        if cause.errno in (errno.ENOENT, errno.ECONNREFUSED):
            running = "is dockerd running?" if kind == DOCKER else "is `podman system service` running?"
            return f"{os.strerror(cause.errno)} ({running})"
        return os.strerror(cause.errno) if cause.errno else (cause.strerror or type(cause).__name__)
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def rlimit_hint(explanation: str) -> str:
    """Podman asks the runtime for 1048576 open files and processes unless told otherwise, which a
    root without CAP_SYS_RESOURCE (some sandboxes) may not grant; Docker keeps its own limits."""
    if "setting rlimit" not in explanation:
        return ""
    return (" (this root may not raise its limits: set default_ulimits = [\"nofile=N:N\", \"nproc=N:N\"] "
            "within `ulimit -Hn` and `ulimit -Hu` in containers.conf)")


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
