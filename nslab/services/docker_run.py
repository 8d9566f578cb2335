"""Containers the lab starts itself (`container run`): made, listed and removed through the Docker SDK.

Each carries the label LAB_LABEL with the lab's identity, and is removed only by its ID and
only while it carries that label: a container of the same name started elsewhere is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base.errors import CommandError
from . import engine
from .docker import Container
from .engine import engine_errors, engine_words

LAB_LABEL = "nslab.lab"
# busybox's sleep takes no `infinity`: the largest time it accepts keeps the container running
KEEP_RUNNING = ["sleep", "2147483647"]


@dataclass
class LabContainer:
    name: str
    id: str
    image: str
    status: str
    pid: int
    argv: list[str]
    network: str = "none"  # "lab": in a namespace of the lab's (Podman's --network ns:PATH)


def run(name: str, image: str, argv: list[str], label: str, found: tuple[engine.Engine, Any] | None = None,
        netns: str | None = None) -> Container:
    """Create and start NAME with no network of its own, or (Podman) in the network namespace at
    the path NETNS; removed again (by ID) when it cannot start."""
    which, sdk = found or engine.connect()
    import docker.errors

    try:
        made = sdk.containers.create(image, argv or KEEP_RUNNING, name=name, detach=True,
                                     network_mode=f"ns:{netns}" if netns else "none", labels={LAB_LABEL: label})
    except docker.errors.ImageNotFound:
        raise CommandError(f"no image {image!r} here ({which}; `nslab image` builds nslab/busybox:latest)") from None
    except engine_errors() as e:
        raise CommandError(f"{which.kind} engine: cannot create container {name!r}: {engine_words(e)}") from None
    try:
        made.start()
        made.reload()
        state = made.attrs.get("State", {})
        if not state.get("Running") or not state.get("Pid"):
            raise CommandError(f"container {name!r} exited as it started (its command: {' '.join(argv or KEEP_RUNNING)})")
    except engine_errors() as e:
        _force_remove(made)
        raise CommandError(f"{which.kind} engine: cannot start container {name!r}: {engine_words(e)}") from None
    except CommandError:
        _force_remove(made)
        raise
    return Container(made.name, made.id, int(state["Pid"]), which.kind)


def _force_remove(c: Any) -> None:
    try:
        c.remove(force=True)
    except engine_errors():
        pass  # gone already


def _get(container_id: str, url: str | None = None) -> Any:
    which, sdk = engine.connect(url=url)
    import docker.errors

    try:
        return sdk.containers.get(container_id)
    except docker.errors.NotFound:
        return None
    except engine_errors() as e:
        raise CommandError(f"{which.kind} engine: cannot look up container {container_id[:12]}: "
                           f"{engine_words(e)}") from None


def remove(container_id: str, label: str, url: str | None = None, name: str | None = None) -> bool:
    """Remove the container with this ID if it carries this lab's label; False when it is gone already.
    URL: the engine it was started on (None: whichever answers first, for records from before).
    NAME: when that ID is gone, this lab's container of that name (by the label too), the one an
    undone `container rm` started again under a new ID."""
    c = _get(container_id, url)
    if c is None and name is not None:
        found = engine.connect(url=url)
        c = next((x for x in _labelled(label, found) if x.name == name), None)
    if c is None:
        return False
    if c.labels.get(LAB_LABEL) != label:
        raise CommandError(f"container {c.name} ({container_id[:12]}) is not this lab's; nslab leaves it alone")
    _force_remove(c)
    return True


def stop(container_id: str, label: str, url: str | None = None) -> None:
    c = _get(container_id, url)
    if c is None or c.labels.get(LAB_LABEL) != label:
        raise CommandError(f"container {container_id[:12]} is not one this lab runs")
    try:
        c.stop(timeout=1)
    except engine_errors() as e:
        raise CommandError(f"engine: cannot stop container {c.name}: {engine_words(e)}") from None


def _labelled(label: str, found: tuple[engine.Engine, Any]) -> list[Any]:
    which, sdk = found
    try:
        return list(sdk.containers.list(all=True, filters={"label": f"{LAB_LABEL}={label}"}))
    except engine_errors() as e:
        raise CommandError(f"{which.kind} engine: {engine_words(e)}") from None


def of_lab(label: str, found: tuple[engine.Engine, Any] | None = None) -> list[LabContainer]:
    """The containers carrying this lab's label, running or not, on the engine that answers."""
    out = []
    for c in _labelled(label, found or engine.connect()):
        state = c.attrs.get("State", {})
        config = c.attrs.get("Config", {})
        mode = str(c.attrs.get("HostConfig", {}).get("NetworkMode") or "none")
        out.append(LabContainer(c.name, c.id, config.get("Image", ""), state.get("Status", "?"),
                                int(state.get("Pid") or 0), list(config.get("Cmd") or []),
                                "lab" if mode.startswith("ns:") else "none"))
    return out
