"""Ops for containers the lab starts (`container run`, `container rm`): one op starts the
container and names its namespace; its inverse removes both.  `ctr_run_lab` (`--network lab`,
Podman only) starts one inside a namespace of the lab's, and its inverse `ctr_rm_lab` removes
only the container.

A container is the lab's by a label with the lab's identity (host mode: the Kernel's tag,
`nslab:NAME`; an isolated lab: its process, by PID and start time) and is removed by its ID
while it carries that label.  An isolated lab removes the ones still running as it ends.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError
from ..kernel import outside
from ..services import docker as containers
from ..services import docker_run, engine, reap
from .container_ops import apply_ns_link, apply_ns_unlink, is_link
from .shell_words import Expand, command

if TYPE_CHECKING:
    from .apply import Kernel

Op = dict[str, Any]


def lab_label(kernel: "Kernel") -> str:
    """This lab's identity on its containers."""
    if kernel.tag is not None:
        return kernel.tag
    pid = os.getpid()
    return f"isolated:{pid}:{containers.start_time(pid)}"


def _running(kernel: "Kernel") -> dict[str, tuple[str, str | None]]:
    """An isolated lab's containers still running (ID -> label, engine URL), removed as the lab ends;
    should the process die first (`kill -9`), the helper outside removes them by the label
    (kernel/outside.py).  Asked before the first container is made, so none can be made that it
    would not know of."""
    found: dict[str, tuple[str, str | None]] | None = getattr(kernel, "lab_containers", None)
    if found is None:
        found = {}
        kernel.lab_containers = found  # type: ignore[attr-defined]
        if kernel.tag is None:
            key = f"containers:{id(kernel)}"
            outside.at_death_run(key, reap.argv(lab_label(kernel)))
            kernel.on_close.append(lambda: _remove_all(found, key))
    return found


def _remove_all(found: dict[str, tuple[str, str | None]], key: str) -> None:
    left = False
    for cid, (label, url) in list(found.items()):
        try:
            docker_run.remove(cid, label, url)
        except CommandError:
            left = True  # the engine went away: the helper tries once more after the lab
        found.pop(cid, None)
    if not left:
        outside.forget(key)


def apply_ctr_run(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    label = lab_label(kernel)
    _running(kernel)  # the reaper knows of the lab before its first container
    which = engine.connect(url=op.get("engine"))
    c = docker_run.run(op["container"], op["image"], list(op.get("argv") or []), label, which)
    start = containers.start_time(c.pid)
    try:
        apply_ns_link(kernel, {"op": "ns_link", "ns": op["ns"], "pid": c.pid, "start": start,
                               "container": c.name, **_kind(which[0])}, False)
    except Exception:
        docker_run.remove(c.id, label, which[0].url)
        raise
    return _started(kernel, op, c, start, label, which[0])


def apply_ctr_run_lab(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    """A container in the lab's own namespace NS (Podman's --network ns:PATH): nothing is linked,
    the namespace stays the lab's; its undo removes only the container."""
    which = engine.connect(url=op.get("engine"))
    refuse_lab_network(which[0], op["ns"])
    kernel.nss.get(op["ns"])  # the lab's, and there
    label = lab_label(kernel)
    _running(kernel)  # the reaper knows of the lab before its first container
    c = docker_run.run(op["container"], op["image"], list(op.get("argv") or []), label, which,
                       netns=engine_path(kernel, op["ns"]))
    return _started(kernel, op, c, containers.start_time(c.pid), label, which[0])


def refuse_lab_network(which: "engine.Engine", ns: str) -> None:
    if which.kind != engine.PODMAN:
        raise CommandError(
            f"--network lab: Docker ({which.url}) cannot start a container in a network namespace it did not "
            f"make (its --network takes none, host, bridge, a network or container:NAME); run `container run "
            f"{ns}` instead (a namespace of Docker's, named {ns} at once) and join it to the lab with "
            f"`veth {ns} ...` or `pipework BRIDGE {ns} ...`, or use Podman, whose --network ns:PATH can")


def engine_path(kernel: "Kernel", ns: str) -> str:
    """Where the engine finds namespace NS: a host lab's /run/netns is the machine's, which a rootful
    Podman sees as it is; an isolated lab's is private to its mount namespace, reached from
    outside through this process's root (/proc/PID/root), read by the runtime as it starts the
    container (a restart after the lab has ended would not find it; nslab never restarts one)."""
    path = kernel.nss.path(ns)
    return path if kernel.tag is not None else f"/proc/{os.getpid()}/root{path}"


def lab_container_in(lab: Any, ns: str) -> str | None:
    """The container `--network lab` runs in namespace NS now: asked of the engine, checked by the
    namespace's inode (the kernel's word, not the journal's)."""
    from ..kernel.procns import inode_of_pid

    try:
        ino = os.stat(lab.nss.path(ns)).st_ino
        found = docker_run.of_lab(lab_label(lab.kernel))
    except (OSError, CommandError):
        return None  # no engine answers: nothing it runs can be asked about
    return next((c.name for c in found if c.network == "lab" and c.pid and inode_of_pid(c.pid) == ino), None)


def _kind(which: "engine.Engine") -> Op:
    """The engine's kind on an op, for export sh (`podman inspect`); Docker's ops stay as they were."""
    return {"engine_kind": which.kind} if which.kind != engine.DOCKER else {}


def _started(kernel: "Kernel", op: Op, c: "containers.Container", start: int | None, label: str,
             which: "engine.Engine") -> list[Op]:
    _running(kernel)[c.id] = (label, which.url)
    # the journal keeps which container it was, and on which engine (removed there, whichever answers later)
    op.update(id=c.id, pid=c.pid, start=start, label=label, engine=which.url, **_kind(which))
    return [{"op": "ctr_rm_lab" if op["op"] == "ctr_run_lab" else "ctr_rm", "ns": op["ns"],
             "container": op["container"], "id": c.id, "label": label, "image": op["image"],
             "argv": op.get("argv") or [], "engine": which.url, **_kind(which)}]


def apply_ctr_rm(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    # the container first: its namespace then lives only through the name, whose veths go with it
    docker_run.remove(op["id"], op["label"], op.get("engine"), op["container"])
    _running(kernel).pop(op["id"], None)
    lab_ns = op["op"] == "ctr_rm_lab"  # the lab's own namespace: it stays
    if not lab_ns and kernel.nss.exists(op["ns"]) and is_link(kernel.nss, op["ns"]):
        apply_ns_unlink(kernel, {"op": "ns_unlink", "ns": op["ns"]}, False)
    # undoing `container rm` runs a new container of the same name, image and command, on the same engine
    return [{"op": "ctr_run_lab" if lab_ns else "ctr_run", "ns": op["ns"], "container": op["container"],
             "image": op["image"], "argv": op.get("argv") or [], **({"engine": op["engine"]} if op.get("engine") else {})}]


def _cli(op: Op) -> str:
    return str(op.get("engine_kind") or "docker")


def ctr_run_lines(op: Op) -> list[str]:
    lab_ns = op["op"] == "ctr_run_lab"
    network = f"ns:/run/netns/{op['ns']}" if lab_ns else "none"  # the script's namespaces are the machine's
    run = command(_cli(op), "run", "-d", "--name", op["container"], "--network", network,
                  "--label", f"{docker_run.LAB_LABEL}={op.get('label') or 'nslab'}", op["image"],
                  *(op.get("argv") or docker_run.KEEP_RUNNING))
    if lab_ns:
        return [run + " >/dev/null"]
    pid = Expand(f'"$({command(_cli(op), "inspect", "-f", "{{.State.Pid}}", op["container"])})"')
    return [run + " >/dev/null", command("ip", "netns", "attach", op["ns"], pid)]


def ctr_rm_lines(op: Op) -> list[str]:
    rm = command(_cli(op), "rm", "-f", op["container"]) + " >/dev/null"
    return [rm] if op["op"] == "ctr_rm_lab" else [rm, command("ip", "netns", "del", op["ns"])]


def ctr_run_words(op: Op) -> str:
    if op["op"] == "ctr_run_lab":
        return f"+ container {op['container']} ({op['image']}) in namespace {op['ns']}"
    return f"+ container {op['container']} ({op['image']}), namespace {op['ns']}"


def ctr_rm_words(op: Op) -> str:
    if op["op"] == "ctr_rm_lab":
        return f"- container {op['container']} (namespace {op['ns']} stays)"
    return f"- container {op['container']} and its namespace name {op['ns']}"
