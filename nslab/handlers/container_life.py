"""Handlers for the containers the lab starts itself: `container run`, `ls`, `stop`, `rm`.

`container run` is one op (nslab/ops/container_run.py): the container, labelled as this lab's,
and its namespace named at once, so `NAME link ls`, `veth NAME br0` and `pipework br0 NAME ...`
work on it; undo, `reset`, `clean` and an isolated lab's end remove it by its ID.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..base.errors import CommandError
from ..base.lazy import Lazy
from ..base.results import Message, Table
from ..engine.context import Ctx
from .build import _guard_ns_name

if TYPE_CHECKING:
    from ..ops import container_run as run_ops
    from ..services import docker_run
else:  # the Docker client is imported when a container command first runs
    run_ops, docker_run = Lazy("nslab.ops.container_run"), Lazy("nslab.services.docker_run")

DEFAULT_IMAGE = "nslab/busybox:latest"  # what `nslab image` builds (nslab/services/image.py)


def container_run(ctx: Ctx, name: str, image: str | None = None, network: str | None = None,
                  cmd: list[str] | None = None) -> Message:
    if network not in (None, "none"):
        raise CommandError(f"--network {network}: only `none` is supported (the container joins the lab "
                           f"through `pipework` or `veth {name} ...`, never through Docker's networks)")
    _guard_ns_name(ctx, name)
    if ctx.view.exists(name):
        raise CommandError(f"namespace {name!r} exists already")
    image = image or DEFAULT_IMAGE
    ctx.apply({"op": "ctr_run", "ns": name, "container": name, "image": image, "argv": list(cmd or [])})
    return Message(f"container {name} runs {image} with no network of its own; namespace {name} is its own", "ok")


def _label(ctx: Ctx) -> str | None:
    return None if ctx.lab is None else run_ops.lab_label(ctx.lab.kernel)


def _of_lab(ctx: Ctx, name: str) -> "docker_run.LabContainer":
    label = _label(ctx)
    found = [c for c in docker_run.of_lab(label)] if label is not None else []
    match = [c for c in found if c.name == name]
    if not match:
        raise CommandError(f"no container {name!r} started by this lab (`container ls` lists them)")
    return match[0]


def container_ls(ctx: Ctx) -> Table:
    label = _label(ctx)
    rows = [[c.name, c.id[:12], c.image, c.status, c.pid or "-", " ".join(c.argv)]
            for c in (docker_run.of_lab(label) if label is not None else [])]
    return Table("containers", ["name", "id", "image", "state", "pid", "command"], rows, key="containers")


def container_stop(ctx: Ctx, name: str) -> Message:
    if ctx.dry:
        return Message(f"container {name} would stop", "ok")
    c = _of_lab(ctx, name)
    docker_run.stop(c.id, _label(ctx) or "")
    return Message(f"container {name} stopped; `container rm {name}` or undo removes it", "ok")


def container_rm(ctx: Ctx, name: str) -> Message:
    if ctx.dry:
        ctx.apply({"op": "ctr_rm", "ns": name, "container": name, "id": "", "label": "", "image": DEFAULT_IMAGE})
        return Message(f"container {name} removed", "ok")
    c = _of_lab(ctx, name)
    ctx.apply({"op": "ctr_rm", "ns": name, "container": name, "id": c.id, "label": _label(ctx), "image": c.image,
               "argv": c.argv})
    return Message(f"container {name} removed, and the name {name}", "ok")
