"""A private Podman API service for the Podman tests (never mocked).

`podman system service` on a socket under a temp dir, with its own storage (vfs: no mounts),
run root, tmp dir and network config there, started by this (isolated) pytest process and
stopped by its PID; its teardown removes the containers through the service, then checks that
no process of it is left (conmon, the containers), no mount and no netns file in /run/netns.
nslab is made to see no Docker engine by DOCKER_HOST naming a socket nobody listens on; the
service's socket is named by CONTAINER_HOST (or found at $XDG_RUNTIME_DIR/podman/podman.sock).

Settings this machine needs and a usual one does not: root here lacks CAP_SYS_RESOURCE, so the
container's open-file and process limits (Podman asks for 1048576) are set in containers.conf
to what the service itself may hold, and isolate's fresh /sys hides the cgroup mounts, so the
service runs with cgroups disabled, which takes crun (runc refuses it), over a tmpfs on
/sys/fs/cgroup in this test process's own mount namespace (crun checks that directory's type).  Under CI a missing podman is a failure, elsewhere a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dockerkit import CI

LIMIT = 8192  # open files and processes of the service and its containers (within this root's hard limits)


@dataclass
class Podman:
    dir: Path
    url: str
    pid: int
    dead: str  # a socket nobody answers on, for DOCKER_HOST

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.dead, "CONTAINER_HOST": self.url}

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """The oracle: Podman's own client, through the service."""
        return subprocess.run(["podman", "--remote", "--url", self.url, *args], capture_output=True, text=True,
                              check=check, timeout=60, env=dict(os.environ, CONTAINERS_CONF=self.conf))

    @property
    def conf(self) -> str:
        return str(self.dir / "containers.conf")  # the remote client's `run` reads it too (cgroups)

    def ids(self, *filters: str) -> list[str]:
        return self.cli("ps", "-aq", "--no-trunc", *(f"--filter={f}" for f in filters)).stdout.split()

    def inspect(self, name: str, fmt: str) -> str:
        return self.cli("inspect", "-f", fmt, name).stdout.strip()


def _answers(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    try:
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
        return b" 200 " in s.recv(200)
    except OSError:
        return False
    finally:
        s.close()


def _ours(d: Path) -> list[int]:
    """Processes whose command line names the service's directory: conmon, cleanup, the service."""
    out = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(d).encode() in f.read():
                    out.append(pid)
        except OSError:
            pass
    return out


def _dead(path: Path) -> str:
    """A unix socket file nobody listens on (bound, then closed): connecting is refused."""
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    return f"unix://{path}"


def _hard(resource: int) -> int:
    import resource as r

    return min(LIMIT, r.getrlimit(resource)[1])


def _start() -> Podman:
    import resource

    d = Path(tempfile.mkdtemp(prefix="nslab-pm-", dir="/tmp"))  # short: a socket path has 108 bytes
    nofile, nproc = _hard(resource.RLIMIT_NOFILE), _hard(resource.RLIMIT_NPROC)
    (d / "containers.conf").write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        'cgroups = "disabled"\n'
        "[engine]\n"
        'runtime = "crun"\n'  # runc refuses a container without cgroups
        "exit_command_delay = 0\n")
    sock = d / "xdg" / "podman" / "podman.sock"  # where a rootless Podman's socket would be
    sock.parent.mkdir(parents=True)
    argv = ["prlimit", f"--nofile={nofile}:{nofile}", f"--nproc={nproc}:{nproc}",  # prlimit execs podman: one PID
            "podman", "--root", str(d / "root"), "--runroot", str(d / "run"), "--tmpdir", str(d / "tmp"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "--network-config-dir", str(d / "net"), "system", "service", "--time=0", f"unix://{sock}"]
    log = open(d / "service.log", "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, CONTAINERS_CONF=str(d / "containers.conf")))
    log.close()
    for _ in range(150):
        if _answers(str(sock)):
            return Podman(d, f"unix://{sock}", proc.pid, _dead(d / "dead.sock"))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    text = (d / "service.log").read_text()[-2000:]
    shutil.rmtree(d, ignore_errors=True)
    pytest.fail(f"podman system service did not answer: {text}")


def _stop(pm: Podman) -> None:
    pm.cli("rm", "-af", "-t", "0", check=False)
    os.kill(pm.pid, 15)
    os.waitpid(pm.pid, 0)
    left = []
    for _ in range(100):  # a container's conmon ends as its container goes
        left = _ours(pm.dir)
        if not left:
            break
        time.sleep(0.1)
    for pid in left:
        os.kill(pid, 9)  # by PID: processes this service started
    mounts = [line for line in open("/proc/self/mounts") if str(pm.dir) in line]
    netns = podman_netns()
    shutil.rmtree(pm.dir, ignore_errors=True)
    assert not left, f"the Podman service left processes {left}"
    assert not mounts, mounts
    assert not netns, f"Podman left {netns} in /run/netns"


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    missing = [p for p in ("podman", "crun") if shutil.which(p) is None]
    if missing:
        if CI:
            pytest.fail(f"CI needs {' and '.join(missing)} (.ci/run installs them)")
        pytest.skip(f"no {' or '.join(missing)} here (apt-get install podman crun)")
    # isolate's fresh /sys has an empty /sys/fs/cgroup, whose type crun checks even without cgroups: a
    # tmpfs there (cgroup v1's layout, no controller) in this test process's own mount namespace only
    cgroup = "/sys/fs/cgroup"
    mounted = not os.path.ismount(cgroup)
    if mounted:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "nslab-test-cgroup", cgroup], check=True)
    try:
        pm = _start()
        try:
            yield pm
        finally:
            _stop(pm)
    finally:
        if mounted:
            subprocess.run(["umount", cgroup], check=True)


def podman_netns() -> list[str]:
    """Files Podman makes in /run/netns for the networks it manages (none for `none` or `ns:PATH`)."""
    return [n for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else []) if n.startswith("netns-")]


@pytest.fixture
def on_podman(podman: Podman, monkeypatch: pytest.MonkeyPatch) -> Iterator[Podman]:
    """nslab in this process (and the nslab commands it starts) sees no Docker engine, and Podman's socket.
    Checked as the test ends, before the lab fixture empties /run/netns: Podman made no file there."""
    for k, v in podman.env().items():
        monkeypatch.setenv(k, v)
    yield podman
    assert not podman_netns(), f"Podman left {podman_netns()} in /run/netns"
