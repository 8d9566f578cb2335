"""Podman through its Docker-compatible API: found when no Docker engine answers, named in `ns ls`,
and everything container-related works on it as on Docker; `container run --network lab`.

A private Podman service (tests/podmankit.py); the oracles are Podman's own client
(`podman --remote ps/inspect/images`), the kernel (`ip -j` and iputils ping by nsenter, nsfs
inodes) and /run/netns, never nslab.
"""

from __future__ import annotations

import os
import subprocess

import dockerkit
import podmankit
import pytest
from conftest import ip_j, nslab_cli
from podmankit import Podman

from nslab.base.results import Table
from nslab.lab import Lab
from nslab.services import engine

podman, on_podman = podmankit.podman, podmankit.on_podman
docker_image = dockerkit.docker_image


@pytest.fixture(scope="module")
def podman_image(podman: Podman) -> str:
    """`nslab image` itself, through Podman's API (image import): Podman's `images` is the oracle."""
    r = nslab_cli("image", env=podman.env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"(podman at {podman.url})" in r.stdout, r.stdout
    listed = podman.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "docker.io/nslab/busybox:latest" in listed, listed  # Podman's name for a short name
    r = nslab_cli("image", "--if-missing", env=podman.env())
    assert r.returncode == 0 and "present (podman at" in r.stdout, r.stdout
    return "nslab/busybox:latest"


def table(lab: Lab, line: str) -> Table:
    out = lab.run(line)
    assert out.ok, (line, out.error)
    return next(e for e in out.events if isinstance(e, Table))


def pid_of(pm: Podman, name: str) -> int:
    return int(pm.inspect(name, "{{.State.Pid}}"))


def nsenter_ping(pid: int, target: str) -> bool:
    """iputils ping in the container's network namespace, entered by nsenter."""
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "ping", "-n", "-q", "-c", "1", "-W", "2", target],
                          capture_output=True).returncode == 0


def inside(pid: int, *args: str) -> str:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", *args], capture_output=True, text=True,
                          check=True).stdout


def unique(stem: str) -> str:
    return f"pm-{stem}-{os.getpid()}"


def test_the_engine_is_found_in_order(on_podman: Podman, monkeypatch: pytest.MonkeyPatch):
    which, _ = engine.connect()
    assert which == engine.Engine("podman", on_podman.url)
    # no CONTAINER_HOST: a rootless Podman's place, $XDG_RUNTIME_DIR/podman/podman.sock
    monkeypatch.delenv("CONTAINER_HOST")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(on_podman.dir / "xdg"))
    assert engine.connect()[0] == engine.Engine("podman", on_podman.url)
    # DOCKER_HOST may name Podman's socket: what answers is told by its /version, not by the setting
    monkeypatch.setenv("DOCKER_HOST", on_podman.url)
    assert engine.connect()[0].kind == "podman"


def test_ns_ls_and_container_ls_name_podman(lab: Lab, on_podman: Podman, podman_image: str):
    outside = unique("outside")
    on_podman.cli("run", "-d", "--name", outside, "--network", "none", podman_image, "sleep", "600")
    pid = pid_of(on_podman, outside)
    rows = table(lab, "ns ls").rows
    assert ["(engine)", f"podman: {on_podman.url}", "-"] in rows, rows
    mine = [r for r in rows if str(r[0]).startswith(f"{outside} (pid {pid}, ")]
    assert len(mine) == 1 and mine[0][1] == "podman", rows
    assert table(lab, "container ls").title == f"containers (podman at {on_podman.url})"
    out = lab.run(f"ns link {outside} held")  # a container started outside nslab, named as on Docker
    assert out.ok, out.error
    assert os.stat("/run/netns/held").st_ino == os.stat(f"/proc/{pid}/ns/net").st_ino
    assert ["held", f"link to container {outside} (pid {pid})", 1] in table(lab, "ns ls").rows
    on_podman.cli("rm", "-f", "-t", "0", outside)


def test_container_run_veth_pipework_ping_and_undo(lab: Lab, on_podman: Podman, podman_image: str):
    a, b = unique("a"), unique("b")
    for line in (f"container run {a}", f"container run {b}", f"veth {a} {b}",
                 f"{a} addr add eth0 10.60.0.1/24", f"{b} addr add eth0 10.60.0.2/24",
                 f"{a} link eth0 up", f"{b} link eth0 up",
                 f"pipework br0 {a} 10.61.0.1/24", f"pipework br0 {b} 10.61.0.2/24"):
        out = lab.run(line)
        assert out.ok, (line, out.error)
    ids = [on_podman.inspect(n, "{{.Id}}") for n in (a, b)]
    assert set(ids) <= set(on_podman.ids("label=nslab.lab"))
    assert [on_podman.inspect(n, "{{.HostConfig.NetworkMode}}") for n in (a, b)] == ["none", "none"]
    pa, pb = pid_of(on_podman, a), pid_of(on_podman, b)
    assert os.stat(f"/run/netns/{a}").st_ino == os.stat(f"/proc/{pa}/ns/net").st_ino
    assert "10.61.0.2/24" in inside(pb, "-4", "-o", "addr", "show", "dev", "eth1")
    assert nsenter_ping(pa, "10.60.0.2") and nsenter_ping(pb, "10.60.0.1")  # over the veth
    assert nsenter_ping(pa, "10.61.0.2") and nsenter_ping(pb, "10.61.0.1")  # over br0
    assert {"br0", f"veth1pl{pa}", f"veth1pl{pb}"} <= {link["ifname"] for link in ip_j(lab, "host", "link")}
    steps = len(lab.journal.live())
    assert lab.undo(steps)
    for cid in ids:
        assert on_podman.ids(f"id={cid}") == []
    assert [link["ifname"] for link in ip_j(lab, "host", "link")] == ["lo"]
    assert not os.path.exists(f"/run/netns/{a}") and not os.path.exists(f"/run/netns/{b}")


def test_reset_and_the_labs_end_remove_only_the_labs_containers(lab: Lab, on_podman: Podman, podman_image: str):
    outside = unique("kept")
    on_podman.cli("run", "-d", "--name", outside, "--network", "none", podman_image, "sleep", "600")
    names = [unique(f"r{k}") for k in range(2)]
    for name in names:
        assert lab.run(f"container run {name}").ok
    ids = [on_podman.inspect(n, "{{.Id}}") for n in names]
    rows = table(lab, "container ls").rows
    assert sorted(r[0] for r in rows) == sorted(names) and {r[5] for r in rows} == {"none"}
    out = lab.run("reset")
    assert out.ok, out.error
    assert all(on_podman.ids(f"id={cid}") == [] for cid in ids)
    assert on_podman.inspect(outside, "{{.State.Running}}") == "true"
    on_podman.cli("rm", "-f", "-t", "0", outside)
    with Lab() as other:
        assert other.run(f"container run {names[0]}").ok
        cid = on_podman.inspect(names[0], "{{.Id}}")
    assert on_podman.ids(f"id={cid}") == []


def test_network_lab_runs_in_the_labs_namespace(lab: Lab, on_podman: Podman, podman_image: str):
    web = unique("web")
    for line in (f"ns add {web}", f"{web} addr add lo 10.62.0.1/32", f"{web} link lo up",
                 f"container run {web} --network lab"):
        out = lab.run(line)
        assert out.ok, (line, out.error)
    pid = pid_of(on_podman, web)
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{web}").st_ino
    assert on_podman.inspect(web, "{{.HostConfig.NetworkMode}}") == f"ns:/proc/{os.getpid()}/root/run/netns/{web}"
    assert "10.62.0.1/32" in inside(pid, "-4", "-o", "addr", "show", "dev", "lo")  # what ns add and addr made
    rows = table(lab, "container ls").rows
    assert [r[5] for r in rows if r[0] == web] == ["lab"]
    out = lab.run(f"container rm {web}")  # the container goes; the namespace stays, as `ns add` made it
    assert out.ok and out.events[0].text.endswith(f"namespace {web} stays the lab's"), out.events
    assert on_podman.ids(f"name=^{web}$") == [] and os.path.exists(f"/run/netns/{web}")
    assert lab.undo(1)  # undoing the rm runs it again, in the same namespace
    assert os.stat(f"/proc/{pid_of(on_podman, web)}/ns/net").st_ino == os.stat(f"/run/netns/{web}").st_ino
    assert lab.undo(1)
    assert on_podman.ids(f"name=^{web}$") == []
    addrs = [a["local"] for link in ip_j(lab, web, "addr") for a in link["addr_info"]]
    assert "10.62.0.1" in addrs
    # no namespace yet: the step makes it, and its undo removes both
    fresh = unique("fresh")
    out = lab.run(f"container run {fresh} --network lab -- sleep 300")
    assert out.ok, out.error
    pid = pid_of(on_podman, fresh)
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{fresh}").st_ino
    assert lab.run(f"veth v9 {fresh}").ok  # the lab's namespace, as any other
    assert " eth0@" in inside(pid, "-o", "link")  # the container sees the veth's end the lab put there
    out = lab.run(f"ns del {fresh}")  # the namespace would live on in the container
    assert not out.ok and out.error.startswith(f"container {fresh} runs in namespace {fresh} (container run "
                                               f"--network lab): `container rm {fresh}` first"), out.error
    assert os.path.exists(f"/run/netns/{fresh}")
    assert lab.undo(2)
    assert on_podman.ids(f"name=^{fresh}$") == [] and not os.path.exists(f"/run/netns/{fresh}")


def test_network_lab_from_an_isolated_nslab(on_podman: Podman, podman_image: str):
    """A separate isolated nslab: its /run/netns is private, and Podman reaches it through /proc/PID/root."""
    web = unique("iso")
    script = (f"ns add {web}\n"
              f"container run {web} --network lab\n"
              f"{web} sh -c 'readlink /proc/self/ns/net; "
              f"readlink /proc/$(podman --remote --url {on_podman.url} inspect -f {{{{.State.Pid}}}} {web})/ns/net'\n")
    r = nslab_cli("--no-color", "run", "-", input=script)
    assert r.returncode == 0, r.stdout + r.stderr
    seen = [line.strip() for line in r.stdout.splitlines() if line.strip().startswith("net:[")]
    assert len(seen) == 2 and seen[0] == seen[1], r.stdout
    assert on_podman.ids(f"name=^{web}$") == []  # the lab's end removed it


def test_host_clean_removes_the_labs_containers(on_podman: Podman, podman_image: str):
    """A host lab (this pytest process's own isolated root, tests/conftest.py): its containers
    outlive the nslab that started them, and `clean` removes them on the engine they were started on."""
    name, inlab, lab_name = unique("host"), unique("hin"), f"pmh{os.getpid()}"
    r = nslab_cli("--host", "--lab", lab_name, "run", "-",
                  input=f"container run {name}\nns add {inlab}\ncontainer run {inlab} --network lab\n")
    assert r.returncode == 0, r.stdout + r.stderr
    ids = [on_podman.inspect(n, "{{.Id}}") for n in (name, inlab)]
    try:
        assert on_podman.inspect(name, '{{index .Config.Labels "nslab.lab"}}') == f"nslab:{lab_name}"
        # a host lab's namespaces are the machine's /run/netns, which the service sees as it is
        assert on_podman.inspect(inlab, "{{.HostConfig.NetworkMode}}") == f"ns:/run/netns/{inlab}"
        assert os.stat(f"/proc/{pid_of(on_podman, inlab)}/ns/net").st_ino == os.stat(f"/run/netns/{inlab}").st_ino
        r = nslab_cli("--host", "--lab", lab_name, "clean")
        assert r.returncode == 0, r.stdout + r.stderr
        assert all(on_podman.ids(f"id={cid}") == [] for cid in ids)
        assert not os.path.exists(f"/run/netns/{name}") and not os.path.exists(f"/run/netns/{inlab}")
    finally:
        on_podman.cli("rm", "-f", "-t", "0", *ids, check=False)


def test_save_and_export_say_podman(lab: Lab, on_podman: Podman, podman_image: str, tmp_path):
    web = unique("save")
    assert lab.run(f"ns add {web}").ok and lab.run(f"container run {web} --network lab -- sleep 300").ok
    assert lab.run(f"save {tmp_path}/s.lab").ok and lab.run(f"export sh {tmp_path}/s.sh").ok
    assert f"container run {web} --network lab -- sleep 300\n" in (tmp_path / "s.lab").read_text()
    script = (tmp_path / "s.sh").read_text()
    assert f"podman run -d --name {web} --network ns:/run/netns/{web} --label nslab.lab=" in script, script


def test_network_lab_is_refused_on_docker(lab: Lab, docker_image: str):
    name = f"dk-lab-{os.getpid()}"
    out = lab.run(f"container run {name} --network lab")
    assert not out.ok
    assert out.error.startswith("--network lab: Docker (") and "cannot start a container in a network namespace it " \
        "did not make" in out.error and f"run `container run {name}` instead" in out.error, out.error
    assert not os.path.exists(f"/run/netns/{name}")  # nothing half-made
    assert dockerkit.docker("ps", "-aq", "--filter", f"name=^{name}$").stdout.strip() == ""
    assert lab.run(f"ns add {name}").ok
    out = lab.run(f"container run {name} --network lab")
    assert not out.ok and "cannot start a container in a network namespace" in out.error
    assert os.path.exists(f"/run/netns/{name}") and len(lab.journal.live()) == 1  # the namespace stays, as it was


def test_a_mode_that_is_none_of_them_is_refused(lab: Lab):
    out = lab.run("container run x --network host")
    assert not out.ok and out.error.startswith("--network host: the modes are none (the default") and \
        "lab (Podman" in out.error, out.error
    assert not os.path.exists("/run/netns/x")


def test_neither_engine_answers(podman: Podman, tmp_path):
    dead = podmankit._dead(tmp_path / "podman-dead.sock")
    env = {"DOCKER_HOST": podman.dead, "CONTAINER_HOST": dead}
    r = nslab_cli("--no-color", "run", "-", input="container run x1\n", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    words = " ".join(r.stdout.split())
    assert (f"no Docker engine answers: {podman.dead}: Connection refused (is dockerd running?); nor does Podman "
            f"({dead}: Connection refused (is `podman system service` running?))") in words, r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    r = nslab_cli("--no-color", "run", "-", input="ns add a\nns ls\n", env=env)
    assert r.returncode == 0 and "no Docker engine answers" in r.stdout, r.stdout
