"""Open vSwitch through ovs-vsctl, with the userspace datapath.

This kernel has no openvswitch module, so every bridge is made with
`datapath_type=netdev`.  A netdev bridge reaches its ports by name in the
network namespace where ovs-vswitchd runs, so:

- host mode uses the system's OVS (socket in $OVS_RUNDIR, default
  /run/openvswitch), which lives in the real root namespace, as pipework does;
- an isolated lab starts its own ovsdb-server and ovs-vswitchd inside the
  lab's host namespace (files in a dot-directory of the lab's private
  /run/netns tmpfs; the daemons die with nslab by PR_SET_PDEATHSIG and are
  stopped by PID when the lab closes).  The real host's OVS is never touched.

`ovs-vsctl add-br` exits 0 even when the datapath could not be made, so
every new bridge's `error` column is read back.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable

from ..base.errors import CommandError
from ..kernel import sysns

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
SYSTEM_RUNDIR = "/run/openvswitch"
PR_SET_PDEATHSIG = 1


def installed() -> bool:
    return shutil.which("ovs-vsctl") is not None


class Ovs:
    """One OVS instance: its database socket, and its daemons when nslab started them."""

    def __init__(self, rundir: str, procs: list[subprocess.Popen[bytes]] | None = None) -> None:
        self.rundir = rundir
        self.procs = procs or []

    @property
    def db(self) -> str:
        return f"unix:{self.rundir}/db.sock"

    def vsctl(self, *args: str, wait: bool = True) -> str:
        argv = ["ovs-vsctl", f"--db={self.db}", "--timeout=10"] + ([] if wait else ["--no-wait"]) + list(args)
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        except FileNotFoundError:
            raise CommandError("Open vSwitch is not installed (no ovs-vsctl; apt-get install openvswitch-switch)") from None
        except subprocess.TimeoutExpired:
            raise CommandError(f"ovs-vsctl {' '.join(args)}: no answer from {self.db}") from None
        if p.returncode != 0:
            msg = (p.stderr.strip().splitlines() or ["failed"])[-1].removeprefix("ovs-vsctl: ")
            raise CommandError(f"ovs-vsctl {' '.join(args)}: {msg}")
        return p.stdout.strip()

    def bridges(self) -> list[str]:
        return self.vsctl("list-br").split()

    def bridge_of(self, port: str) -> str | None:
        try:
            return self.vsctl("port-to-br", port) or None
        except CommandError:
            return None

    def add_br(self, name: str) -> None:
        self.vsctl("add-br", name, "--", "set", "bridge", name, "datapath_type=netdev")
        err = self.vsctl("get", "interface", name, "error").strip('"')
        if err and err != "[]":
            try:
                self.vsctl("del-br", name)
            finally:
                raise CommandError(f"Open vSwitch could not make bridge {name}: {err}")

    def del_br(self, name: str) -> None:
        self.vsctl("del-br", name)

    def add_port(self, bridge: str, port: str, tag: int | None = None) -> None:
        args = ["add-port", bridge, port] + ([f"tag={tag}"] if tag is not None else [])
        self.vsctl(*args)
        err = self.vsctl("get", "interface", port, "error").strip('"')
        if err and err != "[]":
            self.vsctl("del-port", bridge, port)
            raise CommandError(f"Open vSwitch could not add port {port} to {bridge}: {err}")

    def del_port(self, bridge: str, port: str) -> None:
        self.vsctl("del-port", bridge, port)

    def stop(self) -> None:
        """Stop daemons nslab started (by PID), newest first; the system's are left alone."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()


def system() -> Ovs:
    """The machine's OVS (host mode, like pipework); a clear error when it is not there."""
    if not installed():
        raise CommandError("Open vSwitch is not installed (no ovs-vsctl; apt-get install openvswitch-switch)")
    rundir = os.environ.get("OVS_RUNDIR", SYSTEM_RUNDIR)
    if not os.path.exists(f"{rundir}/db.sock"):
        raise CommandError(f"Open vSwitch is not running (no {rundir}/db.sock; start it with `ovs-ctl start`)")
    return Ovs(rundir)


def _child_setup(netns_fd: int | None) -> Callable[[], None]:
    def setup() -> None:
        # die with nslab even on kill -9, so no daemon outlives an isolated lab
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.setsid()
        if netns_fd is not None:
            sysns.setns(netns_fd)

    return setup


def start_private(rundir: str, netns_fd: int | None = None, timeout: float = 10.0) -> Ovs:
    """ovsdb-server and ovs-vswitchd of our own, with every file in rundir, inside netns_fd."""
    for prog in ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl"):
        if shutil.which(prog) is None:
            raise CommandError(f"Open vSwitch is not installed (no {prog}; apt-get install openvswitch-switch)")
    os.makedirs(rundir, exist_ok=True)
    env = dict(os.environ, OVS_RUNDIR=rundir, OVS_DBDIR=rundir, OVS_LOGDIR=rundir, OVS_SYSCONFDIR=rundir,
               OVS_PKGDATADIR=os.path.dirname(SCHEMA))
    db = f"{rundir}/conf.db"
    subprocess.run(["ovsdb-tool", "create", db, SCHEMA], check=True, capture_output=True, env=env)
    pass_fds = (netns_fd,) if netns_fd is not None else ()
    common = {"env": env, "stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
              "preexec_fn": _child_setup(netns_fd), "pass_fds": pass_fds}
    ovs = Ovs(rundir)
    ovs.procs.append(subprocess.Popen(
        ["ovsdb-server", db, f"--remote=punix:{rundir}/db.sock", f"--pidfile={rundir}/ovsdb-server.pid",
         f"--log-file={rundir}/ovsdb-server.log", "--no-chdir"], **common))  # type: ignore[call-overload]
    try:
        _wait_for(f"{rundir}/db.sock", ovs, timeout)
        ovs.vsctl("init", wait=False)
        ovs.procs.append(subprocess.Popen(
            ["ovs-vswitchd", f"unix:{rundir}/db.sock", f"--pidfile={rundir}/ovs-vswitchd.pid",
             f"--log-file={rundir}/ovs-vswitchd.log", "--no-chdir"], **common))  # type: ignore[call-overload]
        _wait_for(f"{rundir}/ovs-vswitchd.pid", ovs, timeout)
    except BaseException:
        ovs.stop()
        raise
    return ovs


def _wait_for(path: str, ovs: Ovs, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        dead = [p for p in ovs.procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            log = os.path.join(ovs.rundir, "ovsdb-server.log")
            raise CommandError(f"Open vSwitch did not start ({path} missing; see {log})")
        time.sleep(0.01)
