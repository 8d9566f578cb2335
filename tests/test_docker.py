"""Containers' namespaces: `ns ls` lists them, `ns link` names them, a stopped one is reported.

Real containers (tests/dockerkit.py); the oracles are the kernel's own view
(namespace inodes, `ip` run by nsenter) and `docker exec`, not nslab.
"""

from __future__ import annotations

import os
import subprocess
import time

import dockerkit
import pytest
from conftest import nslab_cli
from dockerkit import docker, pid_of

from nslab.base.errors import CommandError
from nslab.base.results import Table
from nslab.lab import Lab
from nslab.services import docker as containers

# the fixtures this module uses
docker_image, container = dockerkit.docker_image, dockerkit.container


def ns_table(lab: Lab) -> list[list]:
    out = lab.run("ns ls")
    assert out.ok, out.error
    return next(e for e in out.events if isinstance(e, Table)).rows


def test_ns_ls_lists_running_containers(lab: Lab, container):
    c = container()
    pid = pid_of(c)
    rows = [r for r in ns_table(lab) if r[0].startswith(f"{c} ")]
    assert len(rows) == 1, ns_table(lab)
    assert f"pid {pid}" in rows[0][0] and rows[0][1] == "docker"
    full_id = docker("inspect", "-f", "{{.Id}}", c).stdout.strip()
    assert full_id[:12] in rows[0][0]


def test_ns_link_names_the_containers_own_namespace(lab: Lab, container):
    c = container()
    pid = pid_of(c)
    assert not os.path.exists(f"/run/netns/{c}")
    out = lab.run(f"ns link {c}")
    assert out.ok, out.error
    # the same namespace the container's process is in: same nsfs inode
    assert os.stat(f"/run/netns/{c}").st_ino == os.stat(f"/proc/{pid}/ns/net").st_ino
    # a bind mount, not pipework's symlink
    assert not os.path.islink(f"/run/netns/{c}")
    assert any(line.split()[4] == f"/run/netns/{c}" for line in open("/proc/self/mountinfo"))
    # `ip netns exec` now works inside the container: add something there and Docker sees it
    subprocess.run(["ip", "netns", "exec", c, "ip", "link", "set", "lo", "mtu", "1400"], check=True)
    assert "mtu 1400" in docker("exec", c, "ip", "link", "show", "lo").stdout
    assert [r for r in ns_table(lab) if r[0] == c][0][1] == f"link to container {c} (pid {pid})"
    # undo removes only the name: the container keeps running, its namespace intact
    assert lab.undo(1)
    assert not os.path.exists(f"/run/netns/{c}")
    assert containers.alive(pid, containers.start_time(pid))
    assert "mtu 1400" in docker("exec", c, "ip", "link", "show", "lo").stdout


def test_ns_link_by_pid_with_a_name(lab: Lab):
    proc = subprocess.Popen(["unshare", "-n", "sleep", "60"])
    mine = os.stat("/proc/self/ns/net").st_ino
    for _ in range(500):  # until unshare has moved it and exec'd sleep
        if os.stat(f"/proc/{proc.pid}/ns/net").st_ino != mine and open(f"/proc/{proc.pid}/comm").read() == "sleep\n":
            break
        time.sleep(0.01)
    try:
        assert lab.run(f"ns link {proc.pid} sleeper").ok
        assert os.stat("/run/netns/sleeper").st_ino == os.stat(f"/proc/{proc.pid}/ns/net").st_ino
        assert os.stat("/run/netns/sleeper").st_ino != os.stat("/proc/self/ns/net").st_ino
    finally:
        proc.kill()
        proc.wait()
    out = lab.run("sleeper link ls")
    assert not out.ok
    assert out.error == (f"namespace sleeper is linked to pid {proc.pid} which has exited; "
                         "`undo` or `reset` removes the link")


def test_a_stopped_containers_link_is_reported_not_followed(lab: Lab, container):
    c = container()
    pid = pid_of(c)
    assert lab.run(f"ns link {c} webns").ok
    docker("rm", "-f", c)
    # the bind mount keeps the namespace, but nslab refuses to act on it
    for line in ("webns link ls", "veth v0 webns", "webns addr add lo 10.1.1.1/32", "enter webns"):
        out = lab.run(line)
        assert not out.ok, line
        assert out.error.startswith(f"namespace webns is linked to container {c} (pid {pid}) which has stopped"), out.error
    assert [r for r in ns_table(lab) if r[0] == "webns"][0][1].endswith("STOPPED")
    assert not os.path.exists("/sys/class/net/v0")
    assert lab.undo(1)
    assert not os.path.exists("/run/netns/webns")


def test_a_reused_pid_is_not_the_same_process(lab: Lab, container):
    c = container()
    pid = pid_of(c)
    start = containers.start_time(pid)
    assert containers.alive(pid, start)
    # an op with another start time stands for a PID the kernel gave to someone else
    with pytest.raises(CommandError, match="has stopped"):
        lab.kernel.apply({"op": "ns_link", "ns": "reused", "pid": pid, "start": start + 1, "container": c})
    assert not os.path.exists("/run/netns/reused")


def test_ns_link_errors(lab: Lab, container):
    out = lab.run("ns link nslab-no-such-container")
    assert not out.ok and out.error.startswith("no container 'nslab-no-such-container' (docker at "), out.error
    c = container()
    assert lab.run("ns add taken").ok
    out = lab.run(f"ns link {c} taken")
    assert not out.ok and out.error == "namespace 'taken' exists already"
    docker("stop", "-t", "0", c)
    out = lab.run(f"ns link {c}")
    assert not out.ok and out.error == f"container {c!r} is not running"


def test_without_an_engine_the_rest_works(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    r = nslab_cli("--no-color", "run", "-", input="ns add a\nns ls\nexpect ns a\n", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no Docker engine" in r.stdout
    r = nslab_cli("--no-color", "run", "-", input="pipework br1 c1 10.0.0.2/24\n", env=env)
    assert r.returncode == 1
    assert "no Docker engine answers" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
