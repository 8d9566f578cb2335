"""`ns ls` keeps to the lab: the lab's namespaces and the caller's containers; other processes'
namespaces only with `--all`, and then only the caller's own unless root.  What cannot be read is
said in words, never as a Python exception."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dockerkit
import pytest
import wordskit
from conftest import ROOT

from nslab.base.results import Table
from nslab.kernel import procns
from nslab.services import docker as containers

NOBODY = wordskit.NOBODY
docker_image, container = dockerkit.docker_image, dockerkit.container
RAW = re.compile(r"Error\(|Errno|\(13,|Traceback|PermissionError|FileNotFoundError|ProcessLookupError")


def in_new_netns(*prefix: str) -> subprocess.Popen:
    """`sleep` in a network namespace of its own (with PREFIX, as another user); ours to kill by PID."""
    proc = subprocess.Popen([*prefix, "unshare", *(["-r"] if prefix else []), "-n", "sleep", "60"])
    for _ in range(100):  # until unshare has exec'd sleep in its new namespace
        with open(f"/proc/{proc.pid}/comm") as f:
            if f.read().strip() == "sleep":
                return proc
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("unshare never ran sleep")


def stop(proc: subprocess.Popen) -> None:
    proc.kill()  # by its PID: our own child
    proc.wait()


def rows(lab, line: str) -> list[list]:
    out = lab.run(line)
    assert out.ok, out.error
    return next(e for e in out.events if isinstance(e, Table)).rows


def test_another_process_namespace_only_with_all(lab):
    proc = in_new_netns()
    try:
        plain = rows(lab, "ns ls")
        assert not any(str(r[0]).startswith(f"pid {proc.pid} ") for r in plain), plain
        assert not any(r[1] == "process" or str(r[0]).startswith("pid ") for r in plain), plain  # no machine-wide list
        everything = rows(lab, "ns ls --all")
        assert [f"pid {proc.pid} (sleep)", "process", 1] in everything
        assert not any(re.match(r"pid \d+ \(kthreadd\)", str(r[0])) for r in everything), everything
    finally:
        stop(proc)


def test_the_lab_and_its_names_are_always_listed(lab):
    proc = in_new_netns()
    try:
        assert lab.run("ns add a1").ok and lab.run(f"ns link {proc.pid} held").ok
        plain = rows(lab, "ns ls")
        assert ["a1", "lab", 1] in plain
        assert any(r[0] == "held" and r[1] == f"link to pid {proc.pid}" for r in plain), plain
    finally:
        stop(proc)


def test_the_listing_keeps_to_one_users_processes():
    """The listing itself, with a uid filter: root's sleep and nobody's sleep, each in a namespace of its own."""
    mine, theirs = in_new_netns(), in_new_netns(*NOBODY)
    try:
        assert procns.owner_uid(theirs.pid) == 65534 and procns.owner_uid(mine.pid) == 0
        as_nobody = {p.pid for p in procns.other_namespaces(set(), uid=65534)}
        as_root_uid = {p.pid for p in procns.other_namespaces(set(), uid=0)}
        everyone = {p.pid for p in procns.other_namespaces(set())}
        assert theirs.pid in as_nobody and mine.pid not in as_nobody
        assert mine.pid in as_root_uid and theirs.pid not in as_root_uid
        assert {mine.pid, theirs.pid} <= everyone
        assert 2 not in everyone  # kthreadd stands for no namespace of its own
    finally:
        stop(mine)
        stop(theirs)


def test_what_cannot_be_read_is_said_in_words():
    proc = in_new_netns()
    stop(proc)
    assert procns.links_of(proc.pid) == "gone (the process ended)"
    assert procns.owner_uid(proc.pid) is None


def test_an_ordinary_user_sees_only_their_own_containers(lab, container):
    c = container()
    pid = dockerkit.pid_of(c)
    every = containers.container_rows(None, None)
    assert any(str(r[0]).startswith(f"{c} (pid {pid}") for r in every), every
    # the container's process runs as root: no row of it for uid 65534
    assert not any(str(r[0]).startswith(f"{c} ") for r in containers.container_rows(None, 65534))
    assert any(str(r[0]).startswith(f"{c} ") for r in rows(lab, "ns ls"))  # root's own


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A directory nobody can reach (pytest's tmp_path is under a 0700 directory of root's)."""
    d = Path(tempfile.mkdtemp(prefix="nslab-words-t"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_a_refused_docker_socket_is_said_in_words(open_tmp):
    """A socket nobody may use: the SDK's wrapped PermissionError becomes one sentence."""
    import socket

    path = open_tmp / "docker.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.listen(1)
    try:
        os.chmod(path, 0)
        r = subprocess.run([*NOBODY, wordskit.python(), "-c",
                            "import sys; sys.path[:0] = sys.argv[1:]\n"
                            "from nslab.services import docker as d\n"
                            f"print(d.container_rows('unix://{path}'))", str(ROOT), str(wordskit.site())],
                           capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    finally:
        s.close()
    assert r.returncode == 0, r.stderr
    assert "permission denied on the Docker socket" in r.stdout, r.stdout
    assert not RAW.search(r.stdout), r.stdout


# -- nslab itself, run by an ordinary user ------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _remove_site() -> Iterator[None]:
    yield
    wordskit.remove_site()


def as_nobody(lab_text: str, tmp: Path) -> subprocess.CompletedProcess:
    (tmp / "t.lab").write_text(lab_text)
    os.chmod(tmp / "t.lab", 0o644)
    return wordskit.nslab_as_nobody(tmp, "run", str(tmp / "t.lab"))


def test_an_ordinary_users_ns_ls(open_tmp):
    """nobody's rootless lab: root's process is never listed; nobody's own, started in the lab in a
    namespace of its own, only with --all; the Docker socket's refusal in words."""
    roots = in_new_netns()
    theirs = None
    try:
        r = as_nobody("ns add a\n"
                      "exec sh -c 'unshare -n sleep 60 </dev/null >/dev/null 2>&1 & echo child=$!; sleep 0.3'\n"
                      "ns ls\n"
                      "exec echo ---\n"
                      "ns ls --all\n", open_tmp)
        m = re.search(r"child=(\d+)", r.stdout)
        assert m, r.stdout + r.stderr
        theirs = int(m.group(1))
        assert r.returncode == 0, r.stdout + r.stderr
        before, after = r.stdout.split("\n---\n")
        assert re.search(r"│ a\s+│ lab\s+│ 1\s+│", before), r.stdout
        assert f"pid {theirs} " not in before and re.search(rf"│ pid {theirs} \(sleep\)\s+│ process\s+│ 1\s+│", after), r.stdout
        assert f"pid {roots.pid} " not in r.stdout  # root's: not the caller's
        assert not RAW.search(r.stdout + r.stderr), r.stdout + r.stderr
        if os.path.exists(containers.SOCKET) and os.stat(containers.SOCKET).st_mode & 0o007 == 0:
            assert "permission denied on the Docker socket" in before, before  # root:docker 0660 here
    finally:
        stop(roots)
        if theirs is not None:
            try:
                os.kill(theirs, 9)  # the sleep nobody's lab started, by the PID it printed
            except ProcessLookupError:
                pass
