"""Ops for containers and Open vSwitch (`ns link`, `pipework`): how each is applied, its
iproute2 lines and its words.  The op registry (nslab/ops/opkinds.py) declares them with the
rest; each apply function takes (kernel, op, inverse) and returns the ops that undo it,
like the Kernel's own methods.

A container's namespace is outside the lab (Docker made it), so ops name it by
container, PID and the process's start time; every op checks that this very
process still runs before it touches the namespace, so a reused PID is never
acted on.  `in_ctr` wraps an ordinary op (`addr_add`, `route_add`, ...) and
runs it inside the container's namespace with the lab's own Kernel code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..base.errors import CommandError, NslabError
from ..kernel.netns import HOST, Netns
from ..services import docker as containers
from ..services import ovs
from .shell_words import Expand, command, ip_words

if TYPE_CHECKING:
    from .apply import Kernel
    from .journal import Journal

Op = dict[str, Any]

# -- whose namespace -------------------------------------------------------
def owner(op: Op) -> str:
    """`container c1 (pid 123)` or `pid 123`, for messages."""
    return f"container {op['container']} (pid {op['pid']})" if op.get("container") else f"pid {op['pid']}"


def gone_message(op: Op, ns: str | None = None) -> str:
    what = f"namespace {ns} is linked to {owner(op)}" if ns else owner(op).capitalize()
    verb = "has stopped" if op.get("container") else "has exited"
    return f"{what} which {verb}" + ("; `undo` or `reset` removes the link" if ns else "")


def engine_kind(c: "containers.Container | None") -> Op:
    """An op's note of a Podman container (export sh asks `podman inspect`); Docker's ops carry none."""
    return {"engine_kind": c.engine} if c is not None and c.engine != "docker" else {}


def pid_shell(op: Op) -> str:
    """The PID as a shell script finds it again: through the engine for a container (a word bash expands)."""
    if op.get("container"):
        cli = str(op.get("engine_kind") or "docker")
        return Expand(f'"$({command(cli, "inspect", "-f", "{{.State.Pid}}", op["container"])})"')
    return str(op["pid"])


def open_ns(op: Op) -> int:
    """An fd on the op's process's network namespace; an error when that process is gone."""
    if not containers.alive(op["pid"], op.get("start")):
        raise CommandError(gone_message(op))
    try:
        fd = os.open(f"/proc/{op['pid']}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise CommandError(f"cannot open the namespace of {owner(op)}: {e.strerror}") from None
    if not containers.alive(op["pid"], op.get("start")):  # the PID was reused meanwhile
        os.close(fd)
        raise CommandError(gone_message(op))
    return fd


# -- ns link -----------------------------------------------------------------
class LinkCheck:
    """Called before every use of a linked name: raises once its process has exited."""

    def __init__(self, op: Op) -> None:
        self.op = op

    @property
    def alive(self) -> bool:
        return containers.alive(self.op["pid"], self.op.get("start"))

    def __call__(self) -> None:
        if not self.alive:
            raise CommandError(gone_message(self.op, self.op["ns"]))


def register_link(nss: Any, op: Op) -> None:
    nss.checks[op["ns"]] = LinkCheck(op)


def link_row(nss: Any, name: str) -> list[Any] | None:
    """The `ns ls` row of a linked name (None when the name is the lab's own namespace)."""
    check = getattr(nss, "checks", {}).get(name)
    if not isinstance(check, LinkCheck):
        return None
    if not check.alive:
        return [name, f"link to {owner(check.op)}: STOPPED", "-"]
    try:
        count: Any = len(containers.interfaces(check.op["pid"]))
    except OSError:
        count = "-"
    return [name, f"link to {owner(check.op)}", count]


def apply_ns_link(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    from ..kernel import sysns

    nss, name = kernel.nss, op["ns"]
    path = nss.path(name)
    if nss.exists(name):
        raise CommandError(f"namespace {name!r} exists already")
    fd = open_ns(op)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        try:
            # a bind mount, not pipework's symlink: it cannot dangle or follow a reused PID
            sysns.mount(f"/proc/self/fd/{fd}", path, None, sysns.MS_BIND)
        except OSError:
            os.unlink(path)
            raise
    finally:
        os.close(fd)
    register_link(nss, op)
    return [{"op": "ns_unlink", "ns": name}]


def apply_ns_unlink(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    nss, name = kernel.nss, op["ns"]
    if not nss.exists(name):
        raise CommandError(f"no namespace {name!r}")
    check = nss.checks.pop(name, None)
    if isinstance(check, LinkCheck) and not check.alive and not any(
            isinstance(other, LinkCheck) and (other.op["pid"], other.op.get("start")) == (check.op["pid"], check.op.get("start"))
            for other in nss.checks.values()):  # the last name of it: nothing else shows its veths any more
        _drop_veths(nss.path(name))
    nss.delete(name)
    # undoing `ns del` of a link names the same process's namespace again (its start time guards the PID)
    return [dict(check.op)] if inverse and isinstance(check, LinkCheck) else []


def _drop_veths(path: str) -> None:
    """A stopped container's namespace lives on only through the lab's bind mount; before it goes,
    its veths go now, so their ends in the lab's namespaces are gone when the step ends (the
    kernel would remove them later, as it frees the namespace)."""
    from ..kernel.rtnl import open_in

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        nl = open_in(fd)
        try:
            for link in nl.links():
                if link.kind == "veth":
                    nl.del_link(link.index)
        finally:
            nl.close()
    finally:
        os.close(fd)


def is_link(nss: Any, name: str) -> bool:
    return isinstance(getattr(nss, "checks", {}).get(name), LinkCheck)


def ns_link_lines(op: Op) -> list[str]:
    return [command("ip", "netns", "attach", op["ns"], pid_shell(op))]


def ns_link_words(op: Op) -> str:
    return f"+ namespace {op['ns']} -> {owner(op)}"


def ns_unlink_lines(op: Op) -> list[str]:
    return [command("ip", "netns", "del", op["ns"]) + "  # only the name: the namespace stays with its process"]


def ns_unlink_words(op: Op) -> str:
    return f"- namespace name {op['ns']}"


def relink(nss: Any, journal: "Journal") -> None:
    """Host mode, a later process: watch the links the journal still holds."""
    for step in journal.live():
        for op in step.ops:
            if op["op"] in ("ns_link", "ctr_run"):
                register_link(nss, op)
            elif op["op"] in ("ns_unlink", "ns_del"):
                nss.checks.pop(op["ns"], None)


# -- ops inside a container ----------------------------------------------------
class _OneNs:
    """Just enough of `Namespaces` for the Kernel to work inside one foreign namespace."""

    def __init__(self, fd: int) -> None:
        self.host = Netns(HOST, fd)
        self.run_dir = ""
        self.checks: dict[str, Callable[[], None]] = {}

    def get(self, name: str) -> Netns:
        if name != HOST:
            raise CommandError(f"no namespace {name!r} inside a container")
        return self.host

    def exists(self, name: str) -> bool:
        return name == HOST

    def names(self) -> list[str]:
        return []


def apply_in_ctr(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    if not inverse and not containers.alive(op["pid"], op.get("start")):
        return []  # undoing inside a stopped container: its namespace went with it
    one = _OneNs(open_ns(op))
    try:
        undo = type(kernel)(one, tag=kernel.tag).apply(op["inner"], inverse)  # type: ignore[arg-type]
    except CommandError as e:
        raise CommandError(f"in {owner(op)}: {e.message}") from None
    finally:
        one.host.close()
    base = {k: v for k, v in op.items() if k != "inner"}
    return [{**base, "inner": u} for u in undo]


def in_ctr_prefix(op: Op) -> str:
    """What runs an inner op's iproute2 line inside the container."""
    return command("nsenter", "-t", pid_shell(op), "-n")


def in_ctr(c: "containers.Container | None", pid: int, start: int | None, inner: Op) -> Op:
    return {"op": "in_ctr", "container": c.name if c else None, "pid": pid, "start": start, **engine_kind(c),
            "inner": {**inner, "ns": HOST}}


# -- a veth from the lab into a container --------------------------------------
def apply_ctr_veth(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    from ..kernel.rtnl import open_in

    fd = open_ns(op)
    try:
        kernel.nss.get(op["ns"]).nl.add_veth(op["name"], op["peer"], peer_fd=fd, mtu=op.get("mtu"))
        back = [{"op": "link_del", "ns": op["ns"], "name": op["name"]}]
        try:
            ids = kernel.made(op["ns"], op["name"], kernel._tag(op["ns"], op["name"]))
            # the guest end is the lab's to configure in the container: the guard knows it by identity
            inside = open_in(fd)
            try:
                guest = inside.index(op["peer"])
            finally:
                inside.close()
            if guest is not None:
                ids.append([f"pid:{op['pid']}", os.fstat(fd).st_ino, guest, op["peer"]])
            op["ids"] = ids
        except Exception:
            kernel.apply(back[0], inverse=False)
            raise
    finally:
        os.close(fd)
    return back


def ctr_veth_lines(op: Op) -> list[str]:
    mtu = ["mtu", op["mtu"]] if op.get("mtu") else []
    return [command(*ip_words(op["ns"]), "link", "add", "name", op["name"], *mtu, "type", "veth",
                    "peer", "name", op["peer"], *mtu, "netns", pid_shell(op))]


def ctr_veth_words(op: Op) -> str:
    return f"+ veth {op['name']} <-> {op['peer']} in {owner(op)}"


# -- Open vSwitch ----------------------------------------------------------------
def ovs_of(kernel: "Kernel") -> ovs.Ovs:
    """The OVS instance for this lab: the system's in host mode, a private one in an isolated lab."""
    inst = getattr(kernel, "ovs", None)
    if inst is not None:
        return inst
    if kernel.tag is not None:  # host mode (the Kernel tags what it makes only there)
        inst = ovs.system()
    else:
        rundir = os.path.join(kernel.nss.run_dir, f".ovs-{os.getpid()}-{id(kernel):x}")
        inst = ovs.start_private(rundir, kernel.nss.host.fd)
        kernel.on_close.append(lambda: _stop(inst))
    kernel.ovs = inst  # type: ignore[attr-defined]
    return inst


def _stop(inst: ovs.Ovs) -> None:
    import shutil

    inst.stop()
    shutil.rmtree(inst.rundir, ignore_errors=True)


def _host_only(op: Op) -> None:
    if op.get("ns", HOST) != HOST:
        raise CommandError(f"Open vSwitch bridges live in the lab's host namespace, not in {op['ns']}")


def apply_ovs_br_add(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    _host_only(op)
    ovs_of(kernel).add_br(op["name"])
    try:
        kernel._tag(HOST, op["name"])
    except (NslabError, OSError):
        pass  # the tag only helps host-mode `clean`; OVS made the port, not netlink
    return [{"op": "ovs_br_del", "ns": HOST, "name": op["name"]}]


def apply_ovs_br_del(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    _host_only(op)
    ovs_of(kernel).del_br(op["name"])
    return [{"op": "ovs_br_add", "ns": HOST, "name": op["name"]}]


def apply_ovs_port_add(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    _host_only(op)
    ovs_of(kernel).add_port(op["bridge"], op["name"], op.get("tag"))
    return [{"op": "ovs_port_del", "ns": HOST, "bridge": op["bridge"], "name": op["name"], "tag": op.get("tag")}]


def apply_ovs_port_del(kernel: "Kernel", op: Op, inverse: bool) -> list[Op]:
    _host_only(op)
    ovs_of(kernel).del_port(op["bridge"], op["name"])
    return [{"op": "ovs_port_add", "ns": HOST, "bridge": op["bridge"], "name": op["name"], "tag": op.get("tag")}]


def _tag_words(op: Op) -> str:
    return f" tag={op['tag']}" if op.get("tag") is not None else ""


def ovs_br_add_lines(op: Op) -> list[str]:
    return [command("ovs-vsctl", "add-br", op["name"], "--", "set", "bridge", op["name"], "datapath_type=netdev")]


def ovs_port_add_lines(op: Op) -> list[str]:
    tag = [f"tag={op['tag']}"] if op.get("tag") is not None else []
    return [command("ovs-vsctl", "add-port", op["bridge"], op["name"], *tag)]


def ovs_port_words(op: Op) -> str:
    if op["op"] == "ovs_port_add":
        return f"+ ovs port {op['name']} on {op['bridge']}{_tag_words(op)}"
    return f"- ovs port {op['name']} from {op['bridge']}"
