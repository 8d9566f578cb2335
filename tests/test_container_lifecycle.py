"""Containers as members of the lab: a linked container removed from outside never jams the lab.

Real containers (tests/dockerkit.py); the oracles are Docker's own listing and the kernel's
(`ip -j link` in the lab's root namespace, /run/netns).
"""

from __future__ import annotations

import os
import subprocess
import sys

import dockerkit
import pytest
from conftest import LABS, ip_j
from dockerkit import docker

from nslab.lab import Lab
from nslab.services import docker as containers

docker_image, container = dockerkit.docker_image, dockerkit.container


def host_links(lab: Lab) -> list[str]:
    """The lab's root namespace as `ip -j link` shows it."""
    return [link["ifname"] for link in ip_j(lab, "host", "link")]


def wired_then_removed(lab: Lab, c: str) -> None:
    for line in (f"ns link {c} test", "bridge add br0", f"pipework br0 {c} 10.7.0.2/24", "veth v1 test"):
        out = lab.run(line)
        assert out.ok, (line, out.error)
    docker("rm", "-f", c)


def test_a_removed_container_leaves_every_other_command_working(lab: Lab, container):
    c = container()
    assert lab.run("ns add other").ok
    wired_then_removed(lab, c)
    for line in ("show", "link ls", "ns ls", "other link ls", "veth v2 other", "history"):
        out = lab.run(line)
        assert out.ok, (line, out.error)
    shown = lab.run("show")
    assert "gone" in " ".join(str(e) for e in shown.events), shown.events
    out = lab.run("test link ls")
    assert not out.ok and "which has stopped" in out.error


def test_ns_del_of_a_dead_link_removes_it_and_what_the_lab_made_there(lab: Lab, container):
    c = container()
    wired_then_removed(lab, c)
    out = lab.run("ns del test")
    assert out.ok, out.error
    assert not os.path.exists("/run/netns/test")
    assert "v1" not in host_links(lab)


def test_undo_of_a_dead_link_steps(lab: Lab, container):
    c = container()
    wired_then_removed(lab, c)
    out = lab.run("undo")
    assert out.ok, out.error
    assert "v1" not in host_links(lab)
    out = lab.run("undo 3")
    assert out.ok, out.error
    assert not os.path.exists("/run/netns/test")
    assert not [n for n in host_links(lab) if n.startswith("br0") or n.startswith("veth1pl")]


def test_reset_after_a_dead_link(lab: Lab, container):
    c = container()
    wired_then_removed(lab, c)
    out = lab.run("reset")
    assert out.ok, out.error
    assert not os.path.exists("/run/netns/test")
    assert host_links(lab) == ["lo"]


def lab_containers() -> list[str]:
    """IDs of every container carrying nslab's lab label, as Docker lists them."""
    return docker("ps", "-aq", "--no-trunc", "--filter", "label=nslab.lab").stdout.split()


def unique(stem: str) -> str:
    return f"nslab-{stem}-{os.getpid()}"


def test_container_run_pipework_and_two_undos_leave_nothing(lab: Lab, docker_image):
    before = lab_containers()
    name = unique("run")
    out = lab.run(f"container run {name}")
    assert out.ok, out.error
    cid = docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    assert cid in lab_containers() and cid not in before
    assert docker("inspect", "-f", "{{.HostConfig.NetworkMode}} {{.State.Running}}", name).stdout.split() == ["none", "true"]
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", name).stdout)
    assert os.stat(f"/run/netns/{name}").st_ino == os.stat(f"/proc/{pid}/ns/net").st_ino
    out = lab.run(f"pipework br0 {name} 10.9.0.2/24")
    assert out.ok, out.error
    assert "10.9.0.2/24" in dockerkit.addrs(name, "eth1")
    assert {"br0", f"veth1pl{pid}"} <= set(host_links(lab))
    assert lab.undo(1) and lab.undo(1)
    assert docker("ps", "-aq", "--filter", f"id={cid}").stdout.strip() == ""
    assert host_links(lab) == ["lo"]
    assert not os.path.exists(f"/run/netns/{name}")


def test_reset_removes_the_labs_containers_and_only_those(lab: Lab, container):
    outside = container()  # started by docker, not by nslab: it must keep running
    names = [unique(f"r{k}") for k in range(3)]
    for name in names:
        out = lab.run(f"container run {name}")
        assert out.ok, out.error
    ids = [docker("inspect", "-f", "{{.Id}}", n).stdout.strip() for n in names]
    assert lab.run(f"exec -d {names[0]} sleep 300").ok and lab.run("host sleep 301 &").ok
    programs = lab.run("ps").events[0].rows
    started = [(r[2], containers.start_time(r[2])) for r in programs]
    assert len(started) == 2 and all(containers.alive(*p) for p in started)
    listed = lab.run("container ls")
    assert listed.ok and sorted(r[0] for r in listed.events[0].rows) == sorted(names)
    out = lab.run("reset")
    assert out.ok, out.error
    for cid in ids:
        assert docker("ps", "-aq", "--filter", f"id={cid}").stdout.strip() == ""
    assert docker("inspect", "-f", "{{.State.Running}}", outside).stdout.strip() == "true"
    assert not [p for p in started if os.path.exists(f"/proc/{p[0]}")]  # stopped and reaped


def test_container_rm_and_errors(lab: Lab, docker_image):
    name = unique("rm")
    assert lab.run(f"container run {name}").ok
    out = lab.run(f"container run {name}")
    assert not out.ok and out.error == f"namespace {name!r} exists already"
    out = lab.run("container run x1 --network bridge")
    assert not out.ok and out.error.startswith("--network bridge: the modes are none (the default") and "lab (Podman" in out.error
    out = lab.run("container rm nslab-not-this-labs")
    assert not out.ok and out.error.startswith("no container 'nslab-not-this-labs' started by this lab")
    out = lab.run("container run x2 nslab/no-such-image:0")
    assert not out.ok and "no image 'nslab/no-such-image:0'" in out.error
    assert docker("ps", "-aq", "--filter", "name=^x2$").stdout.strip() == ""
    assert lab.run(f"container rm {name}").ok
    assert docker("ps", "-aq", "--filter", f"name=^{name}$").stdout.strip() == ""
    assert not os.path.exists(f"/run/netns/{name}")


def test_an_isolated_labs_end_removes_its_containers(docker_image):
    name = unique("end")
    with Lab() as lab:
        assert lab.run(f"container run {name}").ok
        cid = docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    assert docker("ps", "-aq", "--filter", f"id={cid}").stdout.strip() == ""


def test_save_and_export_keep_container_run(lab: Lab, docker_image, tmp_path):
    name = unique("save")
    assert lab.run(f"container run {name} -- sleep 300").ok
    assert lab.run(f"save {tmp_path}/s.lab").ok and lab.run(f"export sh {tmp_path}/s.sh").ok
    assert f"container run {name} -- sleep 300\n" in (tmp_path / "s.lab").read_text()
    script = (tmp_path / "s.sh").read_text()
    assert f"docker run -d --name {name} --network none --label nslab.lab=" in script, script
    assert f"ip netns attach {name} \"$(docker inspect -f '{{{{.State.Pid}}}}' {name})\"" in script, script


def test_a_lab_container_removed_from_outside_still_resets(lab: Lab, docker_image):
    name = unique("out")
    assert lab.run(f"container run {name}").ok
    assert lab.run(f"pipework br0 {name} 10.8.0.2/24").ok
    docker("rm", "-f", name)
    for line in ("show", "link ls", "container ls", "bridge ls"):
        out = lab.run(line)
        assert out.ok, (line, out.error)
    out = lab.run("reset")
    assert out.ok, out.error
    assert host_links(lab) == ["lo"] and not os.path.exists(f"/run/netns/{name}")


def test_host_clean_removes_the_labs_container_and_program(docker_image):
    from conftest import nslab_cli

    # `--host` acts on this pytest process's own isolated root namespace (tests/conftest.py)
    name, lab_name = unique("host"), f"hc{os.getpid()}"
    r = nslab_cli("--host", "--lab", lab_name, "run", "-", input=f"container run {name}\nexec -d sleep 300\n")
    assert r.returncode == 0, r.stdout + r.stderr
    cid = docker("inspect", "-f", "{{.Id}} {{index .Config.Labels \"nslab.lab\"}}", name).stdout.split()
    assert cid[1] == f"nslab:{lab_name}"
    pid = int(r.stdout.split("(pid ")[1].split(")")[0])
    start = containers.start_time(pid)
    assert containers.alive(pid, start)  # a host lab's program outlives the process that started it
    try:
        r = nslab_cli("--host", "--lab", lab_name, "run", "-", input="ps\n")
        assert r.returncode == 0 and "p1" in r.stdout and str(pid) in r.stdout and "running" in r.stdout, r.stdout
        r = nslab_cli("--host", "--lab", lab_name, "clean")
        assert r.returncode == 0, r.stdout + r.stderr
        assert docker("ps", "-aq", "--filter", f"id={cid[0]}").stdout.strip() == ""
        assert not os.path.exists(f"/run/netns/{name}")
        assert not containers.alive(pid, start) or open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    finally:
        docker("rm", "-f", cid[0], check=False)


@pytest.mark.parametrize("name", ["06-docker-netns", "07-container-on-lan", "08-pipework"])
def test_the_container_labs_replay_green_and_leave_no_container(name: str, docker_image):
    """`nslab run` of labs 06-08 holds every step and expect; once it ends, no container carries its label."""
    from conftest import ROOT

    from nslab.kernel import isolate

    env = dict(os.environ)
    env.pop(isolate.MARK, None)
    proc = subprocess.Popen([sys.executable, "-m", "nslab", "--no-color", "run", name], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    label = f"isolated:{proc.pid}:{containers.start_time(proc.pid)}"  # the lab's identity on its containers
    try:
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0 and "internal error" not in out, out
        assert out.splitlines()[-1].startswith("ok: "), out
        assert "container run" in (LABS / f"{name}.lab").read_text()
        assert docker("ps", "-aq", "--filter", f"label=nslab.lab={label}").stdout.strip() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for cid in docker("ps", "-aq", "--filter", f"label=nslab.lab={label}").stdout.split():
            docker("rm", "-f", cid)


def test_undoing_rm_then_run_leaves_no_container(lab: Lab, docker_image):
    """Undoing `container rm` starts it again under a new ID; undoing `container run` then removes that
    one (this lab's container of that name, by its label), not only the ID the run first noted."""
    name = unique("again")
    assert lab.run(f"container run {name}").ok and lab.run(f"container rm {name}").ok
    assert lab.undo(1)
    again = docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    assert again and again in lab_containers()
    assert lab.undo(1)
    assert docker("ps", "-aq", "--filter", f"id={again}").stdout.strip() == ""
    assert not os.path.exists(f"/run/netns/{name}")
