"""Importing a containerlab topology (`nslab run FILE.clab.yml`, `source FILE.clab.yml`): a topology
written by hand from containerlab's documentation (tests/data/hand-written.clab.yml, not by
nslab) replays in an isolated lab and its exec addresses answer iputils ping; a kind nslab cannot
replay is refused by name with nothing made; `save` after an import writes an ordinary .lab.
A linux node labelled `nslab.container: "true"` becomes a real Docker container (tests/dockerkit.py:
under CI=true a missing engine fails), judged by Docker's own listing and iputils ping."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import dockerkit
import pytest
from conftest import ip_j, iputils_ping, nslab_cli
from dockerkit import docker
from labworlds import lab_world

from nslab.lab import Lab

HAND = Path(__file__).parent / "data" / "hand-written.clab.yml"
docker_image = dockerkit.docker_image


def replay(lab: Lab, path: Path) -> None:
    for out in lab.run_file(str(path)):
        assert out.ok, f"{out.step.text if out.step else ''}: {out.error}"


def test_a_hand_written_topology_replays_and_its_addresses_answer(lab):
    replay(lab, HAND)
    assert sorted(n for n in lab.nss.names()) == ["client1", "client2", "router", "server"]
    ports = {x["ifname"]: x.get("master") for x in ip_j(lab, "host", "link", "show")}
    assert ports["eth1"] == ports["eth2"] == ports["eth3"] == "br-clab"  # BRIDGE:iface ends
    addrs = {a["local"] for x in ip_j(lab, "router", "addr", "show", "eth2") for a in x["addr_info"]}
    assert "10.0.0.1" in addrs
    assert iputils_ping(lab, "client1", "192.168.10.12")  # across the bridge
    assert iputils_ping(lab, "client2", "192.168.10.1")
    assert iputils_ping(lab, "router", "10.0.0.2")  # the point-to-point link
    # server's exec route and router's sysctl: server reaches a client through the router, back needs
    # the client's route, which the topology does not give, so only the router answers for it
    assert iputils_ping(lab, "server", "192.168.10.1")
    assert not iputils_ping(lab, "server", "192.168.10.11")
    routes = ip_j(lab, "server", "route", "show", "192.168.10.0/24")
    assert routes and routes[0]["gateway"] == "10.0.0.1"


def test_exec_lines_are_nslab_steps_or_programs_and_a_shell_only_when_needed(lab):
    replay(lab, HAND)
    steps = {s.text: s for s in lab.journal.steps}
    assert "router addr add eth2 10.0.0.1/30" in steps  # an `ip` line: nslab's own, undoable
    assert "router sysctl net.ipv4.ip_forward 1" in steps
    programs = {s.text: s.program for s in lab.journal.steps if s.program}
    # needs no shell: sh is the program, argv-split (its quoted | is sh's own business)
    assert ["sh", "-c", "ip -o link | grep -q eth1"] in programs.values()
    # needs one (a | outside quotes): through sh -c, and the narration says so
    piped = [s for s in lab.journal.steps if s.program == ["sh", "-c", "ip -o addr show dev eth1 | grep -q 192.168.10.12"]]
    assert len(piped) == 1 and piped[0].program_ns == "client2" and piped[0].outcome == "ok"
    assert "through sh -c: the line needs a shell ('|')" in piped[0].narration
    assert len(programs) == 2


def test_undo_and_save_after_an_import(tmp_path):
    with Lab() as first:
        replay(first, HAND)
        want = lab_world(first)
        assert first.run(f"save {tmp_path}/saved.lab").ok
        assert first.run("undo 3").ok  # the server's route and address went with them
        assert not ip_j(first, "server", "route", "show", "192.168.10.0/24")
    saved = (tmp_path / "saved.lab").read_text()
    assert "ns add client1 client2 router server" in saved and "bridge br-clab add eth1" in saved
    with Lab() as again:
        replay(again, tmp_path / "saved.lab")  # an ordinary .lab: the same lab again
        assert lab_world(again) == want


def test_source_of_a_topology_runs_it_in_the_session(lab):
    out = lab.run(f"source {HAND}")
    assert out.ok, out.error
    assert iputils_ping(lab, "client1", "192.168.10.1")


REFUSED = textwrap.dedent("""\
    name: mixed
    topology:
      nodes:
        client:
          kind: linux
          image: alpine:3
          exec:
            - ip addr add 10.0.0.2/24 dev eth1
        srl:
          kind: nokia_srlinux
          image: ghcr.io/nokia/srlinux
      links:
        - endpoints: ["client:eth1", "srl:e1-1"]
    """)


def test_an_unsupported_kind_is_refused_by_name_and_nothing_is_made(tmp_path):
    path = tmp_path / "mixed.clab.yml"
    path.write_text(REFUSED)
    proc = nslab_cli("run", str(path))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    said = proc.stdout + proc.stderr
    assert "kind nokia_srlinux needs containerlab itself" in said
    assert f"{path}:10" in said  # where: the node's line
    assert "Traceback" not in said
    with Lab() as lab:
        out = lab.run(f"source {path}")
        assert not out.ok and "nokia_srlinux needs containerlab itself" in out.error
        assert lab.nss.names() == []  # nothing half-made: not even client's namespace


def test_a_link_type_nslab_cannot_make_and_a_bad_endpoint_are_refused(tmp_path):
    path = tmp_path / "bad.clab.yml"
    path.write_text(textwrap.dedent("""\
        name: bad
        topology:
          nodes:
            a: {kind: linux}
          links:
            - type: vxlan
              endpoint: {node: a, interface: eth1}
            - endpoints: ["a:eth1", "nowhere:eth1"]
        """))
    with Lab() as lab:
        out = lab.run(f"source {path}")
        assert not out.ok
        assert "link type vxlan needs containerlab itself" in out.error
        assert lab.nss.names() == []


def test_nslab_run_replays_a_topology_from_the_command_line():
    proc = nslab_cli("run", str(HAND))
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "through sh -c" not in proc.stderr  # said in the narration (run --step), not as a complaint


def test_yaml_that_is_not_a_topology_says_where(tmp_path):
    broken = tmp_path / "broken.clab.yml"
    broken.write_text("name: x\ntopology:\n  nodes:\n    a: {kind: linux\n")
    with Lab() as lab:
        out = lab.run(f"source {broken}")
        assert not out.ok and f"{broken}:" in out.error and "not a containerlab topology" in out.error
    bad_name = tmp_path / "bad-name.clab.yml"
    bad_name.write_text("name: x\ntopology:\n  nodes:\n    host: {kind: linux}\n")
    with Lab() as lab:
        out = lab.run(f"source {bad_name}")
        assert not out.ok and "node host: host is the lab's own namespace" in out.error
        assert f"{bad_name}:4" in out.error


# written by hand: one linux node asked as a container through containerlab's own node labels
# (containerlab only puts them on its container), two left as namespaces; WEB is unique to this
# pytest process, as Docker's container names are the machine's
MIXED = textwrap.dedent("""\
    name: mixed
    topology:
      defaults:
        kind: linux
      nodes:
        {web}:
          image: nslab/busybox:latest
          labels:
            nslab.container: "true"
          exec:
            - ip addr add 10.61.0.2/24 dev eth1
            - ip route add default via 10.61.0.1
        gw:
          image: alpine:3
          labels:
            nslab.container: "false"
          exec:
            - ip addr add 10.61.0.1/24 dev eth1
            - ip addr add 10.62.0.1/24 dev eth2
            - sysctl -w net.ipv4.ip_forward=1
        db:
          image: alpine:3
          exec:
            - ip addr add 10.62.0.2/24 dev eth1
            - ip route add default via 10.62.0.1
      links:
        - endpoints: ["{web}:eth1", "gw:eth1"]
        - endpoints: ["gw:eth2", "db:eth1"]
    """)


@pytest.fixture
def web(docker_image: str) -> Iterator[str]:
    """The container node's name; the container of that name is removed when the test ends, should
    the lab have left it (only this test's: the name carries pytest's PID)."""
    name = f"web{os.getpid()}"
    yield name
    docker("rm", "-f", name, check=False)


def mixed(tmp_path: Path, web: str, text: str = MIXED) -> Path:
    path = tmp_path / "mixed.clab.yml"
    path.write_text(text.replace("{web}", web))
    return path


def labelled(name: str) -> list[str]:
    """Docker's listing of the running container NAME carrying nslab's lab label: its image and label."""
    out = docker("ps", "--filter", f"name=^{name}$", "--filter", "label=nslab.lab",
                 "--format", '{{.Image}} {{.Label "nslab.lab"}}').stdout
    return out.split()


def test_a_node_asked_as_a_container_runs_in_docker_and_reset_removes_it(lab, web, tmp_path):
    replay(lab, mixed(tmp_path, web))
    texts = [s.text for s in lab.journal.steps]
    assert "ns add gw db" in texts and f"container run {web} nslab/busybox:latest" in texts  # default: namespaces
    image, label = labelled(web)
    assert image == "nslab/busybox:latest" and label.startswith("isolated:")
    cid = docker("inspect", "-f", "{{.Id}}", web).stdout.strip()
    assert docker("ps", "-q", "--filter", "name=^gw$").stdout == docker("ps", "-q", "--filter", "name=^db$").stdout == ""
    assert dockerkit.addrs(web, "eth1") == ["10.61.0.2/24"]  # the exec line, as the container's ip sees it
    assert iputils_ping(lab, "gw", "10.61.0.2")
    assert iputils_ping(lab, "db", "10.61.0.2")  # through gw's forwarding and web's default route
    assert iputils_ping(lab, web, "10.62.0.2")
    assert dockerkit.ping(web, "10.62.0.2")  # Docker runs the container's own ping
    out = lab.run("reset")
    assert out.ok, out.error
    assert docker("ps", "-aq", "--filter", f"id={cid}").stdout.strip() == ""
    assert lab.nss.names() == []


def test_save_after_a_container_import_writes_container_run_and_the_labs_end_removes_it(web, tmp_path):
    text = MIXED.replace("    image: nslab/busybox:latest\n", '    cmd: "sleep 900"\n', 1)  # no image: nslab's
    with Lab() as first:
        replay(first, mixed(tmp_path, web, text))
        assert labelled(web)[0] == "nslab/busybox:latest"
        assert docker("inspect", "-f", "{{json .Config.Cmd}}", web).stdout.strip() == '["sleep","900"]'
        want = lab_world(first)
        assert first.run(f"save {tmp_path}/saved.lab").ok
        cid = docker("inspect", "-f", "{{.Id}}", web).stdout.strip()
    assert docker("ps", "-aq", "--filter", f"id={cid}").stdout.strip() == ""
    saved = (tmp_path / "saved.lab").read_text()
    assert f"\ncontainer run {web} -- sleep 900\n" in saved and "ns add gw db\n" in saved
    with Lab() as again:
        replay(again, tmp_path / "saved.lab")  # an ordinary .lab
        assert lab_world(again) == want
        assert iputils_ping(again, "db", "10.61.0.2")
        assert labelled(web)[0] == "nslab/busybox:latest"


@pytest.mark.parametrize(("node", "said"), [
    ('    image: Alpine:Latest\n      labels: {nslab.container: "true"}',
     "node c1: expected an image name like nslab/busybox:latest (lowercase path, optional :tag), got 'Alpine:Latest'"),
    ('    labels: {nslab.container: "yes"}', "node c1: label nslab.container is \"true\" or \"false\", got 'yes'"),
    ('    kind: bridge\n      labels: {nslab.container: "true"}',
     "node c1: label nslab.container: only a linux node can be a container (this one is kind bridge)"),
    ('    kind: host\n      labels: {nslab.container: "true"}',
     "node c1: label nslab.container: only a linux node can be a container (this one is kind host)"),
])
def test_a_container_ask_nslab_cannot_follow_is_refused_up_front(tmp_path, node, said):
    path = tmp_path / "ask.clab.yml"
    path.write_text(f"name: ask\ntopology:\n  defaults: {{kind: linux}}\n  nodes:\n    ns1: {{}}\n    c1:\n  {node}\n")
    with Lab() as lab:
        out = lab.run(f"source {path}")
        assert not out.ok and said in out.error and f"{path}:7" in out.error, out.error  # the node's first key
        assert lab.nss.names() == []  # not even ns1, the valid node


def test_a_topology_wide_ask_is_for_its_linux_nodes(tmp_path):
    from nslab.lang.labfile import parse_file

    path = tmp_path / "wide.clab.yml"
    path.write_text("name: wide\ntopology:\n  defaults: {kind: linux, labels: {nslab.container: \"true\"}}\n"
                    "  nodes:\n    ns1: {labels: {nslab.container: \"false\"}}\n    br-w: {kind: bridge}\n"
                    "    c1: {cmd: sleep 60}\n")
    lab_file = parse_file(path)
    assert [c.text for c in lab_file.commands] == [
        "ns add ns1", "ns1 link lo up", "bridge add br-w", "container run c1 -- sleep 60"]
    assert lab_file.needs.what == ("docker", "image")  # checked before the first step: the default image too



def test_nslab_run_of_a_container_topology_removes_the_container_as_it_ends(web, tmp_path):
    path = mixed(tmp_path, web)
    proc = nslab_cli("run", str(path))
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert f"container {web} runs nslab/busybox:latest" in proc.stdout, proc.stdout
    assert docker("ps", "-aq", "--filter", f"name=^{web}$").stdout.strip() == ""  # the lab's end removed it
