"""`kill -9` of an isolated nslab leaves nothing: its programs die with it (PR_SET_PDEATHSIG), and the
helper it left outside its namespaces (nslab/kernel/outside.py) removes its containers, by the lab's
label and their IDs, and its programs' log directory.  A container started outside nslab stays.

Real Docker (tests/dockerkit.py); the oracles are `docker inspect` by container ID, /proc by PID
and start time, and the file system.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dockerkit
import pytest
from conftest import ROOT
from dockerkit import docker
from test_background import _argv, _children, running

from nslab.kernel import isolate
from nslab.services.docker import start_time

docker_image, container = dockerkit.docker_image, dockerkit.container


def exists(cid: str) -> bool:
    return docker("inspect", "-f", "{{.Id}}", cid, check=False).returncode == 0


def wait_for(what, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.05)
    return what()


@pytest.mark.parametrize("mode", ["run", "run -i"])
def test_kill_9_of_an_isolated_nslab_leaves_no_container_program_or_log_dir(mode: str, tmp_path: Path, container):
    outside = container()  # started by docker, not by nslab: it must keep running
    lab = tmp_path / "k.lab"
    names = [f"nslab-k{os.getpid()}-{mode[-1]}{k}" for k in range(2)]
    # plain `run` blocks in its last line; `run -i` opens the REPL on a pipe that stays open
    lab.write_text("".join(f"container run {n}\n" for n in names) + "ns add a\nexec -d a sleep 300\n"
                   + ("exec sleep 60\n" if mode == "run" else ""))
    env = dict(os.environ)
    env.pop(isolate.MARK, None)
    proc = subprocess.Popen([sys.executable, "-m", "nslab", "--no-color", *mode.split(), str(lab)], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ids: list[str] = []
    try:
        label = f"isolated:{proc.pid}:{start_time(proc.pid)}"  # the lab's identity on its containers

        def started() -> bool:
            ids[:] = docker("ps", "-q", "--no-trunc", "--filter", f"label=nslab.lab={label}").stdout.split()
            return len(ids) == 2 and bool(sleepers())

        def sleepers() -> list[int]:
            return [k for k in _children(proc.pid) if _argv(k)[:2] == ["sleep", "300"]]

        assert wait_for(started, 60), (ids, proc.poll())
        sleeper = sleepers()[0]
        sleeper_start = start_time(sleeper)
        log = os.readlink(f"/proc/{sleeper}/fd/1")  # the program's output: a file in the lab's log directory
        log_dir = os.path.dirname(log)
        assert os.path.basename(log_dir).startswith("nslab-programs-") and os.path.isdir(log_dir), log
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert wait_for(lambda: not any(exists(c) for c in ids)), [c for c in ids if exists(c)]
        assert wait_for(lambda: not running(sleeper, sleeper_start))
        assert wait_for(lambda: not os.path.exists(log_dir)), log_dir
        assert docker("inspect", "-f", "{{.State.Running}}", outside).stdout.strip() == "true"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        docker("rm", "-f", *ids, check=False)


def test_nslab_run_of_a_lab_without_containers_or_programs_forks_no_helper(tmp_path: Path):
    """The reaper costs a lab that needs none nothing: plain `nslab run` of namespaces and links has no
    child at all while it runs (the helper is forked only for files that start containers or programs)."""
    lab = tmp_path / "plain.lab"
    lab.write_text("ns add a b\nveth a b\nexec sleep 30\n")
    env = dict(os.environ)
    env.pop(isolate.MARK, None)
    proc = subprocess.Popen([sys.executable, "-m", "nslab", "run", str(lab)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: any(_argv(k)[:1] == ["sleep"] for k in _children(proc.pid)), 30)
        assert [_argv(k)[:1] for k in _children(proc.pid)] == [["sleep"]]  # the foreground sleep only
    finally:
        proc.kill()
        proc.wait()
