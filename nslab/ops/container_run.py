"""Ops for containers the lab starts (`container run`, `container rm`): one op starts the
container and names its namespace; its inverse removes both.

A container is the lab's by a label with the lab's identity (host mode: the Kernel's tag,
`nslab:NAME`; an isolated lab: its process, by PID and start time) and is removed by its ID
while it carries that label.  An isolated lab removes the ones still running as it ends.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..kernel import outside
from ..services import docker as containers
from ..services import docker_run, reap
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


def _running(kernel: "Kernel") -> dict[str, str]:
    """An isolated lab's containers still running (ID -> label), removed as the lab ends; should the
    process die first (`kill -9`), the helper outside removes them by the label (kernel/outside.py).
    Asked before the first container is made, so none can be made that it would not know of."""
    found: dict[str, str] | None = getattr(kernel, "lab_containers", None)
    if found is None:
        found = {}
        kernel.lab_containers = found  # type: ignore[attr-defined]
        if kernel.tag is None:
            key = f"containers:{id(kernel)}"
            outside.at_death_run(key, reap.argv(lab_label(kernel)))
            kernel.on_close.append(lambda: _remove_all(found, key))
    return found


def _remove_all(found: dict[str, str], key: str) -> None:
    from ..base.errors import CommandError

    left = False
    for cid, label in list(found.items()):
        try:
            docker_run.remove(cid, label)
        except CommandError:
            left = True  # the engine went away: the helper tries once more after the lab
        found.pop(cid, None)
    if not left:
        outside.forget(key)


def apply_ctr_run(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    label = lab_label(kernel)
    running = _running(kernel)
    c = docker_run.run(op["container"], op["image"], list(op.get("argv") or []), label)
    start = containers.start_time(c.pid)
    try:
        apply_ns_link(kernel, {"op": "ns_link", "ns": op["ns"], "pid": c.pid, "start": start,
                               "container": c.name}, False)
    except Exception:
        docker_run.remove(c.id, label)
        raise
    running[c.id] = label
    op.update(id=c.id, pid=c.pid, start=start, label=label)  # the journal keeps which container it was
    return [{"op": "ctr_rm", "ns": op["ns"], "container": op["container"], "id": c.id, "label": label,
             "image": op["image"], "argv": op.get("argv") or []}]


def apply_ctr_rm(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    # the container first: its namespace then lives only through the name, whose veths go with it
    docker_run.remove(op["id"], op["label"])
    _running(kernel).pop(op["id"], None)
    if kernel.nss.exists(op["ns"]) and is_link(kernel.nss, op["ns"]):
        apply_ns_unlink(kernel, {"op": "ns_unlink", "ns": op["ns"]}, False)
    # undoing `container rm` runs a new container of the same name, image and command
    return [{"op": "ctr_run", "ns": op["ns"], "container": op["container"], "image": op["image"],
             "argv": op.get("argv") or []}]


def ctr_run_lines(op: Op) -> list[str]:
    run = command("docker", "run", "-d", "--name", op["container"], "--network", "none",
                  "--label", f"{docker_run.LAB_LABEL}={op.get('label') or 'nslab'}", op["image"],
                  *(op.get("argv") or docker_run.KEEP_RUNNING))
    pid = Expand(f'"$({command("docker", "inspect", "-f", "{{.State.Pid}}", op["container"])})"')
    return [run + " >/dev/null", command("ip", "netns", "attach", op["ns"], pid)]


def ctr_rm_lines(op: Op) -> list[str]:
    return [command("docker", "rm", "-f", op["container"]) + " >/dev/null",
            command("ip", "netns", "del", op["ns"])]


def ctr_run_words(op: Op) -> str:
    return f"+ container {op['container']} ({op['image']}), namespace {op['ns']}"


def ctr_rm_words(op: Op) -> str:
    return f"- container {op['container']} and its namespace name {op['ns']}"
