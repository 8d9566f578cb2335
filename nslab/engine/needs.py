"""What a lab's header says it needs (`# needs: docker`), checked before its first step, and the
containers it says it makes (`# containers: web`), removed when its run fails.

A Docker lab enters containers' network namespaces: Docker made them in the machine's own user
namespace, so that takes root there (CAP_SYS_ADMIN to join one, CAP_NET_ADMIN to change it); a
rootless lab (an ordinary user's: a user namespace of its own) cannot, whatever the socket allows.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..base.environment import real_uid
from ..base.errors import CommandError
from ..base.results import Failure, Message
from ..lang.parser import Command, Needs

CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21
OVS_PROGRAMS = ("ovs-vsctl", "ovsdb-server", "ovs-vswitchd")


def of(commands: Iterable[Command]) -> Needs:
    """The needs of every file the commands came from, together."""
    what: dict[str, None] = {}
    made: dict[str, None] = {}
    for cmd in commands:
        what.update(dict.fromkeys(cmd.needs.what))
        made.update(dict.fromkeys(cmd.needs.containers))
    return Needs(tuple(what), tuple(made))


def _in_machine_userns() -> bool:
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def _has_caps(*caps: int) -> bool:
    try:
        with open("/proc/self/status") as f:
            eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        return False
    return all(eff >> cap & 1 for cap in caps)


def unmet(needs: Needs, docker_host: str | None = None) -> list[tuple[str, str]]:
    """(what is missing, what to do) for each need this process cannot meet; empty when all are met."""
    out: list[tuple[str, str]] = []
    if not needs.what:
        return out  # a lab that needs nothing imports no Docker client
    from ..services import docker as containers
    from ..services import image

    engine = False
    if "docker" in needs.what:
        machine = _in_machine_userns()
        if not (machine and _has_caps(CAP_NET_ADMIN, CAP_SYS_ADMIN)):
            who = f"uid {real_uid()}" + ("" if machine else ", in a rootless lab's own user namespace")
            out.append((f"it needs root: it enters Docker containers' network namespaces, which takes "
                        f"CAP_SYS_ADMIN and CAP_NET_ADMIN in the machine's own user namespace (you are {who})",
                        "run it as root: sudo nslab run FILE"))
        try:
            containers.client(docker_host)
            engine = True
        except CommandError as e:
            out.append((f"it needs a container engine it may use (Docker, or Podman's Docker-compatible API): {e.message}",
                        "start dockerd or `podman system service`, or use an account that may reach its socket "
                        "(root, or the docker group)"))
    if "image" in needs.what and engine:
        try:
            present = image.exists()
        except CommandError as e:
            out.append((f"it needs the image {image.IMAGE}: {e.message}", "nslab image builds it"))
        else:
            if not present:
                out.append((f"it needs the image {image.IMAGE}, which is not there", "nslab image builds it (no registry)"))
    if "ovs" in needs.what:
        missing = [p for p in OVS_PROGRAMS if shutil.which(p) is None]
        if missing:
            out.append((f"it needs Open vSwitch: {', '.join(missing)} not found on PATH",
                        "install openvswitch-switch"))
    return out


def refuse(files: list[tuple[str, list[Command]]], out: Any, docker_host: str | None = None) -> bool:
    """Say, before any step, what the files need and this process lacks; True when it lacks something."""
    refused = False
    for name, commands in files:
        for problem, fix in unmet(of(commands), docker_host):
            out(Failure(f"{name}: {problem}; {fix.replace('FILE', name)}"))
            refused = True
    if refused:
        out(Message("nothing ran", "error"))
    return refused


def remove_containers(commands: Iterable[Command], out: Any, docker_host: str | None = None) -> None:
    """The containers the lab's header names, removed after a failed run: none is left running."""
    names = of(commands).containers
    if not names:
        return
    from ..services import docker as containers

    try:
        engine = containers.client(docker_host)
        import docker.errors
    except (CommandError, ImportError) as e:
        out(Message(f"cannot remove the lab's containers {', '.join(names)}: {getattr(e, 'message', e)}", "error"))
        return
    for name in names:
        try:
            engine.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            continue
        except containers.engine_errors() as e:
            out(Message(f"cannot remove the lab's container {name}: {containers.engine_words(e)}", "error"))
            continue
        out(Message(f"removed container {name}: the lab failed, and its header names it as the lab's", "warn"))


def may_outlive(commands: Iterable[Command]) -> bool:
    """Whether a replay may start something a `kill -9` of nslab would leave behind (a container, a
    background program's log directory): then it needs the outside helper as its reaper.  `source`
    may do either.  A lab of namespaces and links needs none, and skips the fork."""
    for cmd in commands:
        if cmd.name in ("container", "serve", "source"):
            return True
        argv = cmd.values.get("argv") or []
        if cmd.name == "exec" and argv and (argv[0] == "-d" or (argv[-1] == "&" and len(argv) > 1)):
            return True
    return False


def after_run(commands: list[Command], failed: bool, out: Any, docker_host: str | None = None) -> None:
    if failed:
        remove_containers(commands, out, docker_host)


@contextmanager
def removed_on_interrupt(commands: list[Command], out: Any, docker_host: str | None = None) -> Iterator[None]:
    """Around a replay: Ctrl-C (or an error) in the middle removes the containers the header names."""
    try:
        yield
    except BaseException:
        remove_containers(commands, out, docker_host)
        raise
