"""Ownership by identity (issue 10, holes 3, 6 and 7).

- A namespace reached another way (`ns link` of a process in the host's namespace) is the
  lab's to read, not to change; pipework refuses a bridge the lab did not make and a
  container that shares the machine's namespace.
- A namespace or bridge the user deleted and made again under the same name is theirs:
  the guard, undo, reset and clean leave it and say so.
- reset finishes after objects vanished by hand, resumes after kill -9, and says what is
  left for clean.

Host mode acts on the pytest process's private root namespace (conftest.py); decoys are
made by `ip`, as somebody else on the machine would.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import nslab_cli
from dockerkit import docker, docker_image  # noqa: F401 - the session's image fixture
from test_safety_crash import (
    Decoys,
    count_lines,
    decoys_fixture,  # noqa: F401 - the shared `decoys` fixture
    host_links,
    ip,
    ipj,
    kill_when,
    netns_names,
    popen_nslab,
    star_lab,
)


def host(lab: str, text: str, *flags: str) -> subprocess.CompletedProcess:
    return nslab_cli("--host", "--lab", lab, "--no-color", *flags, "run", "-", input=text)


def isolated(text: str) -> subprocess.CompletedProcess:
    return nslab_cli("--no-color", "run", "-", input=text)


def name() -> str:
    return f"i{uuid.uuid4().hex[:6]}"


@pytest.fixture
def sleeper() -> Iterator[int]:
    """A process in this test's root namespace (the host-mode lab's `host`, the isolated lab's outside)."""
    proc = subprocess.Popen(["sleep", "300"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def forwarding() -> str:
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        return f.read().strip()


def tagged(lab: str) -> list[str]:
    return [m["ifname"] for m in ipj("link", "show") if m.get("ifalias") == f"nslab:{lab}"]


CHANGES = {
    "down": "hv link {va} down",
    "mtu": "hv link {va} mtu 1400",
    "addr": "hv addr add {va} 10.1.1.1/24",
    "route": "hv route add 10.5.0.0/16 dev {va}",
    "sysctl": "hv sysctl net.ipv4.ip_forward 1",
    "delete": "hv link del {va}",
    "enslave": "hv bridge {br} add {va}",
}


@pytest.mark.parametrize("mode", ["host", "isolated"])
@pytest.mark.parametrize("what", list(CHANGES))
def test_a_linked_host_namespace_is_only_read(decoys: Decoys, sleeper: int, mode: str, what: str) -> None:
    lab = name()
    before, fwd = decoys.state(), forwarding()
    line = CHANGES[what].format(va=decoys.va, br=decoys.br)
    text = f"ns link {sleeper} hv\nhv link ls\n{line}\n"
    try:
        r = host(lab, text) if mode == "host" else isolated(text)
        out = r.stdout + r.stderr
        assert r.returncode == 1, out
        assert "was not made by this lab" in out and "Traceback" not in out and "internal error" not in out, out
        assert decoys.va in out  # the listing read the linked namespace: reading is allowed
        assert decoys.state() == before and forwarding() == fwd
    finally:
        if mode == "host":
            nslab_cli("--host", "--lab", lab, "reset")


def test_interfaces_the_lab_made_in_a_linked_namespace_are_its_own(sleeper: int) -> None:
    lab = name()
    text = (f"ns link {sleeper} hv\nns add {lab}n\nveth hv:{lab}x {lab}n:eth0\n"
            f"hv link {lab}x up\nhv addr add {lab}x 10.66.0.1/24\n{lab}n addr add eth0 10.66.0.2/24\n"
            f"{lab}n link eth0 up\nexpect reach 10.66.0.2\n")
    try:
        r = host(lab, text)
        assert r.returncode == 0, r.stdout + r.stderr
        got = ipj("addr", "show", "dev", f"{lab}x")[0]
        assert "UP" in got["flags"] and any(a["local"] == "10.66.0.1" for a in got["addr_info"])
    finally:
        r = nslab_cli("--host", "--lab", lab, "reset")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{lab}x" not in {m["ifname"] for m in ipj("link", "show")}


def test_pipework_refuses_a_bridge_the_lab_did_not_make(decoys: Decoys, docker_image: str) -> None:  # noqa: F811
    lab, ctr = name(), f"nslab-id{uuid.uuid4().hex[:6]}"
    docker("run", "-d", "--name", ctr, "--network", "none", docker_image, "sleep", "600")
    try:
        before, links = decoys.state(), set(host_links())
        r = host(lab, f"pipework {decoys.br} {ctr} 10.44.0.2/24\n")
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "was not made by this lab" in out and decoys.br in out, out
        assert decoys.state() == before and set(host_links()) == links
        inside = docker("exec", ctr, "ip", "-o", "link").stdout
        assert "eth1" not in inside
    finally:
        docker("rm", "-f", ctr, check=False)
        nslab_cli("--host", "--lab", lab, "reset")


def machine_links(pid: int) -> list[str]:
    """The machine's own interfaces, read in the namespace of a process that shares it (not the
    test's private one)."""
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-j", "link", "show"], capture_output=True,
                         text=True, check=True).stdout
    return sorted(m["ifname"] for m in json.loads(out))


@pytest.mark.parametrize("mode", ["host", "isolated"])
def test_pipework_refuses_a_container_on_the_machines_own_network(docker_image: str, mode: str) -> None:  # noqa: F811
    # the container shares dockerd's namespace: the machine's. The refusal comes before any op,
    # and no gateway is given, so even a failure of this test would not touch a route.
    lab, ctr = name(), f"nslab-hn{uuid.uuid4().hex[:6]}"
    docker("run", "-d", "--name", ctr, "--network", "host", docker_image, "sleep", "600")
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", ctr).stdout)
    before = machine_links(pid)
    text = f"pipework br{lab[:6]} {ctr} 198.18.250.2/32\n"
    try:
        r = host(lab, text) if mode == "host" else isolated(text)
        out = r.stdout + r.stderr
        assert r.returncode == 1, out
        assert "shares this machine's own network namespace" in out and "--allow-host-changes" in out, out
        assert machine_links(pid) == before
    finally:
        for extra in set(machine_links(pid)) - set(before):  # only if the refusal failed: what it made, by name
            subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "link", "del", extra], capture_output=True)
        docker("rm", "-f", ctr, check=False)
        if mode == "host":
            nslab_cli("--host", "--lab", lab, "reset")


# ---- names re-created by the user between two steps --------------------------------------------------------

def ns_inode(ns: str) -> int:
    return os.stat(f"/run/netns/{ns}").st_ino


def test_objects_recreated_by_the_user_are_theirs() -> None:
    lab = name()
    n, br = f"{lab}n", f"{lab}b"
    r = host(lab, f"ns add {n}\nbridge add {br}\nveth {lab}h {n}:eth0\nbridge {br} add {lab}h\n{n} link lo up\n")
    assert r.returncode == 0, r.stdout + r.stderr
    # the user deletes the lab's namespace and bridge and makes their own under the same names
    ip("netns", "del", n)
    ip("netns", "add", n)
    ip("link", "del", br)
    ip("link", "add", br, "type", "bridge")
    theirs_ns, theirs_br = ns_inode(n), ipj("link", "show", "dev", br)[0]
    try:
        # the guard: their objects are not the lab's
        for line in (f"{n} link lo up", f"{n} sysctl net.ipv4.ip_forward 1", f"bridge del {br}", f"ns del {n}"):
            r = host(lab, line + "\n")
            assert r.returncode == 1 and "was not made by this lab" in r.stdout + r.stderr, (line, r.stdout + r.stderr)
        # undo and reset leave them, and say so
        r = nslab_cli("--host", "--lab", lab, "--no-color", "run", "-", input="undo\n")
        assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
        r = nslab_cli("--host", "--lab", lab, "--no-color", "reset")
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert f"{n} was re-created outside this lab; left as it is" in out, out
        assert f"{br} was re-created outside this lab; left as it is" in out, out
        assert ns_inode(n) == theirs_ns
        now = ipj("link", "show", "dev", br)[0]
        assert (now["ifindex"], now["ifname"]) == (theirs_br["ifindex"], theirs_br["ifname"])
        assert not tagged(lab)
        # clean, too, removes nothing of theirs
        r = nslab_cli("--host", "--lab", lab, "--no-color", "clean")
        assert r.returncode == 0 and "removed 0 objects" in r.stdout, r.stdout + r.stderr
        assert ns_inode(n) == theirs_ns and ipj("link", "show", "dev", br)[0]["ifindex"] == theirs_br["ifindex"]
    finally:
        subprocess.run(["ip", "netns", "del", n], capture_output=True)
        subprocess.run(["ip", "link", "del", br], capture_output=True)


def test_undo_of_ns_del_makes_it_the_labs_again() -> None:
    # undo re-creates a deleted namespace with a new inode: the lab knows it as its own after
    lab = name()
    n = f"{lab}n"
    r = host(lab, f"ns add {n}\nveth {lab}h {n}:eth0\nns del {n}\nundo\n{n} link eth0 up\n")
    assert r.returncode == 0, r.stdout + r.stderr
    r = nslab_cli("--host", "--lab", lab, "--no-color", "reset")
    assert r.returncode == 0 and "re-created" not in r.stdout, r.stdout + r.stderr
    assert n not in netns_names() and not tagged(lab)


# ---- reset finishes -----------------------------------------------------------------------------------------

def small_lab(lab: str, n: int = 4) -> str:
    lines = [f"bridge add {lab}b"]
    for i in range(n):
        lines += [f"ns add {lab}{i}", f"veth {lab}h{i} {lab}{i}:eth0", f"bridge {lab}b add {lab}h{i}",
                  f"{lab}{i} addr add eth0 10.55.0.{i + 1}/24", f"{lab}{i} link eth0 up"]
    return "\n".join(lines) + "\n"


def test_reset_goes_on_past_what_vanished_and_names_what_is_left() -> None:
    lab = name()
    links, spaces = set(host_links()), netns_names()
    r = host(lab, small_lab(lab))
    assert r.returncode == 0, r.stdout + r.stderr
    ip("netns", "del", f"{lab}0")  # deleted by hand
    ip("link", "set", f"{lab}b", "name", f"{lab}zz")  # renamed by hand: still the lab's (its tag)
    r = nslab_cli("--host", "--lab", lab, "--no-color", "reset")
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "Traceback" not in out, out
    assert "reset stopped" not in out
    assert f"interface {lab}zz" in out and "clean" in out, out
    gone = [line for line in out.splitlines() if "gone already" in line]
    assert f"namespace {lab}0 is gone already" in out and len(gone) == len(set(gone)), out  # each said once
    # everything else went
    assert netns_names() == spaces
    assert set(host_links()) - links == {f"{lab}zz"}
    r = nslab_cli("--host", "--lab", lab, "--no-color", "clean")
    assert r.returncode == 0 and f"link {lab}zz" in r.stdout, r.stdout + r.stderr
    assert set(host_links()) == links
    assert not os.path.exists(f"/run/nslab/{lab}")


def test_reset_of_a_lab_partly_removed_by_hand_finishes_and_removes_its_directory() -> None:
    lab = name()
    links, spaces = set(host_links()), netns_names()
    r = host(lab, small_lab(lab))
    assert r.returncode == 0, r.stdout + r.stderr
    ip("netns", "del", f"{lab}2")
    ip("link", "del", f"{lab}b")
    r = nslab_cli("--host", "--lab", lab, "--no-color", "reset")
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Traceback" not in out, out
    assert f"namespace {lab}2 is gone already" in out, out
    assert netns_names() == spaces and set(host_links()) == links
    assert not os.path.exists(f"/run/nslab/{lab}")
    again = nslab_cli("--host", "--lab", lab, "--no-color", "reset")
    assert again.returncode == 0 and "undid 0 steps" in again.stdout, again.stdout + again.stderr


@pytest.mark.parametrize("seed", [random.randrange(10**6) for _ in range(3)])
def test_a_reset_killed_midway_resumes(tmp_path: Path, seed: int) -> None:
    lab = name()
    links, spaces = set(host_links()), netns_names()
    path = star_lab(tmp_path / "star.lab", lab[:4] + "s", n=150)
    r = nslab_cli("--host", "--lab", lab, "run", "-q", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    journal = f"/run/nslab/{lab}/journal.jsonl"
    start = count_lines(journal)
    target = start + random.Random(seed).randint(1, 400)  # steps marked undone (of 751) when the kill comes
    print(f"seed {seed}: kill reset after {target - start} progress records")
    proc = popen_nslab("--host", "--lab", lab, "reset")
    kill_when(proc, lambda: count_lines(journal) >= target)
    assert netns_names() != spaces, "the kill came after the reset had finished"
    r = nslab_cli("--host", "--lab", lab, "--no-color", "reset")
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Traceback" not in out, out
    assert netns_names() == spaces
    assert set(host_links()) == links
    assert not os.path.exists(f"/run/nslab/{lab}")


def test_reset_after_run_was_killed_mid_step_leaves_nothing(tmp_path: Path) -> None:
    # the op log holds the step nslab died in: reset consults it as clean does
    lab = name()
    links, spaces = set(host_links()), netns_names()
    path = star_lab(tmp_path / "star.lab", lab[:4] + "k", n=200)
    oplog = f"/run/nslab/{lab}/ops.jsonl"
    target = random.Random().randint(50, 700)
    proc = popen_nslab("--host", "--lab", lab, "run", "-q", str(path))
    kill_when(proc, lambda: count_lines(oplog) >= target)
    assert netns_names() != spaces or set(host_links()) != links
    r = nslab_cli("--host", "--lab", lab, "--no-color", "reset")
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Traceback" not in out, out
    assert netns_names() == spaces and set(host_links()) == links
    assert not os.path.exists(f"/run/nslab/{lab}")


@pytest.mark.parametrize("line", ["link del {va}", "bridge del {br}", "ns del {ns}"])
def test_what_reset_puts_back_is_still_theirs(decoys: Decoys, line: str) -> None:
    # deleted with --allow-host-changes, put back by reset: it must not come back as the lab's,
    # or a later clean would delete somebody's interface or namespace
    lab = name()
    r = host(lab, line.format(va=decoys.va, br=decoys.br, ns=decoys.ns) + "\n", "--allow-host-changes")
    assert r.returncode == 0, r.stdout + r.stderr
    r = nslab_cli("--host", "--lab", lab, "--no-color", "reset")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not tagged(lab)
    assert ipj("-n", decoys.ns, "link", "show", "dev", "lo")[0].get("ifalias") in (None, "")
    after = decoys.state()
    r = nslab_cli("--host", "--lab", lab, "--no-color", "clean")
    assert r.returncode == 0 and "removed 0 objects" in r.stdout, r.stdout + r.stderr
    assert decoys.state() == after and after["ns"] and len(after["links"]) == 3
