"""Handlers for the containers the lab starts itself: `container run`, `ls`, `stop`, `rm`.

`container run` is one op (nslab/ops/container_run.py): the container, labelled as this lab's,
and its namespace named at once, so `NAME link ls`, `veth NAME br0` and `pipework br0 NAME ...`
work on it; undo, `reset`, `clean` and an isolated lab's end remove it by its ID.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError
from ..base.lazy import Lazy
from ..base.results import Message, Table
from ..engine.context import Ctx
from .build import _guard_ns_name

if TYPE_CHECKING:
    from ..ops import container_run as run_ops
    from ..services import docker_run, engine
else:  # the Docker client is imported when a container command first runs
    run_ops, docker_run = Lazy("nslab.ops.container_run"), Lazy("nslab.services.docker_run")
    engine = Lazy("nslab.services.engine")

DEFAULT_IMAGE = "nslab/busybox:latest"  # what `nslab image` builds (nslab/services/image.py)


NETWORKS = ("none", "lab")


def container_run(ctx: Ctx, name: str, image: str | None = None, network: str | None = None,
                  cmd: list[str] | None = None) -> Message:
    if network not in (None, *NETWORKS):
        raise CommandError(f"--network {network}: the modes are none (the default: a namespace of the engine's, "
                           f"joined to the lab through `pipework` or `veth {name} ...`) and lab (Podman: inside "
                           f"the lab's namespace {name}); never the engine's own networks")
    _guard_ns_name(ctx, name)
    image = image or DEFAULT_IMAGE
    op = {"ns": name, "container": name, "image": image, "argv": list(cmd or [])}
    if network == "lab":
        return _in_lab_ns(ctx, name, image, op)
    if ctx.view.exists(name):
        raise CommandError(f"namespace {name!r} exists already")
    ctx.apply({"op": "ctr_run", **op})
    return Message(f"container {name} runs {image} with no network of its own; namespace {name} is its own", "ok")


def _in_lab_ns(ctx: Ctx, name: str, image: str, op: dict[str, Any]) -> Message:
    """`--network lab`: in namespace NAME of the lab's (made now when missing, and then undone with
    the container), on Podman only; Docker is refused before anything is made."""
    if not ctx.dry:  # a dry run asks no engine: the model takes it on trust, as it does `container run`
        which = engine.connect(getattr(ctx.lab, "docker_host", None))[0]
        run_ops.refuse_lab_network(which, name)
        op["engine"] = which.url
    made = not ctx.view.exists(name)
    if not made:
        if ctx.view.is_link(name):
            raise CommandError(f"namespace {name} is a link to another process's namespace, not the lab's own: "
                               f"--network lab runs a container in a namespace `ns add` made")
        ctx.guard.namespace(name)
        ctx.view.require(name)
    else:
        ctx.apply({"op": "ns_add", "ns": name})
    ctx.apply({"op": "ctr_run_lab", **op})
    how = "made now" if made else "the lab's"
    return Message(f"container {name} runs {image} inside namespace {name} ({how}); undo removes the container"
                   + (" and the namespace" if made else ""), "ok")


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
    columns = ["name", "id", "image", "state", "pid", "network", "command"]
    if label is None:  # a dry run: no engine to ask
        return Table("containers", columns, [], key="containers")
    which = engine.connect(ctx.lab.docker_host)
    rows = [[c.name, c.id[:12], c.image, c.status, c.pid or "-", c.network, " ".join(c.argv)]
            for c in docker_run.of_lab(label, which)]
    return Table(f"containers ({which[0]})", columns, rows, key="containers")


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
    which = engine.connect(getattr(ctx.lab, "docker_host", None))[0]
    lab_ns = c.network == "lab"
    ctx.apply({"op": "ctr_rm_lab" if lab_ns else "ctr_rm", "ns": name, "container": name, "id": c.id,
               "label": _label(ctx), "image": c.image, "argv": c.argv, "engine": which.url,
               **({"engine_kind": which.kind} if which.kind != engine.DOCKER else {})})
    return Message(f"container {name} removed" + (f"; namespace {name} stays the lab's" if lab_ns
                                                  else f", and the name {name}"), "ok")
